"""What training reads, the same for every backend: the datasets of the three splits (one dataset or a blend,
each sample map checked against what it must hold), the order in which a rank takes its micro-batches of every
global batch, and the evaluation splits read round and round."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ernie_pipeline.index.blend import BlendedDataset, dataset_samples
from ernie_pipeline.index.dataset import ErnieDataset
from ernie_pipeline.index.index_map import (SPLIT_NAMES, SampleMapSettings, data_checksum, describe,
                                           load_index_map, read_record)
from ernie_pipeline.index.masking import Vocab, collate
from ernie_pipeline.tokenize.token_files import IdsDataset
from ernie_pipeline.settings import as_section
from ernie_pipeline.tokenize.tokenizer import check_same_vocabulary
from ernie_pipeline.train.chain import map_samples
from ernie_pipeline.train.settings import TrainSettings

FIELDS = ("input_ids", "token_type_ids", "attention_mask", "masked_positions", "masked_labels", "sop_labels")
BLEND_SEED_STRIDE = 1_000_003  # seed of the k-th dataset of a blend: seed + k * stride


def collate_tuple(samples):
    batch = collate(samples)
    return tuple(batch[f] for f in FIELDS)


class RankBatches:
    """The sample indices of ``rank``'s micro-batches, from global sample ``consumed`` on: each global batch of
    ``micro_batch_size x world`` samples in order, rank r taking its r-th slice; only whole global batches (paddlenlp's
    ``DistributedBatchSampler`` without shuffling, ``drop_last``: the Paddle backend's loader, tested equal). A batch
    sampler for a DataLoader: computed as they are read, nothing held per batch."""

    def __init__(self, num_samples: int, micro_batch_size: int, world: int, rank: int, consumed: int):
        self.micro, self.world, self.rank, self.consumed = micro_batch_size, world, rank, consumed
        self.total = -(-num_samples // world) * world

    def _starts(self) -> range:
        step = self.micro * self.world
        return range(self.consumed, self.total - step + 1, step)

    def __iter__(self):
        for start in self._starts():
            first = start + self.rank * self.micro
            yield list(range(first, first + self.micro))

    def __len__(self) -> int:
        return len(self._starts())


@dataclass(frozen=True)
class TrainData:
    """What training reads: the token files (``prefixes``, in the order of ``train.dataset``'s blend), the
    tokenizer (a folder or a paddlenlp name), each split's sample maps (in the same order), each split's
    blending index (several datasets only), and what the maps must have been built for."""

    prefixes: list[str]
    tokenizer: str
    index_maps: dict[str, list[str]]
    sample_map: SampleMapSettings
    blends: dict[str, str] | None = None

    def as_spec(self) -> dict:
        return {**dataclasses.asdict(self), "sample_map": as_section(self.sample_map)}

    @classmethod
    def from_spec(cls, spec: dict) -> TrainData:
        return cls(**{**spec, "sample_map": SampleMapSettings(**spec["sample_map"])})


class _Prefix:
    """The first ``size`` samples of ``dataset``."""

    def __init__(self, dataset, size: int):
        self.dataset, self.size = dataset, size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, idx: int):
        return self.dataset[idx]


def cycled_batches(loader, dataset, split: str, micro_batch_size: int, global_batch_size: int, start: int):
    """This rank's micro-batches of an evaluation split from global sample ``start`` on, round and round over
    its whole global batches: the split's map holds one pass, and evaluation reads as much as it reads.
    ``loader(dataset, micro_batch_size, consumed, num_workers)``: the backend's loader of a rank's micro-batches."""
    usable = len(dataset) // global_batch_size * global_batch_size
    if not usable:
        raise ValueError(f"the {split} split holds {len(dataset)} samples, fewer than one global batch "
                         f"(train.global_batch_size {global_batch_size}): give it a larger share of index.split")
    position = start % usable
    while True:
        yield from loader(_Prefix(dataset, usable), micro_batch_size, position, 0)
        position = 0


def build_datasets(data: TrainData, train: TrainSettings, vocab: Vocab, fingerprint: str) -> tuple[dict, list[dict]]:
    """The train/valid/test datasets (one dataset, or a blend) and the records of the train maps (as built:
    with their rows). The token files must have been made with the vocabulary of ``fingerprint``; each map is checked
    against the record of what it must hold (data checksum, split, lengths, seed, samples)."""
    data_prefixes, index_maps, blends, sample_map = data.prefixes, data.index_maps, data.blends, data.sample_map
    blend = train.dataset
    if len(blend) != len(data_prefixes) or (len(blend) > 1) != bool(blends):
        raise ValueError(f"{len(data_prefixes)} token files and blend indices {blends} for train.dataset {blend}")
    wanted = {split: dataset_samples(total, blend) for split, total in map_samples(train).items()}
    checksums, token_files = {}, {}
    for prefix in data_prefixes:
        check_same_vocabulary(prefix, fingerprint)
        checksums[prefix] = data_checksum(prefix)
        token_files[prefix] = IdsDataset(prefix)  # memory-mapped, shared by the three splits
    datasets, records = {}, {}
    for split in SPLIT_NAMES:
        parts, records[split] = [], []
        for k, (prefix, (name, _)) in enumerate(zip(data_prefixes, blend)):
            expected = describe(prefix, split, sample_map, wanted[split][name], checksums[prefix])
            records[split].append(read_record(index_maps[split][k]))
            # each dataset of a blend draws its masking from its own seed
            parts.append(ErnieDataset(token_files[prefix], load_index_map(index_maps[split][k], expected), vocab,
                                      train.masking, train.seed + k * BLEND_SEED_STRIDE))
        datasets[split] = BlendedDataset(parts, blends[split]) if len(parts) > 1 else parts[0]
    return datasets, records["train"]
