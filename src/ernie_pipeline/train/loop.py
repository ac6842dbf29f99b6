"""Stage 5: ERNIE pretraining (upstream ``run_pretrain.py``) as a chain of checkpoint targets, one readable loop.

Model: paddlenlp ``ErnieForPretraining`` (MLM head + sentence-order head) with
``ErniePretrainingCriterion``; AdamW (no decay on bias/norm), global-norm clipping, linear warmup then
linear decay to ``min_lr`` (``LinearAnnealingWithWarmupDecay``); gradient accumulation from
``global_batch_size / micro_batch_size``.

Three jobs make a run (``ernie_pipeline.train.chain`` plans them):

* :func:`init_checkpoint` writes ``model_0``: the seeded initial weights (or ``train.continue_training``'s);
* :func:`train_link` trains from the checkpoint before a save point to it, writing ``model_<step>``;
* ``ernie_pipeline.train.summary`` evaluates the last checkpoint on the test split and writes the summary.

Output folder::

    model_0/            the initial weights
    model_<step>/       every save_steps and at max_steps: the chain's checkpoints (each holds its link's logs)
    model_last/         every checkpoint_steps, and when SLURM stops a job: where a retried link continues
    train_log.jsonl, valid_log.jsonl, visualdl/    the live logs (ernie_pipeline.train.train_log)

Each checkpoint loads with ``ErnieForPretraining.from_pretrained(dir)`` and ``ErnieTokenizer.from_pretrained(dir)``
and also holds the optimizer (``model_state.pdopt``) and ``trainer_state.json`` (step, consumed samples).
Randomness is a function of the config and the position: samples are drawn from ``seed + sample index``,
dropout from a stream reseeded at every micro-batch from ``(seed, step, micro-batch)``; so a link continues
exactly where the checkpoint it starts from left off, and on CPU a chain of links equals one uninterrupted
job bit for bit.

Data parallel (``ernie_pipeline.train.launch`` starts the processes): each rank reads its slice of every global
batch and draws the dropout of the micro-batch it stands for, so N processes with micro-batch m follow the
trajectory of one process accumulating N micro-batches of m (up to the order of float sums); gradients are
all-reduced at the last micro-batch of a step only. Rank 0 logs and writes checkpoints. The number of
processes may change between links. On GPUs, AMP O1/O2 with dynamic loss scaling (``train.amp``,
``train.scale_loss``; the scaler's state is checkpointed in ``scaler.pdparams``) and recompute of the encoder
layers (``train.recompute``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path


import ernie_pipeline  # noqa: F401  (system zlib before paddle)
from ernie_pipeline.index.masking import Vocab
from ernie_pipeline.io.atomic import recover_directory
from ernie_pipeline.tokenize.tokenizer import load_tokenizer
from ernie_pipeline.train.build import (TrainData, build_datasets, build_model, build_optimizer, cycled_batches,
                                        micro_batches)
from ernie_pipeline.train.checkpoint import (initial_state, link_start, read_state, restore_optimizer,
                                             restore_weights, run_fingerprint, save_checkpoint)
from ernie_pipeline.train.models import check_train_settings
from ernie_pipeline.train.settings import TrainSettings
from ernie_pipeline.train.signals import StopRequest, TrainingStopped
from ernie_pipeline.train.step import (autocast, barrier, evaluate, loss_scale, losses, mean_over_ranks,
                                       start_process, step_seed)
from ernie_pipeline.train.train_log import LogWindow, RunLog

log = logging.getLogger(__name__)

def init_checkpoint(tokenizer_source: str, train: TrainSettings, path: str) -> None:
    """model_0: the model's initial weights, drawn on the CPU from ``train.seed`` (the same on every device),
    or ``train.continue_training``'s."""
    import paddle

    paddle.set_device("cpu")
    paddle.seed(train.seed)
    tokenizer = load_tokenizer(tokenizer_source)
    net, _, _ = build_model(train, len(tokenizer.vocab))
    save_checkpoint(Path(path), net, tokenizer, None, None, initial_state(train))


def train_link(data: TrainData, train: TrainSettings, output_dir: str, previous: str, end: int) -> dict:
    """Train from checkpoint ``previous`` (the chain's checkpoint before save point ``end``, or model_last where a
    retried job left it inside the link) to step ``end``, and write ``model_<end>`` in ``output_dir``; the
    checkpoint's trainer state."""
    import paddle

    output, last = Path(output_dir), Path(output_dir) / "model_last"
    world, rank = start_process(train)
    check_train_settings(train, world)
    accumulate = train.global_batch_size // (train.micro_batch_size * world)

    tokenizer = load_tokenizer(data.tokenizer)
    datasets, train_records = build_datasets(data, train, tokenizer, Vocab.from_tokenizer(tokenizer))
    net, config, criterion = build_model(train, len(tokenizer.vocab))
    if rank == 0 and recover_directory(last):  # a crash fell between the renames of a checkpoint replace
        log.warning("recovered %s from the previous checkpoint", last)
    barrier(world)
    run = run_fingerprint(train, train_records)
    start, state = link_start(Path(previous), last, end, run)
    state.update(run=run, data_parallel=world)  # model_0's state holds no data
    link_begins = read_state(Path(previous))["global_step"]
    log.info("training steps %d..%d from %s (step %d)", link_begins + 1, end, start, state["global_step"])
    restore_weights(start, net)
    lr, optimizer, scaler, net = build_optimizer(train, net, state["global_step"])
    restore_optimizer(start, optimizer, scaler, state["global_step"])
    model = paddle.DataParallel(net) if world > 1 else net
    # every evaluation reads eval_iters global batches of the valid split; a link continues after the last one
    eval_consumed = train.global_batch_size * train.eval_iters * (state["global_step"] // train.eval_freq)
    batches = {"train": micro_batches(datasets["train"], train.micro_batch_size, state["consumed_samples"],
                                      train.num_workers),
               "valid": cycled_batches(datasets["valid"], "valid", train.micro_batch_size, train.global_batch_size,
                                       eval_consumed)}
    run_log = RunLog(output, state["global_step"], config.to_dict(), train.binary_head) if rank == 0 else None
    barrier(world)  # rank 0 may take a while to rewrite the live logs: the first all-reduce must not wait for it

    steps = _Run(settings=train, model=model, net=net, criterion=criterion, tokenizer=tokenizer, optimizer=optimizer,
                 lr=lr, scaler=scaler, run_log=run_log, output=output, world=world, rank=rank, accumulate=accumulate)
    steps.train_steps(batches, state, link_begins, end)
    if run_log:
        run_log.close()
    return state


def pretrain(data: TrainData, train: TrainSettings, output_dir: str, summary_path: str) -> dict:
    """The whole chain in this process (model_0, each link, the summary), as the workflow's jobs would make it:
    for benchmarks and tests."""
    from paddle.utils import unique_name

    from ernie_pipeline.train.chain import save_points
    from ernie_pipeline.train.summary import summarize

    output = Path(output_dir)
    init_checkpoint(data.tokenizer, train, str(output / "model_0"))
    previous = output / "model_0"
    for step in save_points(train):
        # Paddle names parameters (and the optimizer's state after them) from a process-wide counter: each
        # link counts from zero, as in the job of its own
        with unique_name.guard():
            train_link(data, train, output_dir, str(previous), step)
        previous = output / f"model_{step}"
    return summarize(data, train, output_dir, [str(output / f"model_{s}") for s in save_points(train)], summary_path)


@dataclass(kw_only=True)
class _Run:
    """What the training loop works with: the model (``model``: DataParallel over ``net`` on several ranks),
    its optimizer, schedule and loss scaler, the live logs (rank 0) and the process layout."""

    settings: TrainSettings
    model: object
    net: object
    criterion: object
    tokenizer: object
    optimizer: object
    lr: object
    scaler: object
    run_log: RunLog | None
    output: Path
    world: int
    rank: int
    accumulate: int
    step_lr: float = 0.0  # the learning rate of the last step taken

    def train_steps(self, batches: dict, state: dict, link_begins: int, end: int) -> None:
        """Train from ``state`` (updated in place) to step ``end`` and save model_<end> with the rows logged since
        step ``link_begins``."""
        import paddle
        from tqdm import tqdm

        train, model, world, accumulate = self.settings, self.model, self.world, self.accumulate
        progress = tqdm(total=end, initial=state["global_step"], desc="pretrain", unit="step", mininterval=5,
                        disable=self.rank != 0)
        window = LogWindow(accumulate)
        micro_step = 0
        stop = StopRequest()  # SLURM's time limit or preemption: checkpoint at the end of the current step
        model.train()
        for batch in batches["train"]:
            if state["global_step"] >= end:
                break
            # dropout draws from a stream seeded by (seed, step, micro-batch of the global batch): a resumed run
            # draws the masks an uninterrupted one does, and any number of ranks those of one accumulating rank
            # (Paddle's generator state does not survive pickling: only its seed does)
            # (global batch chunk c of micro-batches holds rank r's micro-batch at position c * world + r)
            paddle.seed(step_seed(train.seed, state["global_step"], (micro_step % accumulate) * world + self.rank))
            micro_step += 1
            boundary = micro_step % accumulate == 0
            with autocast(train.amp, training=True):
                loss, lm, sop = losses(model, self.criterion, batch, train.binary_head)
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

            if step % train.logging_freq == 0 or step == end:  # a link's last step is logged: its rows are whole
                self._log(window.record(step, mean_over_ranks, world))
            if step % train.eval_freq == 0:
                self._validate(batches["valid"], step)
            stopping = stop.agreed(world) and step < end
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

    def _apply_gradients(self) -> None:
        # the rate this step trains with: the schedule moves on to the next step's below
        self.step_lr = self.optimizer.get_lr()
        if self.scaler is None:
            self.optimizer.step()
        else:
            self.scaler.step(self.optimizer)  # skipped when the scaled gradients overflowed
            self.scaler.update()
        self.lr.step()
        self.optimizer.clear_grad()

    def _log(self, record: dict) -> None:
        """A logged step's record with the learning rate and loss scale, to the live logs (rank 0)."""
        record["learning_rate"] = self.step_lr
        if loss_scale(self.scaler) is not None:
            record["loss_scale"] = loss_scale(self.scaler)
        if not math.isfinite(record["loss"]):
            raise FloatingPointError(f"training loss is {record['loss']} at step {record['step']}; lower train.max_lr")
        if self.run_log:
            self.run_log.train(record)

    def _validate(self, valid_batches, step: int) -> None:
        train = self.settings
        scores = evaluate(self.model, self.criterion, valid_batches, train.eval_iters * self.accumulate, train,
                           self.world)
        if self.run_log and scores:
            self.run_log.valid(step, scores)

    def _save(self, path: Path, state: dict, logs: dict | None = None) -> None:
        if self.rank == 0:
            save_checkpoint(path, self.net, self.tokenizer, self.optimizer, self.scaler, state, logs=logs)
        barrier(self.world)
