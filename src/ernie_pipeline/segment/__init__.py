"""Stage 1: raw documents -> sentences -> words (LAC, its Paddle-free engine, or jieba) -> segmented jsonl shards
(and, on request, upstream's merged corpus jsonl); the segmented documents' format and length filter
(``settings.JsonlSettings``, ``corpus_jsonl.keeps_document``) that the later stages read them by."""
