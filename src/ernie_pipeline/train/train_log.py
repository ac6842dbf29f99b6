"""What training logs: the window of losses a logged step averages, and the run's live logs in the pretrain
folder (rank 0), kept as one continuous run over the links of the chain:

* ``train_log.jsonl``: every logged step's losses, learning rate and throughput, at full precision;
* ``valid_log.jsonl``: every evaluation's valid losses;
* ``visualdl/``: their scalars as one VisualDL run (VisualDL shows one log file per folder, so each link
  starts a new file, writes the rows of the steps before it again, and removes the older file).

A link starts by dropping the rows past the checkpoint it starts from (logged by an attempt that died before
its next checkpoint, they are trained and logged again), so each step appears once. Each checkpoint keeps the
rows of its own link (:meth:`RunLog.rows_since`); the pretrain summary is made from those.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from ernie_pipeline.io.atomic import atomic_write

log = logging.getLogger(__name__)


TRAIN_LOG = "train_log.jsonl"
VALID_LOG = "valid_log.jsonl"
VISUALDL_DIR = "visualdl"
TRAIN_SCALARS = ("loss", "lm_loss", "sop_loss", "learning_rate", "tokens_per_second", "steps_per_second",
                 "loss_scale")
EVAL_SCALARS = ("loss", "lm_loss", "sop_loss")


class LogWindow:
    """The micro-batch losses and tokens since the last logged step, turned into that step's record."""

    KEYS = ("loss", "lm_loss", "sop_loss")

    def __init__(self, accumulate: int, float32):
        """``float32``: the backend's loss tensor as float32 (detached)."""
        self.accumulate, self.float32 = accumulate, float32
        self.reset()

    def reset(self) -> None:
        self.sums = dict.fromkeys(self.KEYS, 0.0)
        self.tokens, self.steps, self.start = 0, 0, time.perf_counter()

    def add(self, tokens, **losses) -> None:
        """Add a micro-batch's losses (tensors, or None) and its count of non-padding tokens. Summed as tensors
        (a float() per micro-batch would wait for the device every time), in float32: O2's float16 losses
        summed over a window of thousands of micro-batches would stall (float16 has 11 significant bits:
        2048 + 1 == 2048)."""
        for key, value in losses.items():
            if value is not None:
                self.sums[key] += self.float32(value) / self.accumulate
        self.tokens += tokens

    def record(self, step: int, mean_over_ranks, world: int) -> dict:
        """The logged step's record: losses averaged over its steps and the ranks (``mean_over_ranks``: the backend's,
        over its ``world`` ranks), all ranks' tokens and the seconds the window took; the window starts anew."""
        *means, tokens = mean_over_ranks([self.sums[k] / self.steps for k in self.KEYS] + [self.tokens])
        tokens *= world
        elapsed = time.perf_counter() - self.start
        record = {**dict(zip(self.KEYS, means)), "step": step, "tokens": int(tokens), "seconds": elapsed,
                  "tokens_per_second": tokens / elapsed, "steps_per_second": self.steps / elapsed}
        self.reset()
        return record


def drop_log_rows_after(path: Path, step: int) -> None:
    """Keep the rows of ``path`` (a jsonl log) up to ``step``; a torn last line goes too. Streamed, so a long
    run's log is never held in memory."""
    if not path.is_file():
        return
    with open(path, encoding="utf-8") as rows, atomic_write(path) as kept:
        for row in rows:
            try:
                if json.loads(row)["step"] <= step:
                    kept.write(row)
            except (json.JSONDecodeError, KeyError, TypeError):
                continue


def read_rows(path: Path, after: int = -1) -> Iterator[dict]:
    """The rows of a jsonl log past step ``after``, one at a time."""
    if not path.is_file():
        return
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            if row["step"] > after:
                yield row


def open_visualdl(folder: Path, train_rows: Iterable[dict], valid_rows: Iterable[dict], model_config: dict,
                  binary_head: bool):
    """A VisualDL writer in ``folder`` that continues the run: the older log file removed, the rows so far
    written again. Where VisualDL is not installed (a bare GPU machine running the smoke test with torch alone), a
    writer that writes nothing, with a warning: the jsonl logs hold every row."""
    try:
        from visualdl import LogWriter
    except ImportError:
        log.warning("VisualDL is not installed: no %s (train_log.jsonl and valid_log.jsonl hold every row)", folder)
        return _NoWriter()

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("vdlrecords.*.log"):
        old.unlink()
    writer = LogWriter(logdir=str(folder))
    writer.add_text("model_config", json.dumps(model_config, ensure_ascii=False), step=0)
    for row in train_rows:
        add_scalars(writer, "train", row, TRAIN_SCALARS, binary_head)
    for row in valid_rows:
        add_scalars(writer, "valid", row, EVAL_SCALARS, binary_head)
    return writer


class _NoWriter:
    def add_scalar(self, *args, **kwargs) -> None:
        pass

    add_text = add_scalar

    def close(self) -> None:
        pass


def add_scalars(writer, split: str, row: dict, keys: tuple[str, ...], binary_head: bool) -> None:
    for key in keys:
        if key in row and (key != "sop_loss" or binary_head):
            writer.add_scalar(f"{split}/{key}", row[key], row["step"])


class RunLog:
    """The live logs of the run in ``folder`` (rank 0 only), continued from step ``start``."""

    def __init__(self, folder: Path, start: int, model_config: dict, binary_head: bool):
        self.folder, self.binary_head = Path(folder), binary_head
        for name in (TRAIN_LOG, VALID_LOG):
            drop_log_rows_after(self.folder / name, start)
        self.writer = open_visualdl(self.folder / VISUALDL_DIR, read_rows(self.folder / TRAIN_LOG),
                                    read_rows(self.folder / VALID_LOG), model_config, binary_head)

    def train(self, record: dict) -> None:
        """One logged step: a row of train_log.jsonl, VisualDL scalars and a log line."""
        self._append(TRAIN_LOG, record)
        add_scalars(self.writer, "train", record, TRAIN_SCALARS, self.binary_head)
        log.info("step %d loss %.4f lm_loss %.4f sop_loss %.4f lr %.3e %.0f tokens/s%s", record["step"],
                 record["loss"], record["lm_loss"], record["sop_loss"], record["learning_rate"],
                 record["tokens_per_second"], f" loss scale {record['loss_scale']:g}" if "loss_scale" in record else "")

    def valid(self, step: int, scores: dict) -> None:
        row = {"step": step, **scores}
        self._append(VALID_LOG, row)
        add_scalars(self.writer, "valid", row, EVAL_SCALARS, self.binary_head)
        log.info("step %d valid %s", step, scores)

    def rows_since(self, step: int) -> dict[str, str]:
        """The rows logged past ``step`` (the checkpoint the link started from), for a checkpoint to keep."""
        return {name: "".join(json.dumps(row) + "\n" for row in read_rows(self.folder / name, after=step))
                for name in (TRAIN_LOG, VALID_LOG)}

    def close(self) -> None:
        self.writer.close()

    def _append(self, name: str, row: dict) -> None:
        with open(self.folder / name, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
