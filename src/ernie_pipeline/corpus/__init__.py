"""Stage 0-1 input: raw corpus readers (WuDao JSON, CLUECorpus, text, jsonl), the bundled real sample, and
the corpus jsonl (upstream's trans_to_json output) in the one document order the token files share."""
