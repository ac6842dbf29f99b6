"""Stage 1: raw documents -> sentences -> words (LAC, its Paddle-free engine, or jieba) -> jsonl shards."""
