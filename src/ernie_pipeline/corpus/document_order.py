"""The one document order of a dataset, shared by the corpus jsonl (stage 1, on request) and the token files
(stage 3): a seeded permutation of the documents that pass the length filter, memory-mapped (8 bytes a
document, pages the kernel can drop), with the documents that tokenised to nothing taken out for the token files.
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


def document_order(documents: int, shuffle: bool, seed: int, path: str | Path,
                   absent: np.ndarray | None = None) -> np.ndarray | None:
    """The one document order of a dataset, for the corpus jsonl and the token files alike.

    ``documents`` counts those that pass the length filter, in shard order; ``shuffle`` permutes them with
    ``seed`` (None: shard order). ``absent`` (sorted positions) are documents that tokenised to nothing: the
    token files hold the others, renumbered, in the same relative order, which is upstream's relation
    between the shuffled jsonl and the files tokenised from it. Memory-mapped at ``path`` (and
    ``path.kept``)."""
    if not shuffle:
        return None
    order = seeded_permutation(documents, seed, path)
    if absent is None or not len(absent):
        return order
    absent = np.asarray(absent, np.int64)
    kept = np.memmap(f"{path}.kept", dtype=np.int64, mode="w+", shape=(max(documents - len(absent), 1),))
    written = 0
    for start in range(0, documents, CHUNK_DOCS):
        chunk = np.asarray(order[start : start + CHUNK_DOCS])
        before = np.searchsorted(absent, chunk)  # absent documents ahead of each one: its shift down
        present = absent[np.minimum(before, len(absent) - 1)] != chunk
        renumbered = (chunk - before)[present]
        kept[written : written + len(renumbered)] = renumbered
        written += len(renumbered)
    if written != documents - len(absent):
        raise ValueError(f"absent positions {absent[:5].tolist()}... are not distinct positions below {documents}")
    return kept[:written]
