"""Stage 4: what training samples are drawn from: the train/valid/test sample index maps (tool_helpers'
``build_mapping``) and blending indices over the token files, and the samples themselves (sentence-order pairs,
whole-word / n-gram masking: ``masking``, ``dataset``)."""
