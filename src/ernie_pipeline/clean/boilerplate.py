"""Boilerplate: lines (segmented sentences, normalised) of at least ``boilerplate_min_line_chars`` characters that
occur in ``boilerplate_min_documents`` documents or more ("返回搜狐,查看更多责任编辑:", disclaimers, navigation).
A document is removed when such lines make up more than ``max_boilerplate_share`` of its characters: a page
that is mostly template, not an article that ends with one.

Lines are counted over the documents left after the per-document filters, decontamination and deduplication,
so the copies of one reposted article do not make its own sentences boilerplate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ernie_pipeline.clean.group import Shard
from ernie_pipeline.clean.grouping import Partitions, frequent_keys
from ernie_pipeline.corpus.document_order import isin_sorted
from ernie_pipeline.io.atomic import scratch_directory, write_arrays


def surviving_rows(shard: Shard, docs: dict[str, np.ndarray], duplicates: np.ndarray) -> np.ndarray:
    """The rows of a shard that no earlier rule removes (``duplicates``: sorted ids removed as copies)."""
    rows = np.flatnonzero(shard.eligible(docs))
    return rows[~isin_sorted(duplicates, shard.ids(rows))]


def boilerplate_lines(shards: list[Shard], duplicates: np.ndarray, min_documents: int, out_path: str | Path,
                      partition_mb: int) -> dict:
    """The sorted hashes of the boilerplate lines, as .npy."""
    with scratch_directory(out_path, "partitions") as scratch:
        expected = sum(s.lines() for s in shards)
        partitions = Partitions(scratch, expected, partition_mb << 20)
        try:
            for shard in shards:
                docs = shard.read_docs()
                alive = np.zeros(len(docs["chars"]), bool)
                alive[surviving_rows(shard, docs, duplicates)] = True
                lines = alive[docs["line_rows"]]
                partitions.add(docs["line_hashes"][lines], shard.ids(docs["line_rows"][lines]))
            frequent = frequent_keys(partitions, min_documents)
        finally:
            partitions.close()
    write_arrays(out_path, array=frequent)
    return {"lines": partitions.pairs, "boilerplate_lines": len(frequent)}


def boilerplate_share(docs: dict[str, np.ndarray], frequent: np.ndarray) -> np.ndarray:
    """Each document's share of characters in boilerplate lines."""
    common = isin_sorted(frequent, docs["line_hashes"])
    chars = np.bincount(docs["line_rows"][common], weights=docs["line_chars"][common], minlength=len(docs["chars"]))
    return chars / np.maximum(docs["chars"], 1)
