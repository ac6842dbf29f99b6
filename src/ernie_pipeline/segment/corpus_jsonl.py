"""Stage 1b: per-shard segmented jsonl → one corpus jsonl (the seed's ``trans_to_json.py`` merge).

Documents no longer than ``min_doc_length`` characters (of their segmented text, as upstream) are
dropped. The order is the token files' (shard order, optionally a seeded permutation), so a rerun gives a
byte-identical file (upstream's unseeded ``shuf`` does not). Memory holds no per-document data: the
line offsets and the order are memory-mapped temporary files beside the output (32 bytes a document).
"""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path

import numpy as np

from ernie_pipeline.io.atomic import atomic_write, scratch_directory
from ernie_pipeline.segment.settings import JsonlSettings
from ernie_pipeline.corpus.document_order import document_order
from ernie_pipeline.corpus.readers import jsonl_text

_ROWS_PER_WRITE = 1 << 16  # line-table rows written, and document positions looked up, per step


def keeps_document(text: str, min_doc_length: int) -> bool:
    """Upstream's filter (trans_to_json): a document is kept when its segmented text is longer than
    ``min_doc_length`` characters; every stage that reads the segmented shards asks this."""
    return len(text) > min_doc_length


def write_corpus_stats(shard_stats: list[str | Path], merge_counts: dict, out_path: str | Path) -> dict:
    """Sum the per-shard segmentation counts (and skipped records per reason) and add the merge's;
    write them with the shards' own."""
    shards = [json.loads(Path(p).read_text(encoding="utf-8")) for p in shard_stats]
    totals: dict = {}
    skipped: dict[str, int] = {}
    for shard in shards:
        for key, value in shard.items():
            if isinstance(value, int):
                totals[key] = totals.get(key, 0) + value
        for reason, count in shard.get("skipped", {}).items():
            skipped[reason] = skipped.get(reason, 0) + count
    totals["skipped"] = dict(sorted(skipped.items()))
    summary = {"totals": totals, "merge": merge_counts, "shards": shards}
    with atomic_write(out_path) as handle:
        json.dump(summary, handle, ensure_ascii=False, indent=1)
        handle.write("\n")
    return summary


def _kept_lines(paths: list[Path], json_key: str, min_doc_length: int, table: Path) -> tuple[np.ndarray, int]:
    """(shard, offset, length) of every document line that passes the length filter, in a memory-mapped
    file at ``table`` (24 bytes a document); and the number of lines read."""
    read = 0
    rows: list[tuple[int, int, int]] = []
    with open(table, "wb") as out:
        for shard, path in enumerate(paths):
            offset = 0
            with open(path, "rb") as handle:
                for number, raw in enumerate(handle, start=1):
                    read += 1
                    if keeps_document(jsonl_text(raw, json_key, path, number), min_doc_length):
                        rows.append((shard, offset, len(raw)))
                    offset += len(raw)
                    if len(rows) == _ROWS_PER_WRITE:
                        out.write(np.array(rows, np.int64).tobytes())
                        rows.clear()
        out.write(np.array(rows, np.int64).reshape(-1, 3).tobytes())
    kept = table.stat().st_size // 24
    return (np.memmap(table, dtype=np.int64, mode="r", shape=(kept, 3)) if kept else np.zeros((0, 3), np.int64)), read


class _Lines:
    """Lines read by (shard, offset, length), one unbuffered ``pread`` each (a buffered reader per shard would
    hold its read-ahead for each of thousands of shards), with at most half the process's file limit open at
    once (the longest-open closed first)."""

    def __init__(self, paths: list[Path]):
        self.paths, self.fds = paths, {}
        self.limit = max(16, resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 2)

    def read(self, shard: int, offset: int, length: int) -> bytes:
        fd = self.fds.get(shard)
        if fd is None:
            if len(self.fds) >= self.limit:
                os.close(self.fds.pop(next(iter(self.fds))))
            fd = self.fds[shard] = os.open(self.paths[shard], os.O_RDONLY)
        line = os.pread(fd, length, offset)
        return line if line.endswith(b"\n") else line + b"\n"

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()


def merge_jsonl(in_paths: list[str | Path], out_path: str | Path, jsonl: JsonlSettings, removed=None) -> dict:
    """Merge jsonl shards into ``out_path``, the documents ``jsonl`` keeps in the token files' document order
    (:func:`~ernie_pipeline.corpus.document_order.document_order`); return counts of documents read, dropped as
    too short and written. ``removed``: a function of the documents per shard giving the sorted positions the
    clean stage removes."""
    json_key, min_doc_length = jsonl.json_key, jsonl.min_doc_length
    paths, out_path = [Path(p) for p in in_paths], Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with scratch_directory(out_path, "lines") as scratch:
        table, read = _kept_lines(paths, json_key, min_doc_length, scratch / "lines.int64")
        kept = len(table)
        if not kept:
            raise ValueError(f"no document longer than min_doc_length={min_doc_length} in {in_paths}")
        cleaned = removed(np.bincount(table[:, 0], minlength=len(paths)).tolist()) if removed is not None else None
        order = document_order(kept, jsonl.shuffle, jsonl.seed, f"{scratch}/order.int64", removed=cleaned)
        written = len(order) if order is not None else kept
        lines = _Lines(paths)
        try:
            with atomic_write(out_path, "wb") as out:
                for start in range(0, written, _ROWS_PER_WRITE):
                    stop = min(start + _ROWS_PER_WRITE, written)
                    rows = table[np.asarray(order[start:stop]) if order is not None else slice(start, stop)]
                    for row in rows.tolist():
                        out.write(lines.read(*row))
        finally:
            lines.close()
        del order, table  # the maps, before their files go
    counts = {"documents_read": read, "dropped_short": read - kept, "documents_written": written}
    return counts if cleaned is None else {**counts, "removed_by_clean": len(cleaned)}
