"""Downstream accuracy against pretraining steps: does pretraining help, and from when?

    python bench/pretraining_curve.py [--max-steps 2400] [--save-steps 300] [--seeds 1 2 3]
                                      [--learning-rate 1e-3] [--batch-size 16] [--epochs 3] [--examples 1000]
                                      [--workdir DIR] [--out bench/results/pretraining-curve.md]

Runs the workflow itself (``snakemake ... results/eval/report.md``) on the demo's config (the sample corpus, the
tiny model, the inews task) in a folder of its own, with the chain made longer (``--max-steps``, a checkpoint every
``--save-steps``) and one fine-tuning configuration over several seeds, so every checkpoint, model_0 included, is
fine-tuned the same way. Then it writes a table, per checkpoint: the pretraining losses at that step (MLM train
loss of the logged row, valid loss where evaluated), test accuracy over the seeds (mean, sd, min, max), the gain
over model_0 (paired by seed: the same classifier initialisation and example order), how many seeds ended
predicting one class, and the majority-class accuracy; with the corpus's unigram entropy of the masked tokens
(a model whose MLM loss is above it has learnt no more than token frequencies) and the wall time of each part.

About an hour on 2 cores with the defaults (pretraining ~1 step/s; each fine-tuning run ~1 min).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # this checkout's package, as the workflow's jobs use it
DOWNLOADS = Path(__file__).resolve().parents[1] / "data" / "downloads"


def config_for(args) -> dict:
    """The demo's config with the longer chain and the one fine-tuning configuration over ``args.seeds``."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["sample"]["downloads"] = str(DOWNLOADS)
    config["train"].update(max_steps=args.max_steps, save_steps=args.save_steps, eval_freq=args.save_steps,
                           checkpoint_steps=args.save_steps)
    config["eval"].update(checkpoints="all", learning_rates=[args.learning_rate], batch_sizes=[args.batch_size],
                          epochs=[args.epochs], seeds=list(args.seeds))
    for task in config["eval"]["tasks"].values():
        task["max_examples"] = args.examples
    return config


def run_workflow(workdir: Path) -> float:
    """Run the evaluation report (and with it the whole chain) in ``workdir``; wall seconds."""
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(workdir / "config.yaml"), "--cores", "2", "results/eval/report.md",
               "results/pretrain/summary.json"]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-6000:]}")
    return time.perf_counter() - start


def unigram_entropy(results: Path, dataset: str) -> float:
    """Entropy (nats) of the base-vocabulary ids of the dataset's token files (``##X`` counted as ``X``): the MLM
    loss of a model that predicts every masked token from frequencies alone."""
    import numpy as np

    import ernie_pipeline  # noqa: F401  (system zlib before paddle)
    from ernie_pipeline.index.masking import Vocab
    from ernie_pipeline.tokenize.tokenizer import load_tokenizer

    vocab = Vocab.from_tokenizer(load_tokenizer(str(results / "vocab" / "tokenizer")))
    ids = np.load(results / "token_ids" / f"{dataset}_ids.npy", mmap_mode="r")
    counts = np.bincount(vocab.to_base[np.asarray(ids, dtype=np.int64)], minlength=vocab.size).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def seconds_of(folder: Path) -> float:
    """The wall seconds of the jobs whose Snakemake benchmark files lie under ``folder``."""
    total = 0.0
    for tsv in folder.rglob("*.tsv"):
        lines = tsv.read_text().splitlines()
        if len(lines) > 1:
            total += float(lines[1].split("\t")[0])
    return total


def curve_rows(results: Path, task: str) -> list[dict]:
    """Per checkpoint step: the pretraining losses there and the fine-tuning runs' test accuracies by seed."""
    train_rows = {json.loads(line)["step"]: json.loads(line) for line in
                  (results / "pretrain" / "train_log.jsonl").read_text().splitlines()}
    valid_rows = {json.loads(line)["step"]: json.loads(line) for line in
                  (results / "pretrain" / "valid_log.jsonl").read_text().splitlines()}
    rows = []
    for folder in sorted((results / "eval" / task).glob("model_*"), key=lambda p: int(p.name.split("_")[1])):
        step = int(folder.name.split("_")[1])
        runs = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json")) if p.name != "best.json"]
        rows.append({"step": step, "lm_loss": train_rows.get(step, {}).get("lm_loss"),
                     "valid_lm_loss": valid_rows.get(step, {}).get("lm_loss"),
                     "test": {r["point"]["seed"]: r["test"]["accuracy"] for r in runs},
                     "dev": {r["point"]["seed"]: r["dev"]["accuracy"] for r in runs},
                     "one_class": sum(r["predicted_classes"]["test"] == 1 for r in runs),
                     "majority": runs[0]["majority_test_accuracy"]})
    return rows


def _stats(values: list[float]) -> str:
    sd = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {sd:.4f} ({min(values):.4f}-{max(values):.4f})"


def report(rows: list[dict], args, entropy: float, times: dict) -> str:
    base = rows[0]["test"]
    lines = [f"# Downstream accuracy against pretraining steps (inews, {len(args.seeds)} seeds)", "",
             f"`python bench/pretraining_curve.py --max-steps {args.max_steps} --save-steps {args.save_steps} "
             f"--seeds {' '.join(map(str, args.seeds))} --learning-rate {args.learning_rate:g} --batch-size "
             f"{args.batch_size} --epochs {args.epochs} --examples {args.examples}`: the demo's config (tiny model, "
             f"sample corpus) with a longer chain; every checkpoint fine-tuned with lr {args.learning_rate:g}, batch "
             f"{args.batch_size}, {args.epochs} epochs on the first {args.examples} examples of each split, once per "
             "seed (the seed sets the classifier's initial weights, the example order and dropout).", "",
             f"Unigram entropy of the corpus's tokens: {entropy:.3f} nats (an MLM loss above it: no more than token "
             "frequencies learnt). Wall time: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in times.items()) + ".",
             "", "| checkpoint | MLM train loss | MLM valid loss | dev acc (mean) | test acc: mean ± sd (min-max) | "
             "test gain over model_0, paired by seed: mean ± sd | seeds predicting one class | majority class |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        seeds = sorted(row["test"])
        gains = [row["test"][s] - base[s] for s in seeds if s in base]
        gain = (f"{statistics.mean(gains):+.4f} ± {statistics.pstdev(gains):.4f}" if row["step"] else "(baseline)")
        loss = lambda v: f"{v:.3f}" if v is not None and math.isfinite(v) else "-"  # noqa: E731
        lines.append(f"| model_{row['step']} | {loss(row['lm_loss'])} | {loss(row['valid_lm_loss'])} | "
                     f"{statistics.mean(row['dev'].values()):.4f} | {_stats([row['test'][s] for s in seeds])} | "
                     f"{gain} | {row['one_class']} of {len(seeds)} | {row['majority']:.4f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-steps", type=int, default=2400)
    parser.add_argument("--save-steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--workdir", type=Path, help="run here (kept; a rerun continues it) instead of a temp folder")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/pretraining-curve.md")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="pretraining-curve-"))
    workdir.mkdir(parents=True, exist_ok=True)
    config = config_for(args)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    wall = run_workflow(workdir)
    results = workdir / config["results_dir"]
    times = {"workflow": wall, "pretraining jobs": seconds_of(results / "benchmarks" / "pretrain")}
    text = report(curve_rows(results, next(iter(config["eval"]["tasks"]))), args,
                  unigram_entropy(results, next(iter(config["datasets"]))), times)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
