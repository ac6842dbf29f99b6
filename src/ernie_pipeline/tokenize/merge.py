"""A dataset's token-id shards -> upstream's ``<prefix>_ids.npy`` + ``<prefix>_idx.npz`` (and optionally
Megatron's ``.bin/.idx``), documents in the corpus's one seeded order (the ``merge_token_ids`` rule).

The merge reads every shard once, front to back. Gathering the documents of a permutation one by one reads the
whole corpus in random order (on 260 GB of shards: random reads over all of it, and page cache of every shard).
This is an external shuffle in two sequential passes instead, with memory bounded by ``bucket_bytes`` whatever
the corpus size:

1. the permutation and its inverse (each document's output position) live in temporary memory-mapped
   files (8 bytes per document each, pages the kernel can drop). The shards are read in order; each
   document is appended to the bucket file of its output position's range (buckets cover contiguous output
   ranges of about ``bucket_bytes`` of data each, so a bucket holds a random ~1/B of the corpus);
2. the buckets are read in order, one at a time, their documents placed by output position and written.

The output is byte for byte what gathering in ``order`` gives. Temporary disk: about the output's size,
beside it, removed whatever happens.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from tqdm import tqdm

import ernie_pipeline  # noqa: F401  (system zlib before paddle)
from ernie_pipeline.corpus.document_order import CHUNK_DOCS, document_order
from ernie_pipeline.io.atomic import scratch_directory, scratch_sibling
from ernie_pipeline.segment.settings import JsonlSettings
from ernie_pipeline.tokenize.token_files import IdsDataset, IdsWriter

_WRITE_DOCS = 4096  # documents handed to the writer at once in pass 2


def merge_shards(shard_prefixes: list[str | Path], shard_stats: list[str | Path], output_prefix: str | Path,
                 jsonl: JsonlSettings, *, megatron: bool = False, bucket_mb: int = 256, removed=None) -> dict:
    """One dataset's token ids from its shards, in shard order or a seeded document permutation (``jsonl``'s)
    (the order upstream's ``shuf`` of the merged jsonl gave, reproducibly), with memory bounded by
    ``bucket_mb`` (see the module's docstring). Shards tokenised with another vocabulary
    are refused, naming the shard. ``removed``: a function of the documents per shard giving the sorted
    positions the clean stage removes (:func:`ernie_pipeline.clean.decisions.removed_documents`)."""
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
    per_shard = [s["documents"] + s["empty_documents"] for s in stats]
    kept = np.cumsum([0] + per_shard)
    absent = np.concatenate([np.asarray(s["empty_positions"], np.int64) + start for s, start in zip(stats, kept)])
    cleaned = removed(per_shard) if removed is not None else None
    Path(output_prefix).parent.mkdir(parents=True, exist_ok=True)
    with scratch_directory(output_prefix, "order") as scratch:
        order = document_order(int(kept[-1]), jsonl.shuffle, jsonl.seed, f"{scratch}/order.int64", absent, cleaned)
        merged = merge_ids(shard_prefixes, output_prefix, order, megatron, bucket_mb << 20)
        del order  # the map, before its file goes
    totals = {key: sum(s[key] for s in stats) for key in
              ("input_bytes", "documents_read", "dropped_short", "empty_documents", "reference_documents")}
    totals["shards_without_documents"] = sum(not s["documents"] for s in stats)
    if cleaned is not None:
        totals["removed_by_clean"] = len(np.setdiff1d(cleaned, absent))  # not those that tokenised to nothing
    return {**totals, **merged, "vocab_sha256": reference, "shuffle": jsonl.shuffle, "seed": jsonl.seed,
            "shards": len(stats)}


def merge_ids(prefixes: list[str | Path], out_prefix: str | Path, order: np.ndarray | None = None,
              megatron: bool = False, bucket_bytes: int = 256 << 20) -> dict:
    """Concatenate token-id pairs document by document, in ``order`` (indices into the documents of
    all inputs in input order; None = input order). Inputs must share one dtype. Every input is read
    once, front to back; a given order costs one more pass over temporary buckets of ``bucket_bytes``
    (the module's docstring)."""
    datasets = [IdsDataset(p) for p in prefixes]
    dtypes = {d.ids.dtype for d in datasets}
    if len(dtypes) != 1:
        raise ValueError(f"cannot merge token ids of different dtypes {sorted(map(str, dtypes))}: {list(map(str, prefixes))}")
    writer = IdsWriter(out_prefix, dtypes.pop(), megatron)
    try:
        if order is None:
            for data in datasets:
                for start in range(0, data.num_docs, 1 << 16):
                    stop = min(start + (1 << 16), data.num_docs)
                    first, last = data.docs[start], data.docs[stop]
                    writer.add(data.ids[data.offset(first) : data.offset(last)], data.lens[first:last],
                               np.diff(data.docs[start : stop + 1]))
        else:
            merge_in_order(datasets, order, writer, bucket_bytes)
    except BaseException:
        writer.abort()
        raise
    return writer.finalize(str(out_prefix))


def _inverse(order: np.ndarray, documents: int, path: Path) -> np.ndarray:
    """Each document's output position (-1: left out), in a memory-mapped file."""
    rank = np.memmap(path, dtype=np.int64, mode="w+", shape=(max(documents, 1),))[:documents]
    rank[:] = -1  # documents the order leaves out
    for start in range(0, len(order), CHUNK_DOCS):
        stop = min(start + CHUNK_DOCS, len(order))
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
    if len(order) > documents:
        raise ValueError(f"order has {len(order)} entries for {documents} documents")
    dtype = datasets[0].ids.dtype
    data_bytes = sum(d.ids.nbytes + d.lens.nbytes + 16 * d.num_docs for d in datasets)
    docs_per_bucket = max(1, int(documents * min(1.0, bucket_bytes / max(data_bytes, 1))))
    buckets = _Buckets(scratch_sibling(writer.prefix, "merge", is_dir=True), -(-documents // docs_per_bucket), dtype)
    try:
        rank = _inverse(order, documents, buckets.directory / "rank.int64")
        shards = tqdm(datasets, desc="merge: shards into buckets", unit="shard", mininterval=5)
        for which, data in enumerate(shards):  # pass 1: every shard front to back
            for start in range(0, data.num_docs, CHUNK_DOCS):
                stop = min(start + CHUNK_DOCS, data.num_docs)
                docs = np.asarray(data.docs[start : stop + 1])
                base = data.offset(int(docs[0]))
                lens = np.asarray(data.lens[docs[0] : docs[-1]])
                ids = np.asarray(data.ids[base : base + int(lens.sum(dtype=np.int64))])
                sentence_bounds = docs - docs[0]
                token_bounds = np.concatenate(([0], np.cumsum(lens, dtype=np.int64)))[sentence_bounds]
                positions = np.asarray(rank[doc_starts[which] + start : doc_starts[which] + stop])
                bucket_of = positions // docs_per_bucket
                by_bucket = np.argsort(bucket_of, kind="stable")
                by_bucket = by_bucket[positions[by_bucket] >= 0]  # the documents the order leaves out go nowhere
                if not len(by_bucket):
                    continue
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
