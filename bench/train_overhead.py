"""The trainer's step time against a bare Paddle loop over the same model and batches (CPU).

    .venv/bin/python bench/train_overhead.py [--steps 100] [--threads 1 2] [--workers 1] [--repeats 1]

Reads the default workflow's token files and vocabulary (`snakemake results/token_ids/inews_ids.npy`) and
config.yaml's train settings for ``--steps`` steps (sample maps built for them in a temporary folder), with
checkpoints only at the end; the logged windows that include an evaluation are left out. For each number
of compute threads (``train.threads``), each run a fresh process:

* ``trainer``: ``train.pretrain`` as the pretrain rule runs it (DataLoader with ``num_workers`` worker
  processes, masking on the fly, dropout reseeding, logging); step time = 1 / ``steps_per_second`` of each
  logged window of ``train_log.jsonl``;
* ``bare``: the same model, optimizer, clipping and LR schedule, on the same batches collated into memory
  before the clock starts: forward, loss, backward, step, clear; timed per window of ``logging_freq`` steps.

The first window of each run is warm-up and left out; the figure is the median window step time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOG_EVERY = 10


def _settings(work: Path, steps: int, threads: int, workers: int):
    """(TrainSettings, SampleMapSettings, paths) of config.yaml, with the bench's changes."""
    from ernie_pipeline.settings import load_config
    from ernie_pipeline.train.settings import TrainSettings

    config = load_config(REPO / "config.yaml")
    # checkpoints only at the end; evaluation (its cadence sizes the valid map) is left out of the figure
    train = TrainSettings.from_config(dict(config["train"], logging_freq=LOG_EVERY, max_steps=steps, save_steps=steps,
                                         checkpoint_steps=steps, threads=threads, num_workers=workers),
                                    blend=[["inews", 1.0]])
    paths = {"prefix": str(REPO / "results/token_ids/inews"), "tokenizer": str(REPO / "results/vocab/tokenizer"),
             "maps": {s: [str(work / f"{s}.npy")] for s in ("train", "valid", "test")}}
    return train, train.sample_map(config["index"]), paths


def build_maps(work: Path, steps: int) -> None:
    from ernie_pipeline.index.index_map import build_index_map
    from ernie_pipeline.train.chain import map_samples

    train, sample_map, paths = _settings(work, steps, 1, 0)
    for split, samples in map_samples(train).items():
        build_index_map(paths["prefix"], split, paths["maps"][split][0], sample_map, samples)


def run_trainer(work: Path, steps: int, threads: int, workers: int) -> list[float]:
    from ernie_pipeline.train.build import TrainData
    from ernie_pipeline.train.loop import pretrain

    train, sample_map, paths = _settings(work, steps, threads, workers)
    out = work / f"out-{os.getpid()}"
    pretrain(TrainData([paths["prefix"]], paths["tokenizer"], paths["maps"], sample_map), train, str(out),
             str(out / "summary.json"))
    records = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    # windows that follow an evaluation include it
    return [1 / r["steps_per_second"] for r in records[1:]
            if r["step"] % LOG_EVERY == 0 and (r["step"] - LOG_EVERY) % train.eval_freq]


def run_bare(work: Path, steps: int, threads: int) -> list[float]:
    import numpy as np
    import paddle
    from paddlenlp.transformers import ErnieConfig, ErnieForPretraining, ErniePretrainingCriterion
    from paddlenlp.transformers import LinearAnnealingWithWarmupDecay

    from ernie_pipeline.index.dataset import ErnieDataset
    from ernie_pipeline.tokenize.token_files import IdsDataset
    from ernie_pipeline.index.masking import Vocab, collate
    from ernie_pipeline.train.models import model_config
    from ernie_pipeline.tokenize.tokenizer import load_tokenizer
    from ernie_pipeline.train.build import FIELDS

    train, _, paths = _settings(work, steps, threads, 0)
    paddle.set_device("cpu")
    paddle.base.core.set_num_threads(threads)
    paddle.seed(train.seed)
    vocab = Vocab.from_tokenizer(load_tokenizer(paths["tokenizer"]))
    dataset = ErnieDataset(IdsDataset(paths["prefix"]), np.load(paths["maps"]["train"][0], mmap_mode="r"), vocab,
                           train.masking, train.seed)
    micro = train.micro_batch_size
    accumulate = train.global_batch_size // micro
    batches = []
    for b in range(steps * accumulate):
        batch = collate([dataset[i] for i in range(b * micro, (b + 1) * micro)])
        batches.append([paddle.to_tensor(np.asarray(batch[f])) for f in FIELDS])
    model = ErnieForPretraining(ErnieConfig(**model_config(train.model, vocab.size, train.model_overrides,
                                                           train.hidden_dropout_prob,
                                                           train.attention_probs_dropout_prob)))
    criterion = ErniePretrainingCriterion(with_nsp_loss=train.binary_head)
    lr = LinearAnnealingWithWarmupDecay(train.max_lr, train.min_lr, int(train.warmup_rate * steps), steps)
    optimizer = paddle.optimizer.AdamW(learning_rate=lr, parameters=model.parameters(),
                                       weight_decay=train.weight_decay,
                                       grad_clip=paddle.nn.ClipGradByGlobalNorm(train.grad_clip))
    model.train()
    times, start = [], time.perf_counter()
    for step in range(steps):
        for k in range(accumulate):
            ids, types, attention, positions, labels, sop_labels = batches[step * accumulate + k]
            scores, sop_scores = model(ids, token_type_ids=types, attention_mask=attention,
                                       masked_positions=positions)
            lm_loss, sop_loss = criterion(scores, sop_scores, labels, sop_labels)
            ((lm_loss + sop_loss) / accumulate).backward()
        optimizer.step()
        lr.step()
        optimizer.clear_grad()
        if (step + 1) % LOG_EVERY == 0:
            float(lm_loss)  # what a log line costs
            now = time.perf_counter()
            times.append((now - start) / LOG_EVERY)
            start = now
    return times[1:]


def _child(work: Path, kind: str, steps: int, threads: int, workers: int) -> list[float]:
    command = [sys.executable, __file__, "--child", kind, "--work", str(work), "--steps", str(steps),
               "--threads", str(threads), "--workers", str(workers)]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="compute threads (train.threads)")
    parser.add_argument("--workers", type=int, default=1, help="train.num_workers of the trainer")
    parser.add_argument("--out", default="bench/results/train-overhead.md")
    parser.add_argument("--child", choices=["trainer", "bare"])
    parser.add_argument("--work")
    args = parser.parse_args()
    import ernie_pipeline  # noqa: F401  (system zlib before paddle)

    if args.child:
        work = Path(args.work)
        times = (run_trainer(work, args.steps, args.threads[0], args.workers) if args.child == "trainer"
                 else run_bare(work, args.steps, args.threads[0]))
        print(json.dumps(times))
        return

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        build_maps(work, args.steps)
        train, _, _ = _settings(work, args.steps, 1, args.workers)
        lines = [
            "# Trainer overhead vs a bare Paddle loop (CPU)", "",
            f"`python bench/train_overhead.py --steps {args.steps} --repeats {args.repeats} --threads "
            f"{' '.join(map(str, args.threads))} --workers {args.workers}`, {os.cpu_count()} cores; config.yaml "
            f"train settings: model {train.model}, micro-batch {train.micro_batch_size}, global batch "
            f"{train.global_batch_size}, max_seq_len {train.max_seq_len}; the trainer with num_workers "
            f"{args.workers}; windows of {LOG_EVERY} steps, the first of each run left out.", "",
            "| compute threads | loop | median step time (ms) | windows | min / max (ms) | trainer overhead |",
            "|---|---|---|---|---|---|",
        ]
        for threads in args.threads:
            windows: dict[str, list[float]] = {"bare": [], "trainer": []}
            for _ in range(args.repeats):  # alternating, so that machine noise hits both alike
                for kind in windows:
                    windows[kind] += _child(work, kind, args.steps, threads, args.workers)
            overhead = statistics.median(windows["trainer"]) / statistics.median(windows["bare"]) - 1
            for kind, values in windows.items():
                lines.append(f"| {threads} | {kind} | {1000 * statistics.median(values):.1f} | {len(values)} | "
                             f"{1000 * min(values):.1f} / {1000 * max(values):.1f} | "
                             f"{f'**{100 * overhead:+.2f} %**' if kind == 'trainer' else ''} |")
    lines.append("")
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
