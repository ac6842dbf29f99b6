"""The evaluation stage's settings (config ``eval``), its grid of fine-tuning runs, and picking the best.

Every (checkpoint, task, grid point) is one fine-tuning job; a grid point is a learning rate, a batch size,
a number of epochs and a seed. Per (task, checkpoint), the configuration (learning rate, batch size,
epochs) with the best dev score averaged over its seeds is selected, and its dev and test scores
(averaged the same way) are reported, as upstream's CLUE grid search reports the best dev configuration.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ernie_pipeline.corpus.tasks import TaskSettings
from ernie_pipeline.settings import from_section

METRICS = ("accuracy", "macro_f1")


@dataclass(frozen=True)
class GridPoint:
    learning_rate: float
    batch_size: int
    epochs: int
    seed: int

    @property
    def name(self) -> str:
        """The point's file name: ``lr3e-05_bs32_ep3_seed1``."""
        return f"lr{self.learning_rate:g}_bs{self.batch_size}_ep{self.epochs}_seed{self.seed}"

    @property
    def configuration(self) -> tuple[float, int, int]:
        """What the seeds of a configuration share."""
        return self.learning_rate, self.batch_size, self.epochs


@dataclass(frozen=True)
class EvalSettings:
    """config.yaml ``eval``."""

    tasks: dict  # name -> TaskSettings
    checkpoints: str | tuple[int, ...]  # "all" (every save point), "last" (the final one) or steps; model_0 always
    learning_rates: tuple[float, ...]
    batch_sizes: tuple[int, ...]
    epochs: tuple[int, ...]
    seeds: tuple[int, ...]
    warmup_proportion: float
    weight_decay: float
    metric: str  # what picks the best dev configuration
    device: str
    threads: int

    def __post_init__(self):
        for key in ("learning_rates", "batch_sizes", "epochs", "seeds"):
            object.__setattr__(self, key, tuple(getattr(self, key)))
        if not isinstance(self.checkpoints, str):
            object.__setattr__(self, "checkpoints", tuple(self.checkpoints))
        object.__setattr__(self, "tasks", {name: task if isinstance(task, TaskSettings)
                                           else TaskSettings.from_config(name, task)
                                           for name, task in self.tasks.items()})

    @classmethod
    def from_config(cls, section: Mapping) -> EvalSettings:
        return from_section(cls, section, "eval")

    def points(self) -> list[GridPoint]:
        """Every grid point, in the grid's order (learning rate, batch size, epochs, then seed)."""
        return [GridPoint(*values) for values in itertools.product(self.learning_rates, self.batch_sizes,
                                                                    self.epochs, self.seeds)]

    def point(self, name: str) -> GridPoint:
        points = {p.name: p for p in self.points()}
        if name not in points:
            raise ValueError(f"{name} is not a point of the eval grid ({', '.join(points)})")
        return points[name]

    def checkpoint_steps(self, save_points: list[int]) -> list[int]:
        """The steps of the checkpoints evaluated: model_0 (the baseline), then every save point, the last one, or
        those asked for (each must be one: ValueError naming the key)."""
        named = {"all": save_points, "last": save_points[-1:]}
        steps = named[self.checkpoints] if isinstance(self.checkpoints, str) else list(self.checkpoints)
        wrong = [s for s in steps if s not in save_points and s != 0]
        if wrong:
            raise ValueError(f"config eval.checkpoints: {wrong} are not checkpoints of the chain (train.save_steps "
                             f"multiples and train.max_steps: {save_points})")
        return [0] + sorted(set(steps) - {0})


def select_best(results: list[dict], metric: str) -> dict:
    """The configuration with the best mean dev ``metric`` over its seeds (ties: the first in grid order), with
    its mean dev and test scores, their standard deviation over the seeds (``sd``), the test split's
    majority-class accuracy and how many seeds ended predicting one class on the test split (``one_class_seeds``:
    the run learnt nothing but the majority), and every configuration's for the record. ``results``: the points'
    result files (each with ``point``, ``dev``, ``test``)."""
    by_configuration: dict[tuple, list[dict]] = {}
    for result in results:
        point = GridPoint(**result["point"])
        by_configuration.setdefault(point.configuration, []).append(result)
    table = []
    for (learning_rate, batch_size, epochs), runs in by_configuration.items():
        classes = [r.get("predicted_classes", {}).get("test") for r in runs]
        table.append({"learning_rate": learning_rate, "batch_size": batch_size, "epochs": epochs,
                      "seeds": sorted(r["point"]["seed"] for r in runs),
                      **{split: {m: float(np.mean([r[split][m] for r in runs])) for m in METRICS}
                         for split in ("dev", "test")},
                      "sd": {split: {m: float(np.std([r[split][m] for r in runs])) for m in METRICS}
                             for split in ("dev", "test")},
                      "majority_test_accuracy": runs[0].get("majority_test_accuracy"),
                      "one_class_seeds": None if None in classes else sum(c == 1 for c in classes)})
    best = max(table, key=lambda row: row["dev"][metric])  # max keeps the first of equals
    return {"metric": metric, "best": best, "configurations": table}
