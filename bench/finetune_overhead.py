"""Fine-tuning throughput of the evaluation stage against a bare Paddle loop over the same model and batches.

    python bench/finetune_overhead.py --checkpoint results/pretrain/model_300 [--examples 1000] [--repeats 3]
                                      [--out bench/results/finetune-overhead.md]

Both run on the demo's inews task (``data/sample/eval/inews/train.json``, or ``--task-dir``), one thread, in
fresh processes, alternating, ``--repeats`` times each:

* ``finetune``: ``ernie_pipeline.evaluate.finetune.finetune`` as the ``finetune`` rule runs it, one epoch at
  batch 32; its own training-steps throughput (``train_examples_per_second``: the epoch's examples over the
  seconds of its training loop, batch padding included; no evaluation);
* ``bare``: the same model from the same checkpoint and the same padded batches, built before the clock
  starts, then forward, cross-entropy, backward, AdamW step, nothing else.

Reports the mean (± standard error) examples/s of each and the overhead (1 - finetune / bare).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def _settings(task_dir: Path, examples: int):
    from ernie_pipeline.evaluate.grid import EvalSettings
    from ernie_pipeline.settings import schema_defaults

    task = {"train": str(task_dir / "train.json"), "dev": str(task_dir / "dev.json"),
            "test": str(task_dir / "test.json"), "text_keys": ["sentence"], "label_key": "label", "labels": None,
            "max_seq_len": 128, "max_examples": examples}
    return EvalSettings.from_config({**schema_defaults("eval"), "tasks": {"inews": task}, "learning_rates": [1e-4],
                                     "batch_sizes": [32], "epochs": [1], "seeds": [1], "threads": 1})


def run_finetune(checkpoint: str, task_dir: Path, examples: int) -> float:
    from ernie_pipeline.evaluate.finetune import finetune

    settings = _settings(task_dir, examples)
    return finetune(checkpoint, settings.tasks["inews"], settings.points()[0], settings)["train_examples_per_second"]


def run_bare(checkpoint: str, task_dir: Path, examples: int) -> float:
    import ernie_pipeline  # noqa: F401
    import numpy as np
    import paddle

    from ernie_pipeline.evaluate.finetune import batches, build, encode
    from ernie_pipeline.corpus.tasks import read_task

    settings = _settings(task_dir, examples)
    point = settings.points()[0]
    paddle.set_device("cpu")
    paddle.base.core.set_num_threads(1)
    labels, rows = read_task(settings.tasks["inews"])
    steps = -(-len(rows["train"]) // point.batch_size)
    model, tokenizer, schedule, optimizer = build(checkpoint, len(labels), point, settings, steps)
    encoded = encode(tokenizer, rows["train"], settings.tasks["inews"].max_seq_len)
    order = np.random.RandomState(point.seed).permutation(len(encoded))
    prepared = [tuple(paddle.to_tensor(a) for a in batch)
                for batch in batches(encoded, point.batch_size, tokenizer.pad_token_id, order)]
    start = time.perf_counter()
    for ids, types, gold in prepared:
        loss = paddle.nn.functional.cross_entropy(model(ids, token_type_ids=types), gold)
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.clear_grad()
    float(loss)
    return len(encoded) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(REPO / "results/pretrain/model_300"))
    parser.add_argument("--task-dir", default=str(REPO / "data/sample/eval/inews"))
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "bench/results/finetune-overhead.md"))
    parser.add_argument("--child", choices=("finetune", "bare"))
    args = parser.parse_args()
    if args.child:
        runner = run_finetune if args.child == "finetune" else run_bare
        print(json.dumps(runner(args.checkpoint, Path(args.task_dir), args.examples)))
        return 0
    rates = {"finetune": [], "bare": []}
    for _ in range(args.repeats):
        for kind in rates:
            done = subprocess.run([sys.executable, __file__, "--child", kind, "--checkpoint", args.checkpoint,
                                   "--task-dir", args.task_dir, "--examples", str(args.examples)],
                                  check=True, capture_output=True, text=True)
            rates[kind].append(json.loads(done.stdout.strip().splitlines()[-1]))
    mean = {kind: statistics.mean(values) for kind, values in rates.items()}
    error = {kind: statistics.stdev(values) / len(values) ** 0.5 for kind, values in rates.items()}
    overhead = 1 - mean["finetune"] / mean["bare"]
    noise = (error["finetune"] ** 2 + error["bare"] ** 2) ** 0.5 / mean["bare"]
    lines = [f"# Fine-tuning throughput: {args.checkpoint}, {args.examples} inews examples, batch 32, 1 thread", "",
             "| loop | examples/s (mean ± standard error) | median | runs |", "|---|---|---|---|"]
    lines += [f"| {kind} | {mean[kind]:.1f} ± {error[kind]:.1f} | {statistics.median(rates[kind]):.1f} | "
              f"{', '.join(f'{v:.1f}' for v in rates[kind])} |" for kind in rates]
    lines += ["", f"Overhead of the evaluation stage's loop: {100 * overhead:+.1f} % ± {100 * noise:.1f} % "
              "(the runs alternate, each in a fresh process; the spread is this machine's)"]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
