"""A dataset's token-id shards -> upstream's ``<prefix>_ids.npy`` + ``<prefix>_idx.npz`` (and optionally
Megatron's ``.bin/.idx``), documents in the corpus's one seeded order (the ``merge_token_ids`` rule)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import ernie_pipeline  # noqa: F401  (system zlib before paddle)
from ernie_pipeline.io.atomic import scratch_directory
from ernie_pipeline.data.token_files import merge_ids
from ernie_pipeline.corpus.document_order import document_order


def merge_shards(shard_prefixes: list[str | Path], shard_stats: list[str | Path], output_prefix: str | Path,
                 shuffle: bool = True, seed: int = 1234, megatron: bool = False, bucket_mb: int = 256) -> dict:
    """One dataset's token ids from its shards, in shard order or a seeded document permutation
    (the order upstream's ``shuf`` of the merged jsonl gave, reproducibly), with memory bounded by
    ``bucket_mb`` (see :mod:`ernie_pipeline.corpus.document_order`). Shards tokenised with another vocabulary
    are refused, naming the shard."""
    stats = [json.loads(Path(p).read_text(encoding="utf-8")) for p in shard_stats]
    reference = stats[0]["vocab_sha256"]
    for path, shard in zip(shard_stats, stats):
        if shard["vocab_sha256"] != reference:
            raise ValueError(f"{path}: tokenised with another vocabulary (sha256 {shard['vocab_sha256'][:12]}... "
                             f"vs {reference[:12]}... of {shard_stats[0]}); rerun its token_ids_shard job")
        if "empty_positions" not in shard:
            raise ValueError(f"{path}: made by an older version (no empty_positions); rerun its token_ids_shard job")
    if not any(s["documents"] for s in stats):
        raise ValueError(f"{output_prefix}: none of the {len(stats)} shards has a document to tokenise (every raw "
                         f"file skipped, or its documents at most min_doc_length characters); see {shard_stats[0]}")
    # the corpus jsonl's order over the documents kept by length, less those that tokenised to nothing
    kept = np.cumsum([0] + [s["documents"] + s["empty_documents"] for s in stats])
    absent = np.concatenate([np.asarray(s["empty_positions"], np.int64) + start for s, start in zip(stats, kept)])
    Path(output_prefix).parent.mkdir(parents=True, exist_ok=True)
    with scratch_directory(output_prefix, "order") as scratch:
        order = document_order(int(kept[-1]), shuffle, seed, f"{scratch}/order.int64", absent)
        merged = merge_ids(shard_prefixes, output_prefix, order, megatron, bucket_mb << 20)
        del order  # the map, before its file goes
    totals = {key: sum(s[key] for s in stats) for key in
              ("input_bytes", "documents_read", "dropped_short", "empty_documents", "reference_documents")}
    totals["shards_without_documents"] = sum(not s["documents"] for s in stats)
    return {**totals, **merged, "vocab_sha256": reference, "shuffle": shuffle, "seed": seed, "shards": len(stats)}
