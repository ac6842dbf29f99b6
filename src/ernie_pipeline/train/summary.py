"""The pretraining run's summary, from the chain's checkpoints: the rows each link logged, put together; the
last checkpoint's loss on the test split; a training curve (losses and learning rate vs step); and the live
VisualDL run rewritten from those rows with the test scalars added, so it is whole whatever order links ran in.

``summary.json``::

    steps             the last checkpoint's step (train.max_steps)
    final_train       the last logged train row (losses, learning rate, throughput)
    valid             the last evaluation's valid losses (every train.eval_freq steps), or null
    test              the last checkpoint's test losses (train.test_iters global batches)
    tokens_per_second all the chain's trained tokens over the seconds its logged windows took
    seconds           those seconds (training steps only: not evaluation, checkpoints or job starts)
    checkpoint        the last checkpoint; checkpoints: every one of the chain
    data_parallel     the processes of the last link
"""

from __future__ import annotations

import json
from pathlib import Path

from ernie_pipeline.io.atomic import atomic_outputs
from ernie_pipeline.train.backend import open_backend
from ernie_pipeline.train.build import TrainData, build_datasets, cycled_batches
from ernie_pipeline.train.checkpoint import read_state, verify_checkpoint
from ernie_pipeline.train.settings import TrainSettings
from ernie_pipeline.train.train_log import (EVAL_SCALARS, TRAIN_LOG, VALID_LOG, VISUALDL_DIR, add_scalars,
                                            open_visualdl, read_rows)


def chain_rows(checkpoints: list[str], name: str) -> list[dict]:
    """The rows of log ``name`` that the chain's checkpoints kept, in order (each holds its own link's)."""
    return [row for folder in checkpoints for row in read_rows(Path(folder) / name)]


def test_losses(data: TrainData, train: TrainSettings, checkpoint: Path) -> dict:
    """The checkpoint's losses on the first train.test_iters global batches of the test split (one process)."""
    backend = open_backend(train, data.tokenizer)
    datasets, _ = build_datasets(data, train, backend.vocab, backend.vocab_fingerprint)
    backend.build(checkpoint, read_state(checkpoint)["global_step"], training=False)
    accumulate = train.global_batch_size // train.micro_batch_size
    batches = cycled_batches(backend.loader, datasets["test"], "test", train.micro_batch_size,
                             train.global_batch_size, 0)
    return backend.evaluate(batches, train.test_iters * accumulate)


def summarize(data: TrainData, train: TrainSettings, output_dir: str, checkpoints: list[str], summary_path: str,
              curve_path: str | None = None) -> dict:
    """Write the run's summary (and its training curve) from the chain's ``checkpoints``, in step order."""
    final = Path(checkpoints[-1])
    verify_checkpoint(final)
    state = read_state(final)
    train_rows, valid_rows = chain_rows(checkpoints, TRAIN_LOG), chain_rows(checkpoints, VALID_LOG)
    test = test_losses(data, train, final)
    seconds = sum(row.get("seconds", 0.0) for row in train_rows)
    summary = {
        "steps": state["global_step"],
        "final_train": train_rows[-1] if train_rows else None,
        "valid": {k: valid_rows[-1][k] for k in EVAL_SCALARS if k in valid_rows[-1]} if valid_rows else None,
        "test": test,
        "tokens_per_second": sum(row.get("tokens", 0) for row in train_rows) / seconds if seconds else None,
        "seconds": seconds,
        "checkpoint": str(final),
        "checkpoints": [str(c) for c in checkpoints],
        "data_parallel": state.get("data_parallel", 1),
    }
    config = json.loads((final / "config.json").read_text())
    writer = open_visualdl(Path(output_dir) / VISUALDL_DIR, train_rows, valid_rows, config, train.binary_head)
    add_scalars(writer, "test", {"step": summary["steps"], **test}, EVAL_SCALARS, train.binary_head)
    writer.close()
    outputs = [summary_path] + ([curve_path] if curve_path else [])
    with atomic_outputs(*outputs) as tmps:
        tmps[0].write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
        if curve_path:
            plot_training_curve(train_rows, valid_rows, tmps[1], train.binary_head)
    return summary


def plot_training_curve(train_rows: list[dict], valid_rows: list[dict], path: Path, binary_head: bool) -> None:
    """Losses (train and valid) and the learning rate against the step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (losses, rate) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True, height_ratios=(3, 1))
    steps = [row["step"] for row in train_rows]
    for key, style in (("loss", "-"), ("lm_loss", "--"), ("sop_loss", ":")):
        if key != "sop_loss" or binary_head:
            losses.plot(steps, [row[key] for row in train_rows], style, label=f"train {key}", color="#4477aa")
    if valid_rows:
        losses.plot([row["step"] for row in valid_rows], [row["loss"] for row in valid_rows], "o-",
                    label="valid loss", color="#ee6677")
    losses.set_ylabel("loss")
    losses.legend(fontsize=8)
    losses.set_title(f"Pretraining: {steps[-1] if steps else 0} steps")
    rate.plot(steps, [row["learning_rate"] for row in train_rows], color="#228833")
    rate.set_ylabel("learning rate")
    rate.set_xlabel("step")
    figure.tight_layout()
    # PNG metadata carries the matplotlib version and no date: the same rows, the same bytes
    figure.savefig(path, format="png", dpi=100, metadata={"Software": None})
    plt.close(figure)
