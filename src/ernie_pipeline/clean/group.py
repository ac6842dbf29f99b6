"""The shards a grouping job reads (its dataset, or every dataset with ``clean.scope: all``), each with its files
and its place in the document ids (:func:`~ernie_pipeline.clean.grouping.doc_ids`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ernie_pipeline.clean.grouping import doc_ids


@dataclass(frozen=True)
class Shard:
    dataset: str
    name: str  # the raw file's path below the dataset's input_dir
    dataset_index: int  # in the group's datasets, by name
    shard_index: int  # in its dataset's shards, in order
    docs: Path  # <shard>.docs.npz
    minhash: Path | None = None  # <shard>.minhash.npy
    bands: Path | None = None  # <shard>.bands.npy
    contamination: Path | None = None  # the shard's contamination .npz (None: decontamination off)

    def ids(self, rows: np.ndarray) -> np.ndarray:
        return doc_ids(self.dataset_index, self.shard_index, rows)

    def documents(self) -> int:
        with np.load(self.docs, allow_pickle=False) as data:
            return int(data["quality"].size)

    def lines(self) -> int:
        with np.load(self.docs, allow_pickle=False) as data:
            return int(data["line_rows"].size)

    def read_docs(self, *keys: str) -> dict[str, np.ndarray]:
        """The arrays named (all of them when none is): an .npz member is read only when asked for, and the line
        arrays are most of the file's bytes."""
        with np.load(self.docs, allow_pickle=False) as data:
            return {key: data[key] for key in keys or data.files}

    def contaminated(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, source bit masks) of the documents sharing an n-gram with the benchmark text."""
        if self.contamination is None:
            return np.zeros(0, np.int64), np.zeros(0, np.uint64)
        with np.load(self.contamination, allow_pickle=False) as data:
            return data["rows"], data["masks"]

    def eligible(self, docs: dict[str, np.ndarray]) -> np.ndarray:
        """Documents that deduplication considers: they pass the per-document filters and are not contaminated."""
        eligible = docs["quality"] == 0
        eligible[self.contaminated()[0]] = False
        return eligible


def group_shards(shards: list[tuple[str, str]], files: dict[str, list[str]]) -> list[Shard]:
    """``shards``: (dataset, shard) in the job's input order; ``files``: kind -> the paths of each shard's file of
    that kind (docs, and optionally minhash, bands, contamination), in the same order."""
    datasets = sorted({dataset for dataset, _ in shards})
    seen: dict[str, int] = {}
    out = []
    for k, (dataset, name) in enumerate(shards):
        index = seen.get(dataset, 0)
        seen[dataset] = index + 1
        paths = {kind: Path(paths[k]) for kind, paths in files.items() if paths}
        out.append(Shard(dataset, name, datasets.index(dataset), index, **paths))
    return out
