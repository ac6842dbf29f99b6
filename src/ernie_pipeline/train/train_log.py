"""What training logs per logged step: the window of losses it averages, train_log.jsonl (full precision, each
step once, also across resumes), VisualDL scalars and a log line."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ernie_pipeline.io.atomic import atomic_write

log = logging.getLogger(__name__)


TRAIN_LOG = "train_log.jsonl"  # every logged step's losses, learning rate and throughput (each step once)


def new_window() -> dict:
    return {"loss": 0.0, "lm_loss": 0.0, "sop_loss": 0.0, "tokens": 0, "steps": 0}


def add_to_window(window: dict, accumulate: int, **losses) -> None:
    """Add a micro-batch's losses (tensors, or None) to the logging window. Summed as tensors (a float() per
    micro-batch would wait for the device every time), in float32: O2's float16 losses summed over a window of
    thousands of micro-batches would stall (float16 has 11 significant bits: 2048 + 1 == 2048)."""
    for key, value in losses.items():
        if value is not None:
            window[key] += value.detach().astype("float32") / accumulate


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
