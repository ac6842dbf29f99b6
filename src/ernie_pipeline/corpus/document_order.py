"""The one document order of a dataset, shared by the corpus jsonl (stage 1, on request) and the token files
(stage 3): a seeded permutation of the documents that pass the length filter, memory-mapped (8 bytes a
document, pages the kernel can drop), with the documents that tokenised to nothing taken out for the token files
and those the clean stage removes left out of both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CHUNK_DOCS = 1 << 16  # documents per step of the memory-mapped arrays' computations


def seeded_permutation(documents: int, seed: int, path: str | Path) -> np.ndarray:
    """``np.random.RandomState(seed).permutation(documents)``, computed in a memory-mapped file at ``path``."""
    order = np.memmap(path, dtype=np.int64, mode="w+", shape=(max(documents, 1),))[:documents]
    for start in range(0, documents, CHUNK_DOCS):
        stop = min(start + CHUNK_DOCS, documents)
        order[start:stop] = np.arange(start, stop, dtype=np.int64)
    # a plain ndarray over the map takes RandomState's in-place fast path (the same draws as permutation())
    np.random.RandomState(seed).shuffle(order.view(np.ndarray))
    return order


def document_order(documents: int, shuffle: bool, seed: int, path: str | Path, absent: np.ndarray | None = None,
                   removed: np.ndarray | None = None) -> np.ndarray | None:
    """The one document order of a dataset, for the corpus jsonl and the token files alike.

    ``documents`` counts those that pass the length filter, in shard order; ``shuffle`` permutes them with
    ``seed`` (None: shard order). ``absent`` (sorted positions) are documents that tokenised to nothing: the
    token files hold the others, renumbered, in the same relative order, which is upstream's relation
    between the shuffled jsonl and the files tokenised from it. ``removed`` (sorted positions) are documents the
    clean stage removes: left out of the order, the others keeping their numbers and relative order (so cleaning
    changes no other document's place relative to the rest). Memory-mapped at ``path`` (and ``path.kept``)."""
    absent = np.zeros(0, np.int64) if absent is None else np.asarray(absent, np.int64)
    removed = np.zeros(0, np.int64) if removed is None else np.asarray(removed, np.int64)
    if not len(removed) and (not shuffle or not len(absent)):
        return seeded_permutation(documents, seed, path) if shuffle else None
    order = seeded_permutation(documents, seed, path) if shuffle else None
    left_out = np.union1d(absent, removed)
    kept = np.memmap(f"{path}.kept", dtype=np.int64, mode="w+", shape=(max(documents - len(left_out), 1),))
    written = 0
    for start in range(0, documents, CHUNK_DOCS):
        stop = min(start + CHUNK_DOCS, documents)
        chunk = np.asarray(order[start:stop]) if order is not None else np.arange(start, stop, dtype=np.int64)
        chunk = chunk[~isin_sorted(left_out, chunk)]
        renumbered = chunk - np.searchsorted(absent, chunk)  # absent documents ahead of each one: its shift down
        kept[written : written + len(renumbered)] = renumbered
        written += len(renumbered)
    if written != documents - len(left_out):
        raise ValueError(f"absent / removed positions {left_out[:5].tolist()}... are not positions below {documents}")
    return kept[:written]


def isin_sorted(sorted_values: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Which of ``values`` are in ``sorted_values`` (a sorted array)."""
    if not len(sorted_values):
        return np.zeros(len(values), bool)
    return sorted_values[np.minimum(np.searchsorted(sorted_values, values), len(sorted_values) - 1)] == values
