"""Stage 5: ERNIE pretraining (upstream ``run_pretrain.py``) as a chain of checkpoint targets, one readable loop
for both backends (``train.backend``: Paddle + paddlenlp, or PyTorch + transformers: :mod:`ernie_pipeline.train.backend`).

The model is ERNIE with its MLM head (scored on the masked positions only) and sentence-order head; AdamW (no decay
on biases and LayerNorm weights), global-norm clipping, linear warmup then linear decay to ``min_lr``; gradient
accumulation from ``global_batch_size / micro_batch_size``.

Three jobs make a run (``ernie_pipeline.train.chain`` plans them):

* :func:`init_checkpoint` writes ``model_0``: the seeded initial weights (or ``train.continue_training``'s);
* :func:`train_link` trains from the checkpoint before a save point to it, writing ``model_<step>``;
* ``ernie_pipeline.train.summary`` evaluates the last checkpoint on the test split and writes the summary.

Output folder::

    model_0/            the initial weights
    model_<step>/       every save_steps and at max_steps: the chain's checkpoints (each holds its link's logs)
    model_last/         every checkpoint_steps, and when SLURM stops a job: where a retried link continues
    train_log.jsonl, valid_log.jsonl, visualdl/    the live logs (ernie_pipeline.train.train_log)

Each checkpoint holds the model and tokenizer in its backend's format (paddlenlp's ``from_pretrained``, or a Hugging
Face folder), the optimizer's state and ``trainer_state.json`` (step, consumed samples, the run's fingerprint,
every file's checksum). Randomness is a function of the config and the position: samples are drawn from
``seed + sample index``, dropout from a stream reseeded at every micro-batch from ``(seed, step, micro-batch)``;
so a link continues exactly where the checkpoint it starts from left off, and on CPU a chain of links equals one
uninterrupted job bit for bit.

Data parallel (``ernie_pipeline.train.launch`` starts the processes): each rank reads its slice of every global
batch and draws the dropout of the micro-batch it stands for, so N processes with micro-batch m follow the
trajectory of one process accumulating N micro-batches of m (up to the order of float sums); gradients are
all-reduced at the last micro-batch of a step only. Rank 0 logs and writes checkpoints. The number of
processes may change between links.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import ernie_pipeline  # noqa: F401  (system zlib before paddle)
from ernie_pipeline.io.atomic import recover_directory
from ernie_pipeline.train.backend import open_backend
from ernie_pipeline.train.build import TrainData, build_datasets, cycled_batches
from ernie_pipeline.train.checkpoint import initial_state, link_start, read_state, run_fingerprint
from ernie_pipeline.train.models import check_train_settings
from ernie_pipeline.train.settings import TrainSettings
from ernie_pipeline.train.signals import StopRequest, TrainingStopped
from ernie_pipeline.train.train_log import LogWindow, RunLog

log = logging.getLogger(__name__)


def step_seed(seed: int, step: int, micro_batch: int) -> int:
    """The dropout seed of one micro-batch: distinct for every (seed, step, micro-batch), below 2**63."""
    digest = hashlib.sha256(f"{seed}:{step}:{micro_batch}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def init_checkpoint(tokenizer_source: str, train: TrainSettings, path: str) -> None:
    """model_0: the model's initial weights, drawn on the CPU from ``train.seed`` (the same on every device),
    or ``train.continue_training``'s."""
    open_backend(train, tokenizer_source, start_process=False).init_checkpoint(Path(path), initial_state(train))


def train_link(data: TrainData, train: TrainSettings, output_dir: str, previous: str, end: int) -> dict:
    """Train from checkpoint ``previous`` (the chain's checkpoint before save point ``end``, or model_last where a
    retried job left it inside the link) to step ``end``, and write ``model_<end>`` in ``output_dir``; the
    checkpoint's trainer state."""
    output, last = Path(output_dir), Path(output_dir) / "model_last"
    backend = open_backend(train, data.tokenizer)
    world, rank = backend.world, backend.rank
    check_train_settings(train, world)
    accumulate = train.global_batch_size // (train.micro_batch_size * world)

    datasets, train_records = build_datasets(data, train, backend.vocab, backend.vocab_fingerprint)
    if rank == 0 and recover_directory(last):  # a crash fell between the renames of a checkpoint replace
        log.warning("recovered %s from the previous checkpoint", last)
    backend.barrier()
    run = run_fingerprint(train, train_records)
    start, state = link_start(Path(previous), last, end, run)
    state.update(run=run, data_parallel=world)  # model_0's state holds no data
    link_begins = read_state(Path(previous))["global_step"]
    log.info("training steps %d..%d from %s (step %d)", link_begins + 1, end, start, state["global_step"])
    backend.build(start, state["global_step"])
    # every evaluation reads eval_iters global batches of the valid split; a link continues after the last one
    eval_consumed = train.global_batch_size * train.eval_iters * (state["global_step"] // train.eval_freq)
    batches = {"train": backend.loader(datasets["train"], train.micro_batch_size, state["consumed_samples"],
                                       train.num_workers),
               "valid": cycled_batches(backend.loader, datasets["valid"], "valid", train.micro_batch_size,
                                       train.global_batch_size, eval_consumed)}
    run_log = RunLog(output, state["global_step"], backend.model_config, train.binary_head) if rank == 0 else None
    backend.barrier()  # rank 0 may take a while to rewrite the live logs: the first all-reduce must not wait for it

    Loop(settings=train, backend=backend, run_log=run_log, output=output, accumulate=accumulate).train_steps(
        batches, state, link_begins, end)
    if run_log:
        run_log.close()
    return state


def pretrain(data: TrainData, train: TrainSettings, output_dir: str, summary_path: str) -> dict:
    """The whole chain in this process (model_0, each link, the summary), as the workflow's jobs would make it:
    for benchmarks and tests."""
    from ernie_pipeline.train.chain import save_points
    from ernie_pipeline.train.summary import summarize

    output = Path(output_dir)
    init_checkpoint(data.tokenizer, train, str(output / "model_0"))
    previous = output / "model_0"
    for step in save_points(train):
        with _fresh_names(train):
            train_link(data, train, output_dir, str(previous), step)
        previous = output / f"model_{step}"
    return summarize(data, train, output_dir, [str(output / f"model_{s}") for s in save_points(train)], summary_path)


def _fresh_names(train: TrainSettings):
    """Paddle names parameters (and the optimizer's state after them) from a process-wide counter: each link counts
    from zero, as in the job of its own."""
    import contextlib

    if train.backend != "paddle":
        return contextlib.nullcontext()
    from paddle.utils import unique_name

    return unique_name.guard()


@dataclass(kw_only=True)
class Loop:
    """The training loop of one link: the backend that computes, the live logs (rank 0), the output folder and the
    micro-batches each step accumulates."""

    settings: TrainSettings
    backend: object
    run_log: RunLog | None
    output: Path
    accumulate: int

    def train_steps(self, batches: dict, state: dict, link_begins: int, end: int) -> None:
        """Train from ``state`` (updated in place) to step ``end`` and save model_<end> with the rows logged since
        step ``link_begins``."""
        from tqdm import tqdm

        train, backend, accumulate = self.settings, self.backend, self.accumulate
        world, rank = backend.world, backend.rank
        progress = tqdm(total=end, initial=state["global_step"], desc="pretrain", unit="step", mininterval=5,
                        disable=rank != 0)
        window = LogWindow(accumulate, backend.float32)
        micro_step = 0
        stop = StopRequest()  # SLURM's time limit or preemption: checkpoint at the end of the current step
        for batch in batches["train"]:
            if state["global_step"] >= end:
                break
            # dropout draws from a stream seeded by (seed, step, micro-batch of the global batch): a resumed run
            # draws the masks an uninterrupted one does, and any number of ranks those of one accumulating rank
            # (the generators' state does not survive a checkpoint: only its seed does)
            # (global batch chunk c of micro-batches holds rank r's micro-batch at position c * world + r)
            backend.seed(step_seed(train.seed, state["global_step"], (micro_step % accumulate) * world + rank))
            micro_step += 1
            boundary = micro_step % accumulate == 0
            loss, lm, sop = backend.forward_backward(batch, accumulate, sync=boundary)
            window.add(backend.tokens(batch), loss=loss, lm_loss=lm, sop_loss=sop)
            if not boundary:
                continue
            learning_rate = backend.apply_gradients()
            state["global_step"] += 1
            state["consumed_samples"] += train.global_batch_size
            step = state["global_step"]
            window.steps += 1
            progress.update(1)

            if step % train.logging_freq == 0 or step == end:  # a link's last step is logged: its rows are whole
                self._log(window.record(step, backend.mean_over_ranks, world), learning_rate)
            if step % train.eval_freq == 0:
                self._validate(batches["valid"], step)
            stopping = stop.agreed(backend.any_rank) and step < end
            if step % train.checkpoint_steps == 0 and step < end or stopping:
                self._save(self.output / "model_last", state)
            if stopping:
                stop.restore()
                raise TrainingStopped(f"stopped by signal {stop.signal_name} after step {step} of {end}; "
                                      f"{self.output / 'model_last'} holds step {step}: a rerun continues from it")
        progress.close()
        stop.restore()
        if state["global_step"] < end:
            raise RuntimeError(f"the train sample map ran out at step {state['global_step']} of {end}")
        self._save(self.output / f"model_{end}", state, self.run_log.rows_since(link_begins) if self.run_log else None)

    def _log(self, record: dict, learning_rate: float) -> None:
        """A logged step's record with the rate the step trained with and the loss scale, to the live logs (rank 0)."""
        record["learning_rate"] = learning_rate
        scale = self.backend.loss_scale()
        if scale is not None:
            record["loss_scale"] = scale
        if not math.isfinite(record["loss"]):
            raise FloatingPointError(f"training loss is {record['loss']} at step {record['step']}; lower train.max_lr")
        if self.run_log:
            self.run_log.train(record)

    def _validate(self, valid_batches, step: int) -> None:
        scores = self.backend.evaluate(valid_batches, self.settings.eval_iters * self.accumulate)
        if self.run_log and scores:
            self.run_log.valid(step, scores)

    def _save(self, path: Path, state: dict, logs: dict | None = None) -> None:
        if self.backend.rank == 0:
            self.backend.save(path, state, logs)
        self.backend.barrier()
