"""Exact and near duplicates: candidate pairs per key (the exact hash, each LSH band), then one job that verifies
them and groups them into clusters.

* ``clean_candidates`` (one job per key): every eligible document's key (:meth:`Shard.eligible`) partitioned to
  disk, equal keys linked to their smallest document (:func:`~ernie_pipeline.clean.grouping.equal_key_pairs`).
* ``clean_duplicates``: exact pairs are checked on the hash's other 64 bits, near pairs on their signatures (the
  share of permutations that agree estimates the Jaccard similarity of their shingle sets; kept at
  ``near_threshold`` or above); the connected components of the kept pairs are the clusters; each keeps its
  smallest document (the smallest (dataset, raw file path, record)). A removed document counts as ``exact`` when
  an exact copy of it has a smaller id, else as ``near``.

Memory: the grouping job holds the pairs and, per document that appears in one, its signature: it grows with
the duplicates, not with the corpus.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ernie_pipeline.clean.group import Shard
from ernie_pipeline.clean.grouping import Partitions, equal_key_pairs, runs, split_ids
from ernie_pipeline.clean.settings import REASON_CODE, CleanSettings
from ernie_pipeline.io.atomic import scratch_directory, write_arrays


def candidate_pairs(key: str, shards: list[Shard], out_path: str | Path, partition_mb: int) -> dict:
    """The pairs of one key (``exact`` or ``band_<b>``), as [m, 2] uint64 .npy (document, smallest document)."""
    documents = 0
    with scratch_directory(out_path, "partitions") as scratch:
        expected = sum(s.documents() for s in shards)
        partitions = Partitions(scratch, expected, partition_mb << 20)
        try:
            for shard in shards:
                docs = shard.read_docs("quality", "exact")
                eligible = np.flatnonzero(shard.eligible(docs))
                if key == "exact":
                    keys = docs["exact"][eligible, 0]
                else:
                    keys = np.load(shard.bands, mmap_mode="r")[int(key.removeprefix("band_"))][eligible]
                partitions.add(np.asarray(keys), shard.ids(eligible))
                documents += len(eligible)
            pairs = equal_key_pairs(partitions)
        finally:
            partitions.close()
    write_arrays(out_path, array=pairs)
    return {"key": key, "documents": documents, "pairs": len(pairs), "partitions": partitions.count}


def _gather(nodes: np.ndarray, shards: list[Shard], read) -> np.ndarray:
    """``read(shard, rows)`` for the shard of each block of ``nodes`` (sorted document ids), stacked in node
    order: each shard's file opened once, only its rows in ``nodes`` read."""
    datasets, shard_numbers, rows = split_ids(nodes)
    by_place = {(s.dataset_index, s.shard_index): s for s in shards}
    parts = []
    starts, lengths = runs(datasets * (1 << 24) + shard_numbers)
    for start, stop in zip(starts, starts + lengths):
        parts.append(read(by_place[(int(datasets[start]), int(shard_numbers[start]))], rows[start:stop]))
    return np.concatenate(parts) if parts else None


def _components(count: int, edges: np.ndarray) -> np.ndarray:
    """Each node's connected component (nodes 0..count-1, edges [m, 2] of node indices)."""
    graph = coo_matrix((np.ones(len(edges), np.int8), (edges[:, 0], edges[:, 1])), shape=(count, count))
    return connected_components(graph, directed=False)[1]


def _smallest_member(components: np.ndarray) -> np.ndarray:
    """Each node's component's smallest node index."""
    smallest = np.full(components.max() + 1 if len(components) else 0, len(components), np.int64)
    np.minimum.at(smallest, components, np.arange(len(components)))
    return smallest[components]


def find_duplicates(pair_files: dict[str, str | Path], shards: list[Shard], clean: CleanSettings,
                    out_path: str | Path) -> dict:
    """Verify and cluster the candidate pairs (``pair_files``: key -> .npy); write the removed documents' ids and
    reasons (``ids``, ``reasons``) to ``out_path`` (.npz); return the statistics (pairs per key, clusters and
    their sizes)."""
    pairs = {key: np.load(path, allow_pickle=False) for key, path in pair_files.items()}
    exact = pairs.pop("exact", np.zeros((0, 2), np.uint64))
    near = np.concatenate(list(pairs.values())) if pairs else np.zeros((0, 2), np.uint64)
    near = np.unique(near, axis=0) if len(near) else near  # a pair found by several bands once
    nodes = np.unique(np.concatenate([exact.ravel(), near.ravel()]))
    exact_idx = np.searchsorted(nodes, exact)
    near_idx = np.searchsorted(nodes, near)
    if len(exact):  # the hash's other half: a 64-bit collision is not a copy
        second = _gather(nodes, shards, lambda s, rows: s.read_docs("exact")["exact"][rows, 1])
        exact_idx = exact_idx[second[exact_idx[:, 0]] == second[exact_idx[:, 1]]]
    agreement = np.zeros(0)
    if len(near):
        signatures = _gather(nodes, shards, lambda s, rows: np.load(s.minhash, mmap_mode="r")[rows])
        agreement = np.concatenate([(signatures[near_idx[start:start + 65536, 0]] ==
                                     signatures[near_idx[start:start + 65536, 1]]).mean(axis=1)
                                    for start in range(0, len(near_idx), 65536)])
        del signatures
        near_idx = near_idx[agreement >= clean.near_threshold]
    clusters = _components(len(nodes), np.concatenate([exact_idx, near_idx]))
    keeper = _smallest_member(clusters)
    exact_first = _smallest_member(_components(len(nodes), exact_idx))
    removed = np.flatnonzero(keeper != np.arange(len(nodes)))
    reasons = np.where(exact_first[removed] != removed, REASON_CODE["exact"], REASON_CODE["near"]).astype(np.uint8)
    sizes = np.bincount(clusters)
    histogram = Counter(sizes[sizes > 1].tolist())
    write_arrays(out_path, dict(ids=nodes[removed], reasons=reasons))
    return {
        "candidate_pairs": {key: len(value) for key, value in {"exact": exact, **pairs}.items() if key in pair_files},
        "exact_pairs_verified": len(exact_idx),
        "near_pairs": len(near), "near_pairs_verified": len(near_idx),
        "near_agreement_histogram": np.histogram(agreement, bins=10, range=(0, 1))[0].tolist(),
        "clusters": int(np.count_nonzero(sizes > 1)),
        "documents_in_clusters": int(sizes[sizes > 1].sum()),
        "removed": {"exact": int(np.count_nonzero(reasons == REASON_CODE["exact"])),
                    "near": int(np.count_nonzero(reasons == REASON_CODE["near"]))},
        "cluster_sizes": {str(size): count for size, count in sorted(histogram.items())},
    }


def read_duplicates(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(removed document ids, sorted; their reason codes)."""
    with np.load(path, allow_pickle=False) as data:
        return data["ids"], data["reasons"]
