"""Stage 1b: per-shard segmented jsonl → one corpus jsonl (the seed's ``trans_to_json.py`` merge).

Documents no longer than ``min_doc_length`` characters (of their segmented text, as upstream) are
dropped. The order is the shard order, optionally shuffled with a seeded permutation, so a rerun
gives a byte-identical file (upstream's unseeded ``shuf`` does not). Only line offsets are held in
memory; document bytes are streamed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ernie_pipeline.atomic import atomic_write
from ernie_pipeline.readers import jsonl_text


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


def _kept_lines(paths: list[Path], json_key: str, min_doc_length: int, counter: dict):
    """(path, offset, length) of every document line that passes the length filter."""
    for path in paths:
        offset = 0
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                text = jsonl_text(raw, json_key, path, number)
                counter["read"] += 1
                if len(text) > min_doc_length:
                    yield path, offset, len(raw)
                offset += len(raw)


def merge_jsonl(
    in_paths: list[str | Path],
    out_path: str | Path,
    json_key: str = "text",
    min_doc_length: int = 10,
    shuffle: bool = True,
    seed: int = 1234,
) -> dict:
    """Merge jsonl shards into ``out_path``; return counts of documents read, dropped as too short
    and written."""
    paths = [Path(p) for p in in_paths]
    counter = {"read": 0}
    entries = list(_kept_lines(paths, json_key, min_doc_length, counter))
    if not entries:
        raise ValueError(f"no document longer than min_doc_length={min_doc_length} in {in_paths}")
    order = np.random.RandomState(seed).permutation(len(entries)) if shuffle else range(len(entries))
    handles = {p: open(p, "rb") for p in paths}
    try:
        with atomic_write(out_path, "wb") as out:
            for i in order:
                path, offset, length = entries[i]
                source = handles[path]
                source.seek(offset)
                line = source.read(length)
                out.write(line if line.endswith(b"\n") else line + b"\n")
    finally:
        for handle in handles.values():
            handle.close()
    return {"documents_read": counter["read"], "dropped_short": counter["read"] - len(entries),
            "documents_written": len(entries)}
