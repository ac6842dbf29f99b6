"""Training as a chain of checkpoint targets (pure functions: the workflow plans with them, training checks
with them).

The chain's links end at the save points: every ``train.save_steps`` multiple below ``max_steps``, and
``max_steps``. ``model_0`` holds the initial weights; the job that makes ``model_<k>`` starts from the save
point before it (``model_<j>``) and trains steps j+1..k. With ``train.steps_per_job`` consecutive links share
one SLURM job (a Snakemake job group): fewer, longer jobs, every save point still a target.

What a chain's checkpoints depend on is its *trajectory*: every setting that changes the weights of step k
(data, model, seed, batch, optimizer, schedule, masking, precision, the backend: a torch link never continues a
Paddle checkpoint). The others (:data:`NEUTRAL_KEYS`:
logging, evaluation, checkpoint cadence, workers, threads, process layout, link length, recompute, torch.compile,
the Python of the torch processes) may change without
making a checkpoint stale. ``max_steps`` is neutral too where the learning-rate schedule does not depend on
it (``decay_steps`` and ``warmup_steps`` given): raising it then only adds links.

Worked example (save_steps 3, max_steps 7, steps_per_job 6): save points 3, 6, 7; model_3 from model_0,
model_6 from model_3, model_7 from model_6; jobs grouped as steps 1-6 {model_3, model_6} and steps 7-7 {model_7}.
"""

from __future__ import annotations

import math

from ernie_pipeline.settings import as_section

# settings that do not change the trajectory; the schedule's own keys are replaced by the steps they give
NEUTRAL_KEYS = ("logging_freq", "eval_freq", "eval_iters", "test_iters", "save_steps", "checkpoint_steps",
                "steps_per_job", "num_workers", "threads", "nproc_per_node", "nnodes", "master_port",
                "rendezvous_timeout", "recompute", "compile", "python")
SCHEDULE_KEYS = ("max_steps", "warmup_rate", "warmup_steps", "decay_steps")


def schedule_steps(train) -> tuple[int | float, int]:
    """(warmup steps, decay steps) of the learning-rate schedule (``train``: TrainSettings): warmup_steps, else
    warmup_rate x max_steps as upstream passes it, the exact product (0.01 x 20 = 0.2 warms up over a fifth of a
    step, 0.29 x 100 = 28.999999999999996; an int where it is whole); decay_steps, else max_steps."""
    if train.warmup_steps is not None:
        return train.warmup_steps, train.decay_steps or train.max_steps
    warmup = train.warmup_rate * train.max_steps
    return int(warmup) if warmup.is_integer() else warmup, train.decay_steps or train.max_steps


def learning_rate(train, step: int) -> float:
    """The rate step ``step`` trains with: upstream's ``LinearAnnealingWithWarmupDecay`` at index ``step`` (linear
    warmup from 0 over the warmup steps, then linear decay to min_lr at the decay steps, min_lr after), computed as
    paddlenlp computes it."""
    warmup, decay = schedule_steps(train)
    if warmup > 0 and step <= warmup:
        return float(train.max_lr) * step / warmup
    if step > decay:
        return train.min_lr
    return train.min_lr + (1.0 - float(step - warmup) / float(decay - warmup)) * (train.max_lr - train.min_lr)


def horizon(train) -> int:
    """The steps the run plans for: max_steps, or decay_steps where larger (the train sample map holds that
    many global batches, so max_steps can grow to it without a new map)."""
    return max(train.max_steps, train.decay_steps or 0)


def map_samples(train) -> dict[str, int | None]:
    """The samples each split's sample map is built for: train, the global batch times the run's horizon; valid
    and test, None: one pass over the split, which evaluation reads round and round (see
    :mod:`ernie_pipeline.index.index_map`)."""
    return {"train": train.global_batch_size * horizon(train), "valid": None, "test": None}


def trajectory(train) -> dict:
    """The settings a checkpoint's weights depend on, JSON-ready: ``train`` without the neutral keys, the
    schedule as the steps it gives (so max_steps counts only where the schedule follows from it)."""
    settings = {k: v for k, v in as_section(train).items() if k not in NEUTRAL_KEYS + SCHEDULE_KEYS}
    if settings["backend"] == "paddle":
        # the backend counts where it is not the first one: Paddle chains made before the torch backend stay valid
        del settings["backend"]
    warmup, decay = schedule_steps(train)
    return {**settings, "warmup_steps": warmup, "decay_steps": decay}


def save_points(train) -> list[int]:
    """The steps of the chain's checkpoints after model_0: save_steps multiples below max_steps, and max_steps."""
    return [*range(train.save_steps, train.max_steps, train.save_steps), train.max_steps]


def previous_save_point(train, step: int) -> int:
    """The step of the checkpoint the link to ``step`` starts from (0: model_0)."""
    points = save_points(train)
    if step not in points:
        raise ValueError(f"step {step} is not a save point of the chain (train.save_steps {train.save_steps}, "
                         f"train.max_steps {train.max_steps}): {points[:5]}{' ...' if len(points) > 5 else ''}")
    index = points.index(step)
    return points[index - 1] if index else 0


def job_group(train, step: int) -> str | None:
    """The Snakemake job group of the link to ``step`` with train.steps_per_job: the links within one span of
    that many steps share a SLURM job (none without it: each link is a job of its own)."""
    span = train.steps_per_job
    if not span:
        return None
    first = (math.ceil(step / span) - 1) * span + 1
    return f"pretrain_steps_{first}-{min(first + span - 1, train.max_steps)}"
