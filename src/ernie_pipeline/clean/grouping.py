"""Grouping (key, document) pairs by key in bounded memory: the candidate and boilerplate jobs.

Keys (LSH band keys, exact hashes, line hashes) are uniform 64-bit hashes, so ``key % partitions`` spreads them
evenly: the pairs go to one append-only file per partition as they are read, then each partition is sorted by
(key, document) alone. Memory is one partition (about ``partition_bytes``) plus the result, whatever the corpus
size; temporary disk is 16 bytes per pair.

A document is a uint64: (dataset << 56) | (shard << 32) | row, datasets in name order within the group and
shards in their dataset's order, so the smallest id is the smallest (dataset, raw file path, record): the copy a
group of duplicates keeps, whatever order the jobs ran in.
"""

from __future__ import annotations

import resource
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np

PAIR_BYTES = 16
MAX_PARTITIONS = 4096  # open files at once, and at most half the process's limit on open files


def max_partitions() -> int:
    return min(MAX_PARTITIONS, resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 2)


def doc_ids(dataset: int, shard: int, rows: np.ndarray) -> np.ndarray:
    if dataset >= 1 << 8 or shard >= 1 << 24:
        raise ValueError(f"dataset {dataset} / shard {shard}: at most 256 datasets of 2^24 shards in a group")
    return (np.uint64(dataset) << np.uint64(56)) | (np.uint64(shard) << np.uint64(32)) | rows.astype(np.uint64)


def split_ids(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dataset, shard, row) of document ids."""
    ids = np.asarray(ids, np.uint64)
    return ((ids >> np.uint64(56)).astype(np.int64), ((ids >> np.uint64(32)) & np.uint64(0xFFFFFF)).astype(np.int64),
            (ids & np.uint64(0xFFFFFFFF)).astype(np.int64))


class Partitions:
    """(key, document) pairs spread over temporary partition files in ``directory`` by key."""

    def __init__(self, directory: str | Path, expected_pairs: int, partition_bytes: int):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.count = int(min(max_partitions(), max(1, -(-expected_pairs * PAIR_BYTES // max(partition_bytes, 1)))))
        self.handles = [open(self.directory / f"{p:05d}.pairs", "wb") for p in range(self.count)]
        self.pairs = 0

    def add(self, keys: np.ndarray, docs: np.ndarray) -> None:
        pairs = np.empty((len(keys), 2), np.uint64)
        pairs[:, 0], pairs[:, 1] = keys, docs
        partition = (pairs[:, 0] % np.uint64(self.count)).astype(np.int64)
        order = np.argsort(partition, kind="stable")
        bounds = np.searchsorted(partition[order], np.arange(self.count + 1))
        for p in np.flatnonzero(np.diff(bounds)):
            self.handles[p].write(pairs[order[bounds[p] : bounds[p + 1]]].tobytes())
        self.pairs += len(keys)

    def sorted_partitions(self) -> Iterator[np.ndarray]:
        """Each partition's pairs, [n, 2] uint64 sorted by (key, document); its file removed."""
        for handle in self.handles:
            handle.close()
        for p in range(self.count):
            path = self.directory / f"{p:05d}.pairs"
            pairs = np.fromfile(path, np.uint64).reshape(-1, 2)
            path.unlink()
            yield pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]

    def close(self) -> None:
        for handle in self.handles:
            handle.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, length) of each run of equal values in a sorted array."""
    if not len(keys):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return starts, np.diff(np.r_[starts, len(keys)])


def equal_key_pairs(partitions: Partitions) -> np.ndarray:
    """[m, 2] uint64 (document, the smallest document of its key): every document sharing its key with a
    smaller one, linked to that one (a star per key: pairs grow with the duplicates, not their square). Where the
    smallest document shares a band key by chance alone, the others of that key are not compared with each other
    in that band; the group's other bands still pair them (the measured recall counts this)."""
    found = []
    for pairs in partitions.sorted_partitions():
        starts, lengths = runs(pairs[:, 0])
        run = np.repeat(np.arange(len(starts)), lengths)  # each pair's run
        follower = np.ones(len(pairs), bool)
        follower[starts] = False
        members = np.flatnonzero(follower)  # in runs of two or more, after the run's first (smallest) document
        first = starts[run[members]]
        found.append(np.stack([pairs[members, 1], pairs[first, 1]], axis=1))
    return np.concatenate(found) if found else np.zeros((0, 2), np.uint64)


def frequent_keys(partitions: Partitions, min_count: int) -> np.ndarray:
    """The keys that come with at least ``min_count`` pairs, sorted."""
    found = []
    for pairs in partitions.sorted_partitions():
        starts, lengths = runs(pairs[:, 0])
        found.append(pairs[starts[lengths >= min_count], 0])
    return np.sort(np.concatenate(found)) if found else np.zeros(0, np.uint64)
