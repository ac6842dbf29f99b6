"""The torch backend (``train.backend: torch``): the same ERNIE, samples and training maths as the Paddle backend, on
PyTorch + transformers, for the GPUs PyPI's Paddle cannot reach (Hopper, Blackwell) and machines without Paddle.

* the model: transformers' ``ErnieForPreTraining`` from the same ``train.model`` / ``model_overrides`` (mapped as
  the Hugging Face export maps them: LayerNorm epsilon 1e-12, ``use_task_id`` ...), the MLM head on the masked
  positions only, attention through SDPA (:mod:`.model`); ``train.recompute``: activation checkpointing (the dropout
  state replayed); ``train.compile``: ``torch.compile``, one static shape per ``max_seq_len`` (the masked positions
  padded to their bound);
* the maths: AdamW without decay on biases and LayerNorm weights (chosen through the parameter map onto paddlenlp's
  names, where upstream's rule looks for "bias" and "norm"), global-norm clipping as Paddle clips
  (``clip / max(norm, clip)``), upstream's linear warmup and decay (:func:`ernie_pipeline.train.chain.learning_rate`),
  the loss divided over the micro-batches of a step, dropout reseeded per micro-batch by the shared loop;
* precision: float32, ``bf16`` (autocast, float32 master weights, no loss scaler; CPUs too) or ``O1`` (float16
  autocast with a dynamic loss scaler from ``scale_loss``, for GPUs before Ampere);
* data parallel: ``DistributedDataParallel`` over the processes ``torchrun`` starts (NCCL on GPUs, gloo on CPU),
  gradients all-reduced at a step's last micro-batch only (``no_sync`` before);
* checkpoints: a Hugging Face folder (``model.safetensors``, ``config.json``, the tokenizer files the export writes)
  with ``optimizer.pt`` (``scaler.pt`` with O1) and ``trainer_state.json``; weights read with safetensors, optimizer
  state with ``torch.load(weights_only=True)``; ``continue_training`` takes a Hugging Face folder or a Paddle one
  (converted, so both backends can start from the same ``model_0``).

Nothing here imports Paddle, paddlenlp or LAC: the vocabulary comes from ``vocab.txt``
(:class:`ernie_pipeline.tokenize.vocabulary.Vocabulary`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
from datetime import timedelta
from pathlib import Path

import numpy as np

from ernie_pipeline.index.masking import Vocab
from ernie_pipeline.io.atomic import atomic_path
from ernie_pipeline.tokenize.vocabulary import Vocabulary
from ernie_pipeline.train.build import RankBatches, collate_tuple
from ernie_pipeline.train.chain import learning_rate
from ernie_pipeline.train.checkpoint import (SAVE_DTYPE, WEIGHTS_FILE, CheckpointError, check_weights, read_state_dict,
                                             write_state)
from ernie_pipeline.train.hf_format import (HF_WEIGHTS_FILE, hf_config, hf_state_dict, hf_to_paddle_names,
                                            read_hf_weights, write_tokenizer_files)
from ernie_pipeline.train.models import model_config
from ernie_pipeline.train.settings import TrainSettings
from ernie_pipeline.train.signals import end_workers_at_exit, ignore_stop_signals

OPTIMIZER_FILE = "optimizer.pt"
SCALER_FILE = "scaler.pt"
TIED = frozenset({"cls.predictions.decoder.weight", "cls.predictions.decoder.bias"})  # stored once, as their twins
COLLECTIVE_TIMEOUT = timedelta(minutes=30)


class TorchBackend:
    """One training process of the torch backend (see the module's docstring)."""

    name = "torch"

    def __init__(self, train: TrainSettings, tokenizer_source: str, start_process: bool = True):
        import torch

        self.train = train
        self.world, self.rank, self.local_rank = 1, 0, 0
        self.device = torch.device("cpu")
        if start_process:
            self._start_process()
        self.tokenizer_dir = Path(tokenizer_source)
        vocabulary = Vocabulary.from_folder(tokenizer_source)
        self.vocab, self.vocab_fingerprint = Vocab.from_vocabulary(vocabulary), vocabulary.fingerprint
        self.paddle_config = model_config(train.model, len(vocabulary), train.model_overrides,
                                          train.hidden_dropout_prob, train.attention_probs_dropout_prob)
        self.model_config = hf_config(self.paddle_config)
        self.net = self.model = self.ddp = self.optimizer = self.scaler = None
        self.step = 0

    def _start_process(self) -> None:
        import torch
        import torch.distributed as dist

        train = self.train
        train.check_device()
        self.world, self.rank = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))
        self.local_rank = int(os.environ.get("LOCAL_RANK", 0))
        if train.device == "gpu":
            torch.cuda.set_device(self.local_rank)
            self.device = torch.device("cuda", self.local_rank)
            torch.backends.cuda.matmul.allow_tf32 = False  # float32 means float32 (bf16 is the fast path)
            torch.backends.cudnn.allow_tf32 = False
        else:
            torch.set_num_threads(max(1, train.threads // int(os.environ.get("LOCAL_WORLD_SIZE", 1))))
        if self.world > 1:  # torchrun's rendezvous, in the environment
            dist.init_process_group("nccl" if train.device == "gpu" else "gloo", timeout=COLLECTIVE_TIMEOUT)
        random.seed(train.seed)
        np.random.seed(train.seed)
        torch.manual_seed(train.seed)  # the same initial weights on every rank

    # ---- the model and its optimizer

    def _build_model(self):
        """transformers' ERNIE from ``train.model`` (+ overrides), weights drawn from torch's generator (seeded before)
        or ``train.continue_training``'s."""
        from transformers import ErnieConfig

        from ernie_pipeline.train.torch_backend.model import ErnieMaskedPretraining

        train = self.train
        config = {k: v for k, v in self.model_config.items() if k not in ("architectures", "model_type")}
        net = ErnieMaskedPretraining(ErnieConfig(**config, attn_implementation="sdpa"))
        if train.continue_training:
            net.load_state_dict(self._pretrained_weights(Path(train.continue_training), net), strict=False)
        if not train.binary_head:
            # no SOP loss: its head and the pooler before it get no gradient, which DDP refuses; frozen, they are
            # left out of the gradient sync and the optimizer's steps, as in the Paddle backend
            for param in [*net.ernie.pooler.parameters(), *net.cls.seq_relationship.parameters()]:
                param.requires_grad_(False)
        if train.recompute:
            net.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        return net.to(self.device)

    def _pretrained_weights(self, folder: Path, net) -> dict:
        """``train.continue_training``'s weights: a Hugging Face folder's (this backend's checkpoints, ``export_hf``'s)
        or a Paddle checkpoint's (converted: the same model_0 for both backends), checked against the model; extra
        tensors (a fine-tuned head) are named in a warning and left out."""
        import torch

        try:
            if (folder / HF_WEIGHTS_FILE).is_file():
                path, weights = folder / HF_WEIGHTS_FILE, read_hf_weights(folder / HF_WEIGHTS_FILE)
            elif (folder / WEIGHTS_FILE).is_file():
                path = folder / WEIGHTS_FILE
                weights = hf_state_dict(read_state_dict(path), self.paddle_config)
            else:
                raise FileNotFoundError(f"config train.continue_training: {folder} holds neither {HF_WEIGHTS_FILE} "
                                        f"nor {WEIGHTS_FILE}")
            weights = check_weights(weights, _shapes(net), path, allow_unexpected=True, optional=TIED)
        except CheckpointError as err:
            raise CheckpointError(f"config train.continue_training: {err}") from None
        return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items() if k not in TIED}

    def init_checkpoint(self, path: Path, state: dict) -> None:
        """model_0: the initial weights, drawn on the CPU from ``train.seed`` (the same on every device), or
        ``train.continue_training``'s."""
        import torch

        torch.manual_seed(self.train.seed)
        self.net = self._build_model()
        self.save(path, state)

    def build(self, checkpoint: Path, step: int, training: bool = True) -> None:
        """The model with ``checkpoint``'s weights; for training also AdamW, the loss scaler (O1) with the checkpoint's
        state, DDP over the ranks and ``torch.compile``."""
        import torch

        self.net = self._build_model()
        self.net.load_state_dict(_checked_weights(Path(checkpoint), self.net), strict=False)
        self.step = step
        self.model = self.net
        if not training:
            self.net.eval()
            return
        self._build_optimizer()
        self._restore_optimizer(Path(checkpoint), step)
        if self.world > 1:
            self.ddp = torch.nn.parallel.DistributedDataParallel(
                self.net, device_ids=[self.local_rank] if self.device.type == "cuda" else None)
            self.model = self.ddp
        if self.train.compile:
            # random ops as eager runs them: the dropout masks stay a function of the micro-batch's seed alone, so
            # compiling changes no trajectory (inductor's own generator would draw others)
            torch._inductor.config.fallback_random = True
            self.model = torch.compile(self.model)
        self.model.train()

    def _build_optimizer(self) -> None:
        """AdamW with upstream's no-decay rule ("bias" or "norm" in paddlenlp's name of the parameter, found through
        the parameter map: transformers says LayerNorm), betas and epsilon as configured; a loss scaler under O1."""
        import torch

        train, names = self.train, hf_to_paddle_names(self.paddle_config)
        groups = {True: [], False: []}
        for name, param in self.net.named_parameters():
            if name not in names:
                raise KeyError(f"parameter {name} has no paddlenlp counterpart: the no-decay rule cannot be applied")
            groups[not any(k in names[name] for k in ("bias", "norm"))].append(param)
        fused = self.device.type == "cuda"
        self.optimizer = torch.optim.AdamW(
            [{"params": groups[True], "weight_decay": train.weight_decay}, {"params": groups[False], "weight_decay": 0.0}],
            lr=learning_rate(train, self.step + 1), betas=(train.adam_beta1, train.adam_beta2), eps=train.adam_epsilon,
            fused=fused or None)
        self.params = [p for p in self.net.parameters() if p.requires_grad]
        if train.amp == "O1":
            self.scaler = torch.amp.GradScaler(self.device.type, init_scale=train.scale_loss)

    def _restore_optimizer(self, folder: Path, step: int) -> None:
        """The optimizer's (and loss scaler's) state from checkpoint ``folder`` of ``step``: every checkpoint but
        model_0 must hold it (a fresh optimizer would train on silently from other moments)."""
        import torch

        for name, target in [(OPTIMIZER_FILE, self.optimizer)] + ([(SCALER_FILE, self.scaler)] if self.scaler else []):
            path = folder / name
            if not path.is_file():
                if step == 0:
                    continue
                raise CheckpointError(f"{path} not found: a checkpoint of step {step} must hold it (a fresh "
                                      f"{'optimizer' if target is self.optimizer else 'loss scaler'} would change "
                                      "training)")
            try:  # weights_only: tensors and plain containers, no code from the file
                target.load_state_dict(torch.load(path, map_location=self.device, weights_only=True))
            except (RuntimeError, EOFError, ValueError, KeyError) as err:
                raise CheckpointError(f"{path} does not read as this optimizer's state ({err})") from None

    # ---- the data

    def loader(self, dataset, micro_batch_size: int, consumed: int, num_workers: int):
        """An iterator over this rank's micro-batches (tuples of numpy arrays) from global sample ``consumed`` on."""
        from torch.utils.data import DataLoader

        batches = RankBatches(len(dataset), micro_batch_size, self.world, self.rank, consumed)
        loader = DataLoader(dataset, batch_sampler=batches, collate_fn=collate_tuple, num_workers=num_workers,
                            worker_init_fn=ignore_stop_signals, pin_memory=self.device.type == "cuda")
        iterator = iter(loader)
        end_workers_at_exit(iterator)
        return iterator

    def tokens(self, batch) -> int:
        return int((np.asarray(batch[0]) != self.vocab.pad_id).sum())

    def _tensors(self, batch):
        """A micro-batch on the device: ids, token types, the 0/1 attention mask (from the additive one), masked
        positions and labels (padded to a fixed count under torch.compile), SOP labels."""
        import torch

        input_ids, token_types, attention, positions, labels, sop_labels = batch
        if self.train.compile:  # one static shape: the masked positions padded to their bound
            bound = self._masked_bound()
            if len(positions) > bound:
                raise ValueError(f"{len(positions)} masked positions in a micro-batch, over the bound {bound}")
            positions = np.pad(np.asarray(positions), (0, bound - len(positions)))
            labels = np.pad(np.asarray(labels).reshape(-1), (0, bound - len(labels)), constant_values=-1)
        device = self.device

        def on_device(array, dtype):
            return torch.as_tensor(np.asarray(array), dtype=dtype).to(device, non_blocking=True)

        mask = (np.asarray(attention).reshape(len(input_ids), -1) == 0).astype(np.int64)
        return (on_device(input_ids, torch.long), on_device(token_types, torch.long), on_device(mask, torch.long),
                on_device(positions, torch.long), on_device(np.asarray(labels).reshape(-1), torch.long),
                on_device(np.asarray(sop_labels).reshape(-1), torch.long))

    def _masked_bound(self) -> int:
        """The most masked positions a micro-batch can hold: masked_lm_prob of each sample's tokens, rounded up,
        padded to paddlenlp's multiple of 8."""
        from ernie_pipeline.train.torch_backend.model import MASKED_PADDING

        per_sample = math.ceil(self.train.masked_lm_prob * self.train.max_seq_len) + 1
        return -(-self.train.micro_batch_size * per_sample // MASKED_PADDING) * MASKED_PADDING

    # ---- one step

    def seed(self, seed: int) -> None:
        import torch

        torch.manual_seed(seed)

    def _autocast(self):
        import torch

        if self.train.amp == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        if self.train.amp == "O1":
            return torch.autocast(self.device.type, dtype=torch.float16)
        return contextlib.nullcontext()

    def _losses(self, batch):
        from ernie_pipeline.train.torch_backend.model import losses

        input_ids, token_types, mask, positions, labels, sop_labels = self._tensors(batch)
        with self._autocast():
            scores, sop_scores = self.model(input_ids, token_types, mask, positions, sop=self.train.binary_head)
        return losses(scores, sop_scores, labels, sop_labels)

    def forward_backward(self, batch, accumulate: int, sync: bool):
        """One micro-batch's losses (loss, lm, sop or None, detached) and its gradients, added to the step's; the
        gradients are all-reduced over the ranks only when ``sync`` (the step's last micro-batch)."""
        loss, lm, sop = self._losses(batch)
        scaled = loss / accumulate if self.scaler is None else self.scaler.scale(loss / accumulate)
        with self.ddp.no_sync() if self.ddp is not None and not sync else contextlib.nullcontext():
            scaled.backward()
        return loss.detach(), lm.detach(), None if sop is None else sop.detach()

    @staticmethod
    def float32(value):
        return value.detach().float()

    def apply_gradients(self) -> float:
        """Clip the gradients' global norm as Paddle does, step AdamW at the rate of the step (the loss scaler's step
        under O1, skipped on overflow), clear the gradients; the rate the step trained with."""
        import torch

        rate = learning_rate(self.train, self.step + 1)
        for group in self.optimizer.param_groups:
            group["lr"] = rate
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if self.train.grad_clip > 0:
            grads = [p.grad for p in self.params if p.grad is not None]
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))
            # Paddle's ClipGradByGlobalNorm: scale by clip / max(norm, clip) (torch's clip_grad_norm_ adds 1e-6)
            torch._foreach_mul_(grads, self.train.grad_clip / torch.clamp(norm, min=self.train.grad_clip))
        if self.scaler is None:
            self.optimizer.step()
        else:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return rate

    def loss_scale(self) -> float | None:
        return float(self.scaler.get_scale()) if self.scaler is not None and self.scaler.is_enabled() else None

    def evaluate(self, batches, iters: int) -> dict:
        """Mean losses over ``iters`` micro-batches of ``batches`` (and the ranks)."""
        import torch

        self.model.eval()
        totals = [0.0, 0.0, 0.0]
        done = 0
        with torch.no_grad():
            for _ in range(iters):
                batch = next(batches, None)
                if batch is None:
                    break
                loss, lm, sop = self._losses(batch)
                for k, value in enumerate((loss, lm, sop if sop is not None else 0.0)):
                    totals[k] += float(value)
                done += 1
        self.model.train()
        if not done:
            return {}
        return dict(zip(("loss", "lm_loss", "sop_loss"), self.mean_over_ranks([t / done for t in totals])))

    # ---- the ranks

    def mean_over_ranks(self, values: list) -> list[float]:
        """Python floats of ``values`` (tensors or numbers) averaged over the data-parallel ranks."""
        import torch
        import torch.distributed as dist

        stacked = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self.device)
        if self.world > 1:
            dist.all_reduce(stacked)
            stacked = stacked / self.world
        return stacked.tolist()

    def any_rank(self, flag: bool) -> bool:
        if self.world == 1:
            return flag
        import torch
        import torch.distributed as dist

        value = torch.tensor([int(flag)], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    # ---- checkpoints

    def save(self, path: Path, state: dict, logs: dict | None = None) -> None:
        """A Hugging Face folder with the optimizer's (and loss scaler's) state, atomically (without an optimizer
        yet: model_0)."""
        import torch

        with atomic_path(path, is_dir=True) as tmp:
            self.net.save_pretrained(str(tmp), safe_serialization=True)
            config_path = tmp / "config.json"
            config = json.loads(config_path.read_text())
            # transformers names the class it saved (ours); the folder loads as its base class
            config.update(architectures=["ErnieForPreTraining"], dtype=SAVE_DTYPE)
            config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
            write_tokenizer_files(tmp, self.tokenizer_dir / "vocab.txt", True,
                                  self.paddle_config["max_position_embeddings"])
            if self.optimizer is not None:
                torch.save(self.optimizer.state_dict(), tmp / OPTIMIZER_FILE)
            if self.scaler is not None:
                torch.save(self.scaler.state_dict(), tmp / SCALER_FILE)
            write_state(tmp, state, logs)


def _shapes(net) -> dict[str, list[int]]:
    return {name: list(value.shape) for name, value in net.state_dict().items()}


def _checked_weights(folder: Path, net) -> dict:
    """The weights of checkpoint ``folder`` (safetensors: no code runs), checked against the model's names and shapes
    (naming the file and the tensor)."""
    import torch

    path = folder / HF_WEIGHTS_FILE
    weights = check_weights(read_hf_weights(path), _shapes(net), path, optional=TIED)
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()}
