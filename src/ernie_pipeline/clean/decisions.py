"""Every rule's verdict on every document, one shard at a time (the ``clean_decisions`` job), and what the merges
read of it.

A document is removed for the first reason that applies, in ``REASONS`` order: contamination, the per-document
filters, exact copy, near copy, boilerplate. ``decisions.npz`` holds, per dataset of the group, each shard's
document count (the rows of the token files' order) and the removed documents' positions in the dataset's
document sequence (shard by shard) with their reason codes; ``stats.json`` the counts and characters per reason,
per shard and dataset, the clusters' sizes and the benchmark sources each removed document overlapped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ernie_pipeline.clean.boilerplate import boilerplate_share
from ernie_pipeline.clean.contamination import documents_per_source
from ernie_pipeline.clean.group import Shard
from ernie_pipeline.clean.settings import REASON_CODE, REASONS, CleanSettings
from ernie_pipeline.io.atomic import write_arrays, write_json


def _counts(reasons: np.ndarray, chars: np.ndarray) -> dict:
    removed = reasons > 0
    return {
        "documents": len(reasons), "chars": int(chars.sum(dtype=np.int64)),
        "removed_documents": int(np.count_nonzero(removed)), "removed_chars": int(chars[removed].sum(dtype=np.int64)),
        "by_reason": {reason: {"documents": int(np.count_nonzero(reasons == code)),
                               "chars": int(chars[reasons == code].sum(dtype=np.int64))}
                      for reason, code in REASON_CODE.items()},
    }


def _sum_counts(parts: list[dict]) -> dict:
    total = {key: sum(p[key] for p in parts) for key in ("documents", "chars", "removed_documents", "removed_chars")}
    total["by_reason"] = {reason: {key: sum(p["by_reason"][reason][key] for p in parts) for key in ("documents", "chars")}
                          for reason in REASONS}
    return total


def shard_reasons(shard: Shard, docs: dict[str, np.ndarray], duplicates: tuple[np.ndarray, np.ndarray],
                  frequent_lines: np.ndarray | None, clean: CleanSettings) -> np.ndarray:
    """Each row's reason code (0: kept)."""
    reasons = np.zeros(len(docs["chars"]), np.uint8)
    reasons[shard.contaminated()[0]] = REASON_CODE["contamination"]
    quality = docs["quality"]
    reasons[(reasons == 0) & (quality > 0)] = quality[(reasons == 0) & (quality > 0)]
    ids, codes = duplicates
    first, last = shard.ids(np.array([0, (1 << 32) - 1]))
    lo, hi = np.searchsorted(ids, first), np.searchsorted(ids, last, side="right")
    rows = (ids[lo:hi] & np.uint64(0xFFFFFFFF)).astype(np.int64)
    if np.any(reasons[rows]):
        raise ValueError(f"{shard.docs}: the duplicates were found among other documents than its filters keep; "
                         "rerun the clean stage's jobs")
    reasons[rows] = codes[lo:hi]
    if frequent_lines is not None:
        mostly_template = (reasons == 0) & (boilerplate_share(docs, frequent_lines) > clean.max_boilerplate_share)
        reasons[mostly_template] = REASON_CODE["boilerplate"]
    return reasons


def decide(shards: list[Shard], duplicates: tuple[np.ndarray, np.ndarray], frequent_lines: np.ndarray | None,
           labels: list[str], clean: CleanSettings, out_path: str | Path) -> dict:
    """Write ``decisions.npz`` (see the module's docstring); return the per-dataset statistics."""
    arrays: dict[str, np.ndarray] = {}
    datasets: dict[str, dict] = {}
    for name in sorted({s.dataset for s in shards}):
        own = [s for s in shards if s.dataset == name]
        kept, positions, codes, per_shard, overlaps = [], [], [], {}, {label: 0 for label in labels}
        offset = 0
        for shard in own:
            docs = shard.read_docs()
            reasons = shard_reasons(shard, docs, duplicates, frequent_lines, clean)
            removed = np.flatnonzero(reasons)
            kept.append(len(reasons))
            positions.append(removed + offset)
            codes.append(reasons[removed])
            offset += len(reasons)
            per_shard[shard.name] = _counts(reasons, docs["chars"].astype(np.int64))
            for label, count in documents_per_source(shard.contaminated()[1], labels).items():
                overlaps[label] += count
        index = len(datasets)
        arrays[f"shards_{index}"] = np.array([s.name for s in own], dtype=str)
        arrays[f"kept_{index}"] = np.array(kept, np.int64)
        arrays[f"positions_{index}"] = np.concatenate(positions).astype(np.int64)
        arrays[f"reasons_{index}"] = np.concatenate(codes).astype(np.uint8)
        totals = _sum_counts(list(per_shard.values()))
        if totals["documents"] and totals["removed_documents"] == totals["documents"]:
            reasons = {r: c["documents"] for r, c in totals["by_reason"].items() if c["documents"]}
            raise ValueError(f"config clean: it would remove every one of dataset {name!r}'s {totals['documents']} "
                             f"documents ({reasons}); with scope all, a dataset that repeats another is dropped from "
                             "datasets, or cleaned with scope dataset")
        datasets[name] = {"totals": totals, "contamination_by_source": overlaps, "shards": per_shard}
    arrays["datasets"] = np.array(list(datasets), dtype=str)
    write_arrays(out_path, arrays)
    return datasets


def write_stats(path: str | Path, datasets: dict, duplicates: dict | None, contamination: dict | None) -> None:
    write_json(path, {"reasons": list(REASONS), "duplicates": duplicates, "benchmark_ngrams": contamination,
                      "datasets": datasets})


def removed_documents(decisions_path: str | Path, dataset: str, kept_per_shard: list[int]) -> np.ndarray:
    """The sorted positions, in the dataset's document sequence (its shards' documents back to back), of the
    documents the clean stage removes; refused when the decisions were made for other shards."""
    with np.load(decisions_path, allow_pickle=False) as data:
        names = data["datasets"].tolist()
        if dataset not in names:
            raise ValueError(f"{decisions_path}: no decisions for dataset {dataset!r} (it has {names})")
        index = names.index(dataset)
        kept, positions = data[f"kept_{index}"], data[f"positions_{index}"]
    if kept.tolist() != list(kept_per_shard):
        raise ValueError(f"{decisions_path}: made for {len(kept)} shards of {kept.tolist()[:5]}... documents, the "
                         f"merge has {len(kept_per_shard)} of {list(kept_per_shard)[:5]}...; rerun the clean stage")
    return positions


def read_stats(path: str | Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
