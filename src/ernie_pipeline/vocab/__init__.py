"""Stage 2: the vocabulary (seed section 2, scheme 1): character counts, English BPE, merged vocab."""
