"""Blending several datasets into one training stream (upstream ``--input_dir "w1 p1 w2 p2"``).

``train.dataset`` names what training reads: one dataset, or a weighted blend written the upstream
way (``"1.0 wudao 3.0 clue"``, dataset names in place of file prefixes), as a list of the same
(``[1.0, wudao, 3.0, clue]``) or as a mapping (``{wudao: 1.0, clue: 3.0}``). Weights are normalised; each dataset's sample maps hold
``ceil(total * weight * 1.005)`` samples per split (upstream's margin, so the blend never runs out),
and a blending index per split, from tool_helpers' ``build_blending_indices``, says which dataset and
which of its samples each position of the blend is.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ernie_pipeline.io.atomic import atomic_outputs

MAX_DATASETS = 254  # dataset_index is uint8 in build_blending_indices
MARGIN = 1.005


def parse_blend(value, datasets: list[str]) -> list[tuple[str, float]]:
    """``train.dataset`` → ``[(dataset, normalised weight), ...]``; null is the first dataset."""
    key = "config train.dataset"
    if value is None:
        return [(datasets[0], 1.0)]
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list) or (isinstance(value, str) and len(value.split()) > 1):
        fields = value if isinstance(value, list) else value.split()
        if len(fields) % 2 or not fields:
            raise ValueError(f"{key}: {value!r} is not 'weight dataset weight dataset ...'")
        pairs = list(zip(fields[1::2], fields[0::2]))
    elif isinstance(value, str):
        pairs = [(value, 1.0)]
    else:
        raise ValueError(f"{key}: {value!r} is neither a dataset name, 'w1 name1 w2 name2 ...', a list of the same "
                         "nor a mapping")
    blend = []
    for name, weight in pairs:
        if name not in datasets:
            raise ValueError(f"{key}: {name!r} is not a dataset (datasets: {', '.join(datasets)})")
        try:
            weight = float(weight)
        except (TypeError, ValueError):
            raise ValueError(f"{key}: weight {weight!r} of {name!r} is not a number") from None
        if not weight > 0 or not math.isfinite(weight):
            raise ValueError(f"{key}: weight {weight} of {name!r} must be positive")
        blend.append((name, weight))
    names = [name for name, _ in blend]
    if len(set(names)) != len(names):
        raise ValueError(f"{key}: a dataset appears twice in {value!r}")
    if len(blend) > MAX_DATASETS:
        raise ValueError(f"{key}: at most {MAX_DATASETS} datasets can be blended")
    total = sum(weight for _, weight in blend)
    return [(name, weight / total) for name, weight in blend]


def dataset_samples(total: int | None, blend: list[tuple[str, float]]) -> dict[str, int | None]:
    """Samples each dataset's map must hold for ``total`` samples of the blend (None: one pass over each)."""
    if len(blend) == 1 or total is None:
        return {name: total for name, _ in blend}
    return {name: math.ceil(total * weight * MARGIN) for name, weight in blend}


def one_pass_sizes(blend: list[tuple[str, float]], rows: dict[str, int]) -> dict[str, int]:
    """The shares of the longest blend whose every dataset's share fits (with the margin) in one pass over it
    (``rows``: each dataset's one-pass map): what the valid and test blends read, cyclically."""
    longest = min(rows[name] / weight for name, weight in blend)
    return {name: max(1, math.floor(longest * weight / MARGIN)) for name, weight in blend}


def build_blend_index(blend: list[tuple[str, float]], sizes: dict[str, int], out_path: str | Path) -> dict:
    """Blending index of one split → ``out_path`` (npz: ``dataset_index`` uint8, ``dataset_sample_index``
    int64) + ``out_path``.json (datasets, weights, sizes); return the record."""
    from tool_helpers import helpers

    from ernie_pipeline.tokenize.token_files import write_npz

    weights = np.array([w for _, w in blend], dtype=np.float64)
    size = int(sum(sizes[name] for name, _ in blend))
    dataset_index = np.zeros(size, dtype=np.uint8)
    dataset_sample_index = np.zeros(size, dtype=np.int64)
    helpers.build_blending_indices(dataset_index, dataset_sample_index, weights, len(blend), size, False)
    record = {"datasets": [name for name, _ in blend], "weights": weights.tolist(),
              "sizes": [sizes[name] for name, _ in blend], "size": size}
    json_path = Path(f"{out_path}.json")
    with atomic_outputs(out_path, json_path) as (tmp, tmp_json):
        write_npz(tmp, {"dataset_index": dataset_index, "dataset_sample_index": dataset_sample_index})
        tmp_json.write_text(json.dumps(record, indent=1) + "\n")
    return record


class BlendedDataset:
    """Position ``i`` of the blend is sample ``dataset_sample_index[i]`` of dataset ``dataset_index[i]``."""

    def __init__(self, datasets: list, blend_path: str | Path):
        with np.load(blend_path) as blend:
            self.dataset_index = blend["dataset_index"]
            self.dataset_sample_index = blend["dataset_sample_index"]
        for k, dataset in enumerate(datasets):
            chosen = self.dataset_sample_index[self.dataset_index == k]
            if chosen.size and chosen.max() >= len(dataset):
                raise ValueError(f"{blend_path}: wants sample {int(chosen.max())} of dataset {k}, which has "
                                 f"{len(dataset)}; rebuild the blend index and sample maps together")
        self.datasets = datasets

    def __len__(self) -> int:
        return len(self.dataset_index)

    def __getitem__(self, idx: int):
        return self.datasets[int(self.dataset_index[idx])][int(self.dataset_sample_index[idx])]
