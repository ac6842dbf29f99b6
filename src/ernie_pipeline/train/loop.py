"""Stage 5: ERNIE pretraining (upstream ``run_pretrain.py``), one readable loop.

Model: paddlenlp ``ErnieForPretraining`` (MLM head + sentence-order head) with
``ErniePretrainingCriterion``; AdamW (no decay on bias/norm), global-norm clipping, linear warmup then
linear decay to ``min_lr`` (``LinearAnnealingWithWarmupDecay``); gradient accumulation from
``global_batch_size / micro_batch_size``.

Output folder::

    model_last/         every checkpoint_steps and at the end; replaced atomically
    model_<step>/       every save_steps and at the end
    visualdl/           VisualDL scalars (train/*, valid/*, test/*)
    train_log.jsonl     the train scalars of every logged step, at full precision

Each checkpoint loads with ``ErnieForPretraining.from_pretrained(dir)`` and
``ErnieTokenizer.from_pretrained(dir)`` and also holds the optimizer (``model_state.pdopt``) and
``trainer_state.json`` (step, consumed samples). Randomness is a function of the config and the
position: samples are drawn from ``seed + sample index``, dropout from a stream reseeded at every
micro-batch from ``(seed, step, micro-batch)``; so a rerun resumes from ``model_last`` and, on CPU,
continues exactly as an uninterrupted run would.

Data parallel (``ernie_pipeline.train.launch`` starts the processes): each rank reads its slice of every global
batch and draws the dropout of the micro-batch it stands for, so N processes with micro-batch m follow the
trajectory of one process accumulating N micro-batches of m (up to the order of float sums); gradients are
all-reduced at the last micro-batch of a step only. Rank 0 logs and writes checkpoints. The number of
processes may change between a checkpoint and its resume. On GPUs, AMP O1/O2 with dynamic loss scaling
(``train.amp``, ``train.scale_loss``; the scaler's state is checkpointed in ``scaler.pdparams``) and
recompute of the encoder layers (``train.recompute``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import ernie_pipeline  # noqa: F401  (system zlib before paddle)
from ernie_pipeline.data.index_map import SampleMapSettings
from ernie_pipeline.data.masking import Vocab
from ernie_pipeline.io.atomic import atomic_write, recover_directory
from ernie_pipeline.tokenize.tokenizer import load_tokenizer
from ernie_pipeline.train.build import build_datasets, build_model, build_optimizer, micro_batches
from ernie_pipeline.train.checkpoint import (resume_state, restore_optimizer, restore_weights, run_fingerprint,
                                             save_checkpoint)
from ernie_pipeline.train.models import check_train_settings
from ernie_pipeline.train.settings import TrainSettings
from ernie_pipeline.train.signals import StopRequest, TrainingStopped
from ernie_pipeline.train.train_log import TRAIN_LOG, LogWindow, drop_log_rows_after, log_train_record

log = logging.getLogger(__name__)
# upstream's AMP lists (run_pretrain.py v2.5); evaluation leaves dropout out of the white list
AMP_WHITE_LIST = ("softmax", "layer_norm", "gelu")
AMP_BLACK_LIST = ("c_softmax_with_cross_entropy",)


def _losses(model, criterion, batch, binary_head):
    input_ids, token_types, attention, positions, labels, sop_labels = batch
    scores, sop_scores = model(input_ids, token_type_ids=token_types, attention_mask=attention,
                               masked_positions=positions)
    if binary_head:
        lm_loss, sop_loss = criterion(scores, sop_scores, labels, sop_labels)
        return lm_loss + sop_loss, lm_loss, sop_loss
    lm_loss = criterion(scores, sop_scores, labels)
    return lm_loss, lm_loss, None


def _autocast(amp: str | None, training: bool):
    """upstream's AMP context (a no-op without ``train.amp``)."""
    import paddle

    white = AMP_WHITE_LIST + (("dropout",) if training else ())
    return paddle.amp.auto_cast(enable=bool(amp), level=amp or "O1",
                                custom_white_list=list(white), custom_black_list=list(AMP_BLACK_LIST))


def _mean_over_ranks(values: list, world: int) -> list[float]:
    """Python floats of ``values`` (tensors or numbers) averaged over the data-parallel ranks."""
    import paddle

    stacked = paddle.to_tensor([float(v) for v in values], dtype="float64")
    if world > 1:
        paddle.distributed.all_reduce(stacked)
        stacked = stacked / world
    return stacked.tolist()


def _evaluate(model, criterion, batches, iters: int, train: TrainSettings, world: int) -> dict:
    import paddle

    model.eval()
    totals = [0.0, 0.0, 0.0]
    done = 0
    with paddle.no_grad():
        for _ in range(iters):
            batch = next(batches, None)
            if batch is None:
                break
            with _autocast(train.amp, training=False):
                loss, lm, sop = _losses(model, criterion, batch, train.binary_head)
            for k, value in enumerate((loss, lm, sop if sop is not None else 0.0)):
                totals[k] += float(value)
            done += 1
    model.train()
    if not done:
        return {}
    return dict(zip(("loss", "lm_loss", "sop_loss"), _mean_over_ranks([t / done for t in totals], world)))


def loss_scale(scaler) -> float | None:
    """The dynamic loss scale of ``scaler``; None without one or where Paddle disabled it (bf16, GPUs below
    compute capability 7.0, CPU), whose state has no scale."""
    if scaler is None or not scaler.is_enable():
        return None
    return float(scaler.state_dict()["scale"])


def step_seed(seed: int, step: int, micro_batch: int) -> int:
    """The dropout seed of one micro-batch: distinct for every (seed, step, micro-batch), below 2**63."""
    digest = hashlib.sha256(f"{seed}:{step}:{micro_batch}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _start_process(train: TrainSettings) -> tuple[int, int]:
    """Device, CPU threads, the data-parallel group and the seeds of this process; (world size, rank)."""
    import paddle

    train.check_device()
    paddle.set_device(train.device)
    world, rank = paddle.distributed.get_world_size(), paddle.distributed.get_rank()
    if train.device == "cpu":  # Paddle's CPU kernels use one thread unless told otherwise
        local_processes = int(os.environ.get("PADDLE_LOCAL_SIZE", 1))
        paddle.base.core.set_num_threads(max(1, train.threads // local_processes))
    if world > 1:
        # pure data parallel, what upstream's fleet.distributed_model amounts to (fleet's DistributedStrategy
        # does not load with this stack's protobuf)
        paddle.distributed.init_parallel_env()
    random.seed(train.seed)
    np.random.seed(train.seed)
    paddle.seed(train.seed)  # the same initial weights on every rank
    return world, rank


def pretrain(data_prefixes: list[str], tokenizer_source: str, index_maps: dict[str, list[str]], output_dir: str,
             train: TrainSettings, sample_map: SampleMapSettings, summary_path: str,
             blends: dict[str, str] | None = None) -> dict:
    """Train per ``train`` (its ``dataset``: the blend, in the order of ``data_prefixes``) on sample maps built
    per ``sample_map``; write checkpoints, VisualDL logs and a summary. ``index_maps`` gives each split's maps
    in the same order; ``blends`` each split's blending index when there are several datasets."""
    import paddle
    from visualdl import LogWriter

    output, last = Path(output_dir), Path(output_dir) / "model_last"
    world, rank = _start_process(train)
    check_train_settings(train, world)
    accumulate = train.global_batch_size // (train.micro_batch_size * world)

    tokenizer = load_tokenizer(tokenizer_source)
    datasets, train_records = build_datasets(data_prefixes, index_maps, blends, train, sample_map, tokenizer,
                                             Vocab.from_tokenizer(tokenizer))
    net, config, criterion = build_model(train, len(tokenizer.vocab))
    state = _resume(last, net, run_fingerprint(train, train_records), train.global_batch_size, rank, world)
    lr, optimizer, scaler, net = build_optimizer(train, net, state["global_step"])
    restore_optimizer(last, optimizer, scaler)
    model = paddle.DataParallel(net) if world > 1 else net
    # every evaluation reads eval_iters global batches of the valid split; resume continues after the last one
    eval_consumed = train.global_batch_size * train.eval_iters * (state["global_step"] // train.eval_freq)
    batches = {"train": micro_batches(datasets["train"], train.micro_batch_size, state["consumed_samples"],
                                      train.num_workers),
               "valid": micro_batches(datasets["valid"], train.micro_batch_size, eval_consumed, 0)}
    writer = None
    if rank == 0:
        drop_log_rows_after(output / TRAIN_LOG, state["global_step"])
        writer = LogWriter(logdir=str(output / "visualdl"))
        writer.add_text("model_config", json.dumps(config.to_dict(), ensure_ascii=False), step=0)

    start_time = time.perf_counter()
    run = _Run(train, model, net, criterion, tokenizer, optimizer, lr, scaler, writer, output, world, rank, accumulate)
    history, trained_tokens = run.train_steps(batches, state, stop_at=train.max_steps)

    test_batches = micro_batches(datasets["test"], train.micro_batch_size, 0, 0)
    test = _evaluate(model, criterion, test_batches, train.test_iters * accumulate, train, world)
    seconds = time.perf_counter() - start_time
    summary = {
        "steps": train.max_steps,
        "final_train": history[-1] if history else None,
        "valid": state.get("valid"),
        "test": test,
        "tokens_per_second": trained_tokens / seconds if seconds and trained_tokens else None,
        "seconds": seconds,
        "checkpoint": str(last),
        "data_parallel": world,
    }
    if rank == 0:
        for key, value in test.items():
            writer.add_scalar(f"test/{key}", value, train.max_steps)
        writer.close()
        with atomic_write(summary_path) as handle:
            json.dump(summary, handle, indent=1, sort_keys=True)
            handle.write("\n")
    return summary


def _resume(last: Path, net, fingerprint: dict, global_batch: int, rank: int, world: int) -> dict:
    """The trainer state to start from: ``last``'s (its weights loaded into ``net``) or step 0's."""
    if rank == 0 and recover_directory(last):  # a crash fell between the renames of a checkpoint replace
        log.warning("recovered %s from the previous checkpoint", last)
    _barrier(world)
    state, resumed = resume_state(last, fingerprint, global_batch)
    if resumed:
        restore_weights(last, net)
        log.info("resuming from %s at step %d", last, state["global_step"])
    return state


@dataclass
class _Run:
    """What the training loop works with: the model (``model``: DataParallel over ``net`` on several ranks),
    its optimizer, schedule and loss scaler, the VisualDL writer (rank 0) and the process layout."""

    settings: TrainSettings
    model: object
    net: object
    criterion: object
    tokenizer: object
    optimizer: object
    lr: object
    scaler: object
    writer: object
    output: Path
    world: int
    rank: int
    accumulate: int

    def train_steps(self, batches: dict, state: dict, stop_at: int) -> tuple[list[dict], float]:
        """Train from ``state`` (updated in place) to step ``stop_at``; the logged records and trained tokens."""
        import paddle
        from tqdm import tqdm

        train, model, world, accumulate = self.settings, self.model, self.world, self.accumulate
        progress = tqdm(total=stop_at, initial=state["global_step"], desc="pretrain", unit="step", mininterval=5,
                        disable=self.rank != 0)
        history, trained_tokens = [], 0.0
        window = LogWindow(accumulate)
        micro_step = 0
        stop = StopRequest()  # SLURM's time limit or preemption: checkpoint at the end of the current step
        model.train()
        for batch in batches["train"]:
            if state["global_step"] >= stop_at:
                break
            # dropout draws from a stream seeded by (seed, step, micro-batch of the global batch): a resumed run
            # draws the masks an uninterrupted one does, and any number of ranks those of one accumulating rank
            # (Paddle's generator state does not survive pickling: only its seed does)
            # (global batch chunk c of micro-batches holds rank r's micro-batch at position c * world + r)
            paddle.seed(step_seed(train.seed, state["global_step"], (micro_step % accumulate) * world + self.rank))
            micro_step += 1
            boundary = micro_step % accumulate == 0
            with _autocast(train.amp, training=True):
                loss, lm, sop = _losses(model, self.criterion, batch, train.binary_head)
            scaled = loss / accumulate if self.scaler is None else self.scaler.scale(loss / accumulate)
            if world > 1 and not boundary:
                with model.no_sync():  # gradients are all-reduced once per step, at its last micro-batch
                    scaled.backward()
            else:
                scaled.backward()
            window.add((batch[0] != self.tokenizer.pad_token_id).sum(), loss=loss, lm_loss=lm, sop_loss=sop)
            if not boundary:
                continue
            self._apply_gradients()
            state["global_step"] += 1
            state["consumed_samples"] += train.global_batch_size
            step = state["global_step"]
            window.steps += 1
            progress.update(1)

            if step % train.logging_freq == 0 or step == stop_at:
                record, tokens = window.record(step, _mean_over_ranks, world)
                trained_tokens += tokens
                history.append(self._log(record))
            if step % train.eval_freq == 0 or step == train.max_steps:
                state["valid"] = self._validate(batches["valid"], step)
            stopping = stop.agreed(world) and step < stop_at
            self._save_due(step, state, stopping)
            if stopping:
                stop.restore()
                raise TrainingStopped(f"stopped by signal {stop.signal_name} after step {step} of {stop_at}; "
                                      f"{self.output / 'model_last'} holds step {step}: a rerun continues from it")
        progress.close()
        stop.restore()
        if state["global_step"] < stop_at:
            raise RuntimeError(f"the train sample map ran out at step {state['global_step']} of {stop_at}")
        return history, trained_tokens

    def _apply_gradients(self) -> None:
        if self.scaler is None:
            self.optimizer.step()
        else:
            self.scaler.step(self.optimizer)  # skipped when the scaled gradients overflowed
            self.scaler.update()
        self.lr.step()
        self.optimizer.clear_grad()

    def _log(self, record: dict) -> dict:
        """A logged step's record with the learning rate and loss scale; train_log.jsonl and VisualDL (rank 0)."""
        step = record["step"]
        record["learning_rate"] = self.optimizer.get_lr()
        if loss_scale(self.scaler) is not None:
            record["loss_scale"] = loss_scale(self.scaler)
        if not math.isfinite(record["loss"]):
            raise FloatingPointError(f"training loss is {record['loss']} at step {step}; lower train.max_lr")
        if self.rank == 0:
            log_train_record(self.writer, self.output, record, self.settings.binary_head)
        return record

    def _validate(self, valid_batches, step: int) -> dict:
        train = self.settings
        scores = _evaluate(self.model, self.criterion, valid_batches, train.eval_iters * self.accumulate, train,
                           self.world)
        if self.rank == 0:
            for key, value in scores.items():
                self.writer.add_scalar(f"valid/{key}", value, step)
            log.info("step %d valid %s", step, scores)
        return scores

    def _save_due(self, step: int, state: dict, stopping: bool) -> None:
        """model_<step> every save_steps, model_last every checkpoint_steps or when stopping, both at the end."""
        train = self.settings
        for due, path in ((step % train.save_steps == 0, self.output / f"model_{step}"),
                          (step % train.checkpoint_steps == 0 or stopping, self.output / "model_last")):
            if due or step == train.max_steps:
                if self.rank == 0:
                    save_checkpoint(path, self.net, self.tokenizer, self.optimizer, self.scaler, state)
                _barrier(self.world)


def _barrier(world: int) -> None:
    if world > 1:
        import paddle

        paddle.distributed.barrier()
