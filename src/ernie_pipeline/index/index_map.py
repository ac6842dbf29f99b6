"""Stage 4: train/valid/test sample index maps (upstream ``get_samples_mapping``), built ahead of
training as file targets.

A map is ``np.save`` of ``[rows, 3]`` (uint32, or uint64 past 2**32 sentences) rows
``(first_sentence, end_sentence_exclusive, target_seq_length)`` from tool_helpers' ``build_mapping``
over the documents of one split. Beside it, ``<map>.json`` records everything that determined it
(data checksum, split, lengths, probabilities, seed, sample count); training refuses a map whose
record does not match its own settings, so a stale map is never used silently.

How many samples a map holds (the chain decides: :func:`ernie_pipeline.train.chain.map_samples`):
``build_mapping`` finishes every epoch it starts
and shuffles all its rows, so a map holds whole passes over its documents, the same map for every
sample count within the same number of passes.

* train: ``global_batch_size`` x the run's horizon, ``max(max_steps, decay_steps)`` (upstream: max_steps;
  the same unless decay_steps is larger). With the schedule given in steps, raising max_steps up to
  decay_steps leaves the map, and so every checkpoint trained on it, as it is.
* valid and test: one pass over the split (``num_samples`` null), whatever the evaluation reads: it cycles
  over the map (upstream sizes them from max_steps, eval_freq, eval_iters and test_iters; one pass is the
  same map as long as those fit in it). So the evaluation cadence changes no map and no checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ernie_pipeline.io.atomic import atomic_outputs
from ernie_pipeline.tokenize.token_files import IdsDataset, paths_for

SPLIT_NAMES = ("train", "valid", "test")
NUM_EPOCHS = np.iinfo(np.int32).max - 1  # build_mapping stops by sample count, not epochs
ONE_PASS_SAMPLES = np.iinfo(np.int64).max - 1  # one epoch, whatever its sample count
SPECIAL_TOKENS_PER_SAMPLE = 3  # [CLS] A [SEP] B [SEP]


@dataclass(frozen=True)
class SampleMapSettings:
    """What determines a dataset's sample maps: config ``index`` and the ``train`` keys they depend on."""

    split: str  # index.split: document weights of train, valid, test ("949,50,1")
    short_seq_prob: float  # index.short_seq_prob
    max_seq_len: int  # train.max_seq_len
    seed: int  # train.seed
    binary_head: bool  # train.binary_head: samples need 2 sentences

    def __post_init__(self):
        parse_split(self.split)  # a clear error naming index.split

    @classmethod
    def from_config(cls, index: Mapping, train) -> SampleMapSettings:
        """From the validated ``index`` section and the run's TrainSettings."""
        return cls(split=str(index["split"]), short_seq_prob=index["short_seq_prob"],
                   max_seq_len=train.max_seq_len, seed=train.seed, binary_head=train.binary_head)


def parse_split(split: str) -> list[float]:
    """'949,50,1' (or '949/50/1') → normalised fractions for train, valid, test."""
    try:
        parts = [float(x) for x in str(split).replace("/", ",").split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"config index.split: {split!r} is not a list of numbers like '949,50,1'") from None
    if not 1 <= len(parts) <= 3 or any(p < 0 for p in parts) or sum(parts) <= 0:
        raise ValueError(f"config index.split: {split!r} needs 1-3 non-negative weights with a positive sum")
    parts += [0.0] * (3 - len(parts))
    total = sum(parts)
    return [p / total for p in parts]


def split_documents(split: str, num_docs: int) -> list[int]:
    """Document boundaries ``[0, i1, i2, num_docs]`` of the contiguous train/valid/test parts."""
    fractions = parse_split(split)
    bounds = [0]
    for fraction in fractions:
        bounds.append(bounds[-1] + int(round(fraction * num_docs)))
    shift = bounds[-1] - num_docs
    return [0] + [b - shift for b in bounds[1:]]


def data_checksum(prefix: str | Path) -> str:
    """sha256 of the index file plus the ids file's size (the index pins every sentence length)."""
    ids_path, idx_path = paths_for(prefix)
    digest = hashlib.sha256()
    with open(idx_path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    digest.update(str(ids_path.stat().st_size).encode())
    return digest.hexdigest()


def describe(prefix, split_name: str, settings: SampleMapSettings, samples: int | None,
             checksum: str | None = None) -> dict:
    """Everything that determines a split's sample map of ``samples`` samples (None: one pass over the split;
    ``checksum`` = :func:`data_checksum`, computed here when not given)."""
    return {
        "data_checksum": checksum or data_checksum(prefix),
        "split_name": split_name,
        "split": settings.split,
        "max_seq_length": settings.max_seq_len - SPECIAL_TOKENS_PER_SAMPLE,
        "short_seq_prob": settings.short_seq_prob,
        "seed": settings.seed,
        "num_samples": samples,
        "min_num_sent": 2 if settings.binary_head else 1,
    }


def build_index_map(prefix, split_name: str, out_path, settings: SampleMapSettings, samples: int | None) -> dict:
    """Build one split's sample map of ``samples`` samples (None: one pass over the split) into ``out_path``
    (+ ``out_path``.json); return its record."""
    from tool_helpers import helpers

    if split_name not in SPLIT_NAMES:
        raise ValueError(f"split name must be one of {SPLIT_NAMES}, not {split_name!r}")
    data = IdsDataset(prefix)
    split = settings.split
    bounds = split_documents(split, data.num_docs)
    part = SPLIT_NAMES.index(split_name)
    start, end = bounds[part], bounds[part + 1]
    if end <= start:
        sizes = ", ".join(f"{n}={bounds[i + 1] - bounds[i]}" for i, n in enumerate(SPLIT_NAMES))
        raise ValueError(
            f"config index.split={split!r} leaves the {split_name} split of {prefix} empty "
            f"({data.num_docs} documents: {sizes}); give it a larger weight"
        )
    record = describe(prefix, split_name, settings, samples)
    record.update(first_doc=int(start), end_doc=int(end))
    doc_idx = np.ascontiguousarray(data.docs[start : end + 1], dtype=np.int64)
    try:
        # one pass: one epoch and no sample limit (the same map as any count the first epoch reaches)
        epochs, limit = (NUM_EPOCHS, samples) if samples is not None else (1, ONE_PASS_SAMPLES)
        mapping = helpers.build_mapping(
            doc_idx, data.lens, epochs, limit, record["max_seq_length"], settings.short_seq_prob, settings.seed,
            False, record["min_num_sent"],
        )
    except Exception as err:  # tool_helpers raises a bare std::invalid_argument
        raise ValueError(
            f"{prefix}: cannot build the {split_name} sample map ({err}); with binary_head every "
            "document needs at least 2 sentences"
        ) from None
    record["rows"] = int(mapping.shape[0])
    json_path = Path(f"{out_path}.json")
    with atomic_outputs(out_path, json_path) as (tmp_map, tmp_json):
        with open(tmp_map, "wb") as handle:
            np.save(handle, mapping, allow_pickle=False)
        tmp_json.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


def read_record(path: str | Path) -> dict:
    """The record beside a sample map: what it was built for (:func:`describe`), its documents and rows."""
    return json.loads(Path(f"{path}.json").read_text())


def load_index_map(path: str | Path, expected: dict) -> np.ndarray:
    """Memory-map a sample map after checking its record matches ``expected`` (see :func:`describe`)."""
    record = read_record(path)
    stale = {k: (record.get(k), v) for k, v in expected.items() if record.get(k) != v
             and not (isinstance(v, float) and math.isclose(record.get(k, math.nan), v))}
    if stale:
        raise ValueError(f"{path} was built for other settings (recorded vs now: {stale}); rebuild it")
    return np.load(path, mmap_mode="r")
