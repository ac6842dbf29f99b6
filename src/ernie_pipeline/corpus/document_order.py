"""Token-id shards merged in a seeded document order, reading every shard once, front to back.

Gathering the documents of a permutation one by one reads the whole corpus in random order (on 260 GB
of shards: random reads over all of it, and page cache of every shard). This is an external shuffle in
two sequential passes instead, with memory bounded by ``bucket_bytes`` whatever the corpus size:

1. the permutation and its inverse (each document's output position) live in temporary memory-mapped
   files (8 bytes per document each, pages the kernel can drop). The shards are read in order; each
   document is appended to the bucket file of its output position's range (buckets cover contiguous output
   ranges of about ``bucket_bytes`` of data each, so a bucket holds a random ~1/B of the corpus);
2. the buckets are read in order, one at a time, their documents placed by output position and written.

The output is byte for byte what gathering in ``order`` gives. Temporary disk: about the output's size,
beside it, removed whatever happens.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ernie_pipeline.io.atomic import scratch_sibling

_CHUNK_DOCS = 1 << 16  # documents read from a shard per step of pass 1 (and arange/inverse steps)
_WRITE_DOCS = 4096  # documents handed to the writer at once in pass 2


def seeded_permutation(documents: int, seed: int, path: str | Path) -> np.ndarray:
    """``np.random.RandomState(seed).permutation(documents)``, computed in a memory-mapped file at ``path``."""
    order = np.memmap(path, dtype=np.int64, mode="w+", shape=(max(documents, 1),))[:documents]
    for start in range(0, documents, _CHUNK_DOCS):
        stop = min(start + _CHUNK_DOCS, documents)
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
    for start in range(0, documents, _CHUNK_DOCS):
        chunk = np.asarray(order[start : start + _CHUNK_DOCS])
        before = np.searchsorted(absent, chunk)  # absent documents ahead of each one: its shift down
        present = absent[np.minimum(before, len(absent) - 1)] != chunk
        renumbered = (chunk - before)[present]
        kept[written : written + len(renumbered)] = renumbered
        written += len(renumbered)
    if written != documents - len(absent):
        raise ValueError(f"absent positions {absent[:5].tolist()}... are not distinct positions below {documents}")
    return kept[:written]


def _inverse(order: np.ndarray, path: Path) -> np.ndarray:
    """Each document's output position, in a memory-mapped file."""
    rank = np.memmap(path, dtype=np.int64, mode="w+", shape=(max(len(order), 1),))[: len(order)]
    for start in range(0, len(order), _CHUNK_DOCS):
        stop = min(start + _CHUNK_DOCS, len(order))
        rank[np.asarray(order[start:stop])] = np.arange(start, stop, dtype=np.int64)
    return rank


class _Buckets:
    """Three append-only files per bucket: document records (output position, sentences), lens, ids."""

    def __init__(self, directory: Path, count: int, dtype: np.dtype):
        self.directory, self.count, self.dtype = directory, count, dtype

    def _path(self, bucket: int, kind: str) -> Path:
        return self.directory / f"{bucket:06d}.{kind}"

    def append(self, bucket: int, records: np.ndarray, lens: np.ndarray, ids: list[np.ndarray]) -> None:
        for kind, data in (("docs", [records]), ("lens", [lens]), ("ids", ids)):
            with open(self._path(bucket, kind), "ab") as handle:
                for array in data:
                    handle.write(np.ascontiguousarray(array).tobytes())

    def take(self, bucket: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A bucket's records, lens and ids, its files removed."""
        arrays = []
        for kind, dtype in (("docs", np.int64), ("lens", np.int32), ("ids", self.dtype)):
            path = self._path(bucket, kind)
            arrays.append(np.fromfile(path, dtype=dtype) if path.exists() else np.zeros(0, dtype))
            path.unlink(missing_ok=True)
        return arrays[0].reshape(-1, 2), arrays[1], arrays[2]


def merge_in_order(datasets: list, order: np.ndarray, writer, bucket_bytes: int) -> None:
    """Write the documents of ``datasets`` (``IdsDataset``s, indexed in input order) to ``writer`` in ``order``."""
    doc_starts = np.cumsum([0] + [d.num_docs for d in datasets])
    documents = int(doc_starts[-1])
    if len(order) != documents:
        raise ValueError(f"order has {len(order)} entries for {documents} documents")
    dtype = datasets[0].ids.dtype
    data_bytes = sum(d.ids.nbytes + d.lens.nbytes + 16 * d.num_docs for d in datasets)
    docs_per_bucket = max(1, int(documents * min(1.0, bucket_bytes / max(data_bytes, 1))))
    buckets = _Buckets(scratch_sibling(writer.prefix, "merge", is_dir=True), -(-documents // docs_per_bucket), dtype)
    try:
        rank = _inverse(order, buckets.directory / "rank.int64")
        shards = tqdm(datasets, desc="merge: shards into buckets", unit="shard", mininterval=5)
        for which, data in enumerate(shards):  # pass 1: every shard front to back
            for start in range(0, data.num_docs, _CHUNK_DOCS):
                stop = min(start + _CHUNK_DOCS, data.num_docs)
                docs = np.asarray(data.docs[start : stop + 1])
                base = data.offset(int(docs[0]))
                lens = np.asarray(data.lens[docs[0] : docs[-1]])
                ids = np.asarray(data.ids[base : base + int(lens.sum(dtype=np.int64))])
                sentence_bounds = docs - docs[0]
                token_bounds = np.concatenate(([0], np.cumsum(lens, dtype=np.int64)))[sentence_bounds]
                positions = np.asarray(rank[doc_starts[which] + start : doc_starts[which] + stop])
                bucket_of = positions // docs_per_bucket
                by_bucket = np.argsort(bucket_of, kind="stable")
                sentences = np.diff(docs)
                cuts = np.flatnonzero(np.diff(bucket_of[by_bucket])) + 1
                for group in np.split(by_bucket, cuts):
                    records = np.stack([positions[group], sentences[group]], axis=1)
                    buckets.append(int(bucket_of[group[0]]), records,
                                   np.concatenate([lens[sentence_bounds[d] : sentence_bounds[d + 1]] for d in group]),
                                   [ids[token_bounds[d] : token_bounds[d + 1]] for d in group])
        del rank
        for bucket in tqdm(range(buckets.count), desc="merge: buckets in order", unit="bucket", mininterval=5):
            # pass 2: buckets in output order, one in memory at a time
            records, lens, ids = buckets.take(bucket)
            sentence_bounds = np.concatenate(([0], np.cumsum(records[:, 1])))
            token_bounds = np.concatenate(([0], np.cumsum(lens, dtype=np.int64)))[sentence_bounds]
            placed = np.argsort(records[:, 0])
            for start in range(0, len(placed), _WRITE_DOCS):
                batch = placed[start : start + _WRITE_DOCS]
                writer.add(np.concatenate([ids[token_bounds[d] : token_bounds[d + 1]] for d in batch]),
                           np.concatenate([lens[sentence_bounds[d] : sentence_bounds[d + 1]] for d in batch]),
                           records[batch, 1])
    finally:
        shutil.rmtree(buckets.directory, ignore_errors=True)
