"""The pretraining stage's settings (config ``train``), validated on creation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ernie_pipeline.index.index_map import SampleMapSettings
from ernie_pipeline.index.masking import MaskingSettings
from ernie_pipeline.settings import from_section
from ernie_pipeline.train.models import check_train_settings


@dataclass(frozen=True)
class TrainSettings:
    """config.yaml ``train``, with ``dataset`` resolved to the blend: ((dataset, normalised weight), ...)."""

    dataset: tuple[tuple[str, float], ...]
    model: str
    model_overrides: dict
    continue_training: str | None
    backend: str
    python: str | None
    device: str
    seed: int
    binary_head: bool
    max_seq_len: int
    micro_batch_size: int
    global_batch_size: int
    max_steps: int
    decay_steps: int | None
    warmup_rate: float
    warmup_steps: int | None
    max_lr: float
    min_lr: float
    weight_decay: float
    grad_clip: float
    adam_beta1: float
    adam_beta2: float
    adam_epsilon: float
    hidden_dropout_prob: float
    attention_probs_dropout_prob: float
    masked_lm_prob: float
    max_ngrams: int
    favor_longer_ngram: bool
    geometric_dist: bool
    logging_freq: int
    eval_freq: int
    eval_iters: int
    test_iters: int
    save_steps: int
    checkpoint_steps: int
    steps_per_job: int | None
    num_workers: int
    threads: int
    amp: str | None
    scale_loss: float
    amp_master_grad: bool
    recompute: bool
    compile: bool
    nproc_per_node: int | str
    nnodes: int | str
    master_port: int | str
    rendezvous_timeout: float

    def __post_init__(self):
        object.__setattr__(self, "dataset", tuple((str(name), float(weight)) for name, weight in self.dataset))
        object.__setattr__(self, "model_overrides", dict(self.model_overrides or {}))
        check_train_settings(self)

    @classmethod
    def from_config(cls, train: Mapping, blend=None) -> TrainSettings:
        """From the validated ``train`` section; ``blend`` is ``train.dataset`` resolved (default: as given)."""
        return from_section(cls, train, "train", **({} if blend is None else {"dataset": blend}))

    @property
    def masking(self) -> MaskingSettings:
        return MaskingSettings(max_seq_len=self.max_seq_len, binary_head=self.binary_head,
                               masked_lm_prob=self.masked_lm_prob, max_ngrams=self.max_ngrams,
                               favor_longer_ngram=self.favor_longer_ngram, geometric_dist=self.geometric_dist)

    def sample_map(self, index: Mapping) -> SampleMapSettings:
        """What the sample maps of this run's data must have been built for (config ``index`` + these)."""
        return SampleMapSettings.from_config(index, self)

    def check_device(self) -> None:
        """Clear errors for settings the chosen device cannot run (instead of a failure deep inside Paddle)."""
        if self.device == "gpu":
            return
        if self.amp in ("O1", "O2"):
            raise ValueError(f"config train.amp={self.amp}: float16 AMP (with loss scaling) runs on GPUs only; set "
                             "train.amp: null to train on CPU in float32 (or bf16 with the torch backend), or "
                             "train.device: gpu")
