"""The evaluation report: per task and checkpoint, the dev-best configuration and its dev and test scores (mean
and standard deviation over the seeds), the ``model_0`` baseline beside every checkpoint, the majority-class
accuracy of the test split, and a flag where seeds ended predicting a single class (``report.tsv``,
``report.md``); per task a plot of the scores against the pretraining step (``<task>.png``)."""

from __future__ import annotations

import json
from pathlib import Path

from ernie_pipeline.io.atomic import atomic_outputs

COLUMNS = ("task", "step", "learning_rate", "batch_size", "epochs", "seeds", "dev_accuracy", "dev_macro_f1",
           "test_accuracy", "test_accuracy_sd", "test_macro_f1", "baseline_test_accuracy", "test_accuracy_gain",
           "majority_test_accuracy", "one_class_seeds")


def report_rows(selections: dict[str, dict[int, dict]]) -> list[dict]:
    """One row per (task, step) from ``selections`` (task -> step -> the step's selection, model_0's at 0)."""
    rows = []
    for task, by_step in selections.items():
        baseline = by_step[0]["best"]["test"]["accuracy"]
        for step in sorted(by_step):
            best = by_step[step]["best"]
            rows.append({"task": task, "step": step, "learning_rate": best["learning_rate"],
                         "batch_size": best["batch_size"], "epochs": best["epochs"], "seeds": len(best["seeds"]),
                         "dev_accuracy": best["dev"]["accuracy"], "dev_macro_f1": best["dev"]["macro_f1"],
                         "test_accuracy": best["test"]["accuracy"],
                         "test_accuracy_sd": best.get("sd", {}).get("test", {}).get("accuracy"),
                         "test_macro_f1": best["test"]["macro_f1"],
                         "baseline_test_accuracy": baseline, "test_accuracy_gain": best["test"]["accuracy"] - baseline,
                         "majority_test_accuracy": best.get("majority_test_accuracy"),
                         "one_class_seeds": best.get("one_class_seeds")})
    return rows


def _cell(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "n/a" if value is None else str(value)


def markdown(rows: list[dict]) -> str:
    """The table, then a note for every row whose best configuration predicted one class in some seeds."""
    header = ["task", "checkpoint", "lr", "batch", "epochs", "seeds", "dev acc", "dev F1", "test acc (± sd)",
              "test F1", "test acc vs model_0", "majority class"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    notes = []
    for row in rows:
        spread = f" ± {row['test_accuracy_sd']:.4f}" if row["test_accuracy_sd"] is not None else ""
        one_class = row["one_class_seeds"]
        flag = f" (one class in {one_class} of {row['seeds']} seeds)" if one_class else ""
        lines.append("| " + " | ".join([row["task"], f"model_{row['step']}", f"{row['learning_rate']:g}",
                                        str(row["batch_size"]), str(row["epochs"]), str(row["seeds"]),
                                        *(f"{row[k]:.4f}" for k in ("dev_accuracy", "dev_macro_f1")),
                                        f"{row['test_accuracy']:.4f}{spread}{flag}", f"{row['test_macro_f1']:.4f}",
                                        f"{row['test_accuracy_gain']:+.4f}", _cell(row["majority_test_accuracy"])])
                     + " |")
        if one_class:
            notes.append(f"- {row['task']} model_{row['step']}: in {one_class} of {row['seeds']} seeds the fine-tuned "
                         "model predicts one class on the test split (it learnt nothing but the majority class): "
                         "its score is not a measure of the checkpoint")
    legend = ("\nScores: the dev-best configuration of each checkpoint, mean over its seeds (± their standard "
              "deviation); majority class: the test accuracy of always answering the most frequent label.\n")
    return "\n".join(lines) + "\n" + legend + ("\n" + "\n".join(notes) + "\n" if notes else "")


def plot(task: str, rows: list[dict], path: Path) -> None:
    """Dev and test accuracy of the dev-best configuration against the pretraining step (model_0 dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    steps = [row["step"] for row in rows]
    for key, color in (("dev_accuracy", "#4477aa"), ("test_accuracy", "#ee6677")):
        axis.plot(steps, [row[key] for row in rows], "o-", color=color, label=key.replace("_", " "))
    axis.axhline(rows[0]["test_accuracy"], color="#ee6677", linestyle="--", linewidth=1, label="model_0 test accuracy")
    if rows[0]["majority_test_accuracy"] is not None:
        axis.axhline(rows[0]["majority_test_accuracy"], color="#999999", linestyle=":", linewidth=1,
                     label="majority class (test)")
    axis.set_xlabel("pretraining step")
    axis.set_ylabel("accuracy (dev-best configuration)")
    axis.set_title(f"{task}: fine-tuned score vs pretraining step")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100, metadata={"Software": None})  # no date: same rows, same bytes
    plt.close(figure)


def write_report(selection_files: list[str], tsv_path: str, md_path: str, plot_dir: str) -> list[dict]:
    """The report of the selections (``<results>/eval/<task>/model_<step>/best.json``); the table's rows."""
    selections: dict[str, dict[int, dict]] = {}
    for path in selection_files:
        selection = json.loads(Path(path).read_text())
        selections.setdefault(selection["task"], {})[selection["step"]] = selection
    rows = report_rows(selections)
    plots = [Path(plot_dir) / f"{task}.png" for task in selections]
    with atomic_outputs(tsv_path, md_path, *plots) as (tsv, md, *pngs):
        tsv.write_text("\t".join(COLUMNS) + "\n" + "".join(
            "\t".join(_cell(row[c]) for c in COLUMNS) + "\n" for row in rows), encoding="utf-8")
        md.write_text(markdown(rows), encoding="utf-8")
        for task, png in zip(selections, pngs):
            plot(task, [row for row in rows if row["task"] == task], png)
    return rows
