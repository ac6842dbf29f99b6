"""What training logs per logged step: the window of losses it averages, train_log.jsonl (full precision, each
step once, also across resumes), VisualDL scalars and a log line."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from ernie_pipeline.io.atomic import atomic_write

log = logging.getLogger(__name__)


TRAIN_LOG = "train_log.jsonl"  # every logged step's losses, learning rate and throughput (each step once)


class LogWindow:
    """The micro-batch losses and tokens since the last logged step, turned into that step's record."""

    KEYS = ("loss", "lm_loss", "sop_loss")

    def __init__(self, accumulate: int):
        self.accumulate = accumulate
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
                self.sums[key] += value.detach().astype("float32") / self.accumulate
        self.tokens += tokens

    def record(self, step: int, mean_over_ranks, world: int) -> tuple[dict, float]:
        """The logged step's record (losses averaged over its steps and the ranks, all ranks' tokens per
        second) and all ranks' tokens; the window starts anew."""
        *means, tokens = mean_over_ranks([self.sums[k] / self.steps for k in self.KEYS] + [self.tokens], world)
        tokens *= world
        elapsed = time.perf_counter() - self.start
        record = {**dict(zip(self.KEYS, means)), "step": step, "tokens_per_second": tokens / elapsed,
                  "steps_per_second": self.steps / elapsed}
        self.reset()
        return record, tokens


def drop_log_rows_after(path: Path, step: int) -> None:
    """Keep the rows of ``path`` (train_log.jsonl) up to ``step``, the checkpoint a run starts from: later ones
    were logged by an attempt that died before its next checkpoint, and are trained and logged again (a torn
    last line goes too). Streamed, so a long run's log is never held in memory."""
    if not path.is_file():
        return
    with open(path, encoding="utf-8") as rows, atomic_write(path) as kept:
        for row in rows:
            try:
                if json.loads(row)["step"] <= step:
                    kept.write(row)
            except (json.JSONDecodeError, KeyError, TypeError):
                continue


def log_train_record(writer, output: Path, record: dict, binary_head: bool) -> None:
    """One logged step: VisualDL scalars, a log line and a line of train_log.jsonl (full precision)."""
    step = record["step"]
    for key in ("loss", "lm_loss", "sop_loss", "learning_rate", "tokens_per_second", "steps_per_second",
                "loss_scale"):
        if key in record and (key != "sop_loss" or binary_head):
            writer.add_scalar(f"train/{key}", record[key], step)
    log.info("step %d loss %.4f lm_loss %.4f sop_loss %.4f lr %.3e %.0f tokens/s%s", step, record["loss"],
             record["lm_loss"], record["sop_loss"], record["learning_rate"], record["tokens_per_second"],
             f" loss scale {record['loss_scale']:g}" if "loss_scale" in record else "")
    with open(output / TRAIN_LOG, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
