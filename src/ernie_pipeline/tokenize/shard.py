"""One segmented jsonl shard -> its token files (``<shard>_ids.npy`` + ``_idx.npz``) and stats (the
``token_ids_shard`` rule)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

import ernie_pipeline  # noqa: F401  (system zlib before paddle)
from ernie_pipeline.io.atomic import atomic_write
from ernie_pipeline.tokenize.token_files import IdsWriter
from ernie_pipeline.segment.corpus_jsonl import keeps_document
from ernie_pipeline.corpus.readers import jsonl_text
from ernie_pipeline.vocab.constants import ids_dtype
from ernie_pipeline.tokenize.encoder import DocumentEncoder
from ernie_pipeline.segment.settings import JsonlSettings
from ernie_pipeline.tokenize.settings import TokenizeSettings
from ernie_pipeline.tokenize.tokenizer import load_tokenizer, vocab_fingerprint


def _document_batches(path: Path, json_key: str, min_doc_length: int, batch_docs: int, counts: dict):
    """Batches of document texts longer than ``min_doc_length`` (upstream's filter in trans_to_json)."""
    batch: list[str] = []
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            counts["input_bytes"] += len(line)
            text = jsonl_text(line, json_key, path, number)
            counts["documents_read"] += 1
            if not keeps_document(text, min_doc_length):
                counts["dropped_short"] += 1
                continue
            batch.append(text)
            if len(batch) == batch_docs:
                yield batch
                batch = []
    if batch:
        yield batch


def tokenize_shard(jsonl_path: str | Path, tokenizer_source: str | Path, output_prefix: str | Path,
                   jsonl: JsonlSettings, *, stats_path: str | Path | None = None,
                   settings: TokenizeSettings = TokenizeSettings(), tables_path: str | Path | None = None,
                   batch_docs: int = 256) -> dict:
    """Tokenise the documents ``jsonl`` keeps of one segmented jsonl shard into ``<prefix>_ids.npy`` +
    ``<prefix>_idx.npz`` (streamed); return (and write to ``stats_path``) its counts and the vocabulary fingerprint.
    With ``tables_path`` (the ``tokenizer_tables`` artifact) paddlenlp is loaded only if needed."""
    jsonl_path = Path(jsonl_path)
    started = time.perf_counter()
    if tables_path is not None:
        from ernie_pipeline.tokenize.tables import TokenizerTables

        tables = TokenizerTables.load(tables_path)
        vocab_size, fingerprint = tables.vocab_size, tables.fingerprint
        encoder = DocumentEncoder(tokenizer_source, settings, tables)
    else:
        tokenizer = load_tokenizer(tokenizer_source)
        vocab_size, fingerprint = tokenizer.vocab_size, vocab_fingerprint(tokenizer)
        encoder = DocumentEncoder(tokenizer, settings)
    writer = IdsWriter(output_prefix, ids_dtype(vocab_size))
    counts = {"input_bytes": 0, "documents_read": 0, "dropped_short": 0}
    empty_positions: list[int] = []  # among the documents kept by length: where the merge leaves a gap
    setup_seconds = time.perf_counter() - started
    try:
        with tqdm(desc=f"token ids {jsonl_path.name}", unit="doc", mininterval=5) as progress:
            for texts in _document_batches(jsonl_path, jsonl.json_key, jsonl.min_doc_length, batch_docs, counts):
                ids, lens, sentences = encoder.encode(texts)
                empty_positions += (np.flatnonzero(sentences == 0) + progress.n).tolist()
                writer.add(ids, lens, sentences)
                progress.update(len(texts))
        written = writer.finalize(allow_empty=True)  # a skipped raw file's shard: no document, a valid pair
    except BaseException:
        writer.abort()
        raise
    seconds = time.perf_counter() - started - setup_seconds
    stats = {**counts, **written, "empty_documents": len(empty_positions), "empty_positions": empty_positions,
             "reference_documents": encoder.reference_documents, "engine": settings.engine,
             "vocab_size": vocab_size, "vocab_sha256": fingerprint}
    if stats_path is not None:  # without the timings, so that a rerun gives the same file
        with atomic_write(stats_path) as handle:
            json.dump(stats, handle, indent=1)
            handle.write("\n")
    return {**stats, "seconds": round(seconds, 3), "setup_seconds": round(setup_seconds, 3),
            "mb_per_s": round(counts["input_bytes"] / 1e6 / max(seconds, 1e-9), 3)}
