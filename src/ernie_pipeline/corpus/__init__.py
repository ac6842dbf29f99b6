"""The corpus (before stage 1): the raw formats and their readers (WuDao JSON, CLUECorpus, text, jsonl; .gz/.zst),
the bundled real sample, and the one seeded document order the corpus jsonl (stage 1) and the token files
(stage 3) share."""
