"""What training is built from, one function per part: the datasets of the three splits, the model and loss,
the optimizer with its learning-rate schedule and AMP, and the loaders of this rank's micro-batches."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ernie_pipeline.index.blend import BlendedDataset, dataset_samples
from ernie_pipeline.index.dataset import ErnieDataset
from ernie_pipeline.index.index_map import (SPLIT_NAMES, SampleMapSettings, data_checksum, describe,
                                           load_index_map, read_record)
from ernie_pipeline.index.masking import Vocab, collate
from ernie_pipeline.tokenize.token_files import IdsDataset
from ernie_pipeline.settings import as_section
from ernie_pipeline.tokenize.tokenizer import check_same_vocabulary
from ernie_pipeline.train.chain import map_samples, schedule_steps
from ernie_pipeline.train.checkpoint import SAVE_DTYPE, pretrained_weights
from ernie_pipeline.train.models import enable_recompute, model_config
from ernie_pipeline.train.settings import TrainSettings
from ernie_pipeline.train.signals import end_workers_at_exit, ignore_stop_signals

FIELDS = ("input_ids", "token_type_ids", "attention_mask", "masked_positions", "masked_labels", "sop_labels")
BLEND_SEED_STRIDE = 1_000_003  # seed of the k-th dataset of a blend: seed + k * stride


def collate_tuple(samples):
    batch = collate(samples)
    return tuple(batch[f] for f in FIELDS)


def micro_batches(dataset, micro_batch_size, consumed, num_workers):
    """An iterator over this rank's micro-batches from global sample ``consumed`` on."""
    import paddle
    from paddlenlp.utils.batch_sampler import DistributedBatchSampler

    # each data-parallel rank reads its slice of every global batch (world size 1 and rank 0 when alone)
    sampler = DistributedBatchSampler(dataset, batch_size=micro_batch_size,
                                      num_replicas=paddle.distributed.get_world_size(),
                                      rank=paddle.distributed.get_rank(), shuffle=False, drop_last=True,
                                      consumed_samples=consumed)
    loader = paddle.io.DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_tuple,
                                  num_workers=num_workers, return_list=True, worker_init_fn=ignore_stop_signals)
    batches = iter(loader)
    end_workers_at_exit(batches)
    return batches


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


def cycled_batches(dataset, split: str, micro_batch_size: int, global_batch_size: int, start: int):
    """This rank's micro-batches of an evaluation split from global sample ``start`` on, round and round over
    its whole global batches: the split's map holds one pass, and evaluation reads as much as it reads."""
    usable = len(dataset) // global_batch_size * global_batch_size
    if not usable:
        raise ValueError(f"the {split} split holds {len(dataset)} samples, fewer than one global batch "
                         f"(train.global_batch_size {global_batch_size}): give it a larger share of index.split")
    position = start % usable
    while True:
        yield from micro_batches(_Prefix(dataset, usable), micro_batch_size, position, 0)
        position = 0


def build_datasets(data: TrainData, train: TrainSettings, tokenizer, vocab: Vocab) -> tuple[dict, list[dict]]:
    """The train/valid/test datasets (one dataset, or a blend) and the records of the train maps (as built:
    with their rows). Each map is checked against the record of what it must hold (data checksum, split,
    lengths, seed, samples)."""
    data_prefixes, index_maps, blends, sample_map = data.prefixes, data.index_maps, data.blends, data.sample_map
    blend = train.dataset
    if len(blend) != len(data_prefixes) or (len(blend) > 1) != bool(blends):
        raise ValueError(f"{len(data_prefixes)} token files and blend indices {blends} for train.dataset {blend}")
    wanted = {split: dataset_samples(total, blend) for split, total in map_samples(train).items()}
    checksums, token_files = {}, {}
    for prefix in data_prefixes:
        check_same_vocabulary(prefix, tokenizer)
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


def build_model(train: TrainSettings, vocab_size: int):
    """paddlenlp's ErnieForPretraining from ``train.model`` (+ overrides), its config and loss; the initial
    weights are drawn from Paddle's generator (seeded before) or come from ``train.continue_training``."""
    from paddlenlp.transformers import ErnieConfig, ErnieForPretraining, ErniePretrainingCriterion

    config = ErnieConfig(**model_config(train.model, vocab_size, train.model_overrides, train.hidden_dropout_prob,
                                        train.attention_probs_dropout_prob))
    net = ErnieForPretraining(config)
    if train.continue_training:  # upstream --continue_training: start from a pretrained folder's weights
        net.set_state_dict(pretrained_weights(Path(train.continue_training), net))
    if not train.binary_head:
        # no SOP loss: its head and the pooler before it get no gradient, which DataParallel refuses
        # (find_unused_parameters); frozen, they are left out of its gradient sync and of the optimizer
        for param in net.ernie.pooler.parameters() + net.cls.seq_relationship.parameters():
            param.stop_gradient = True
    if train.recompute:
        enable_recompute(net)
    return net, config, ErniePretrainingCriterion(with_nsp_loss=train.binary_head)


def build_optimizer(train: TrainSettings, net, start_step: int):
    """(schedule, optimizer, loss scaler or None, model): AdamW without decay on bias and norm weights, global
    norm clipping, linear warmup then linear decay to min_lr (positioned at ``start_step``); under AMP a dynamic
    loss scaler, and under O2 the float16 model with float32 master weights."""
    import paddle
    from paddlenlp.transformers import LinearAnnealingWithWarmupDecay

    warmup_steps, decay_steps = schedule_steps(train)
    lr = LinearAnnealingWithWarmupDecay(train.max_lr, train.min_lr, warmup_steps, decay_steps, last_epoch=start_step)
    no_decay = ("bias", "norm")
    decay_names = {p.name for n, p in net.named_parameters() if not any(k in n for k in no_decay)}
    optimizer = paddle.optimizer.AdamW(
        learning_rate=lr, beta1=train.adam_beta1, beta2=train.adam_beta2, epsilon=train.adam_epsilon,
        parameters=net.parameters(), weight_decay=train.weight_decay,
        grad_clip=paddle.nn.ClipGradByGlobalNorm(train.grad_clip) if train.grad_clip > 0 else None,
        apply_decay_param_fun=lambda name: name in decay_names, multi_precision=bool(train.amp))
    scaler = None
    if train.amp:
        scaler = paddle.amp.GradScaler(init_loss_scaling=train.scale_loss)
        if train.amp == "O2":  # float16 weights, float32 master weights in the optimizer; saved as float32
            # master_grad: each micro-batch's float16 gradients are added into float32 ones (a float16 sum
            # over many micro-batches loses the small ones), then unscaled, clipped and applied in float32
            net, optimizer = paddle.amp.decorate(models=net, optimizers=optimizer, level="O2", save_dtype=SAVE_DTYPE,
                                                 master_grad=train.amp_master_grad)
    return lr, optimizer, scaler, net
