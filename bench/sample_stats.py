"""Statistics of ERNIE training samples on the sample corpus (the figures quoted for the data issue).

    .venv/bin/python bench/sample_stats.py [--samples 10000] [--out bench/results/sample-stats.md]

Reads the default workflow's artifacts (`snakemake results/index/inews_train_indexmap.npy` builds
them) with config.yaml's train settings: over the first ``--samples`` samples of the train map, the
share of tokens masked, the share of swapped (SOP) pairs, and the n-gram sizes of the masking
(drawn and masked, in whole words) for the three n-gram options on 128-token stretches of the data.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

import ernie_pipeline  # noqa: F401  (system zlib before paddle)
from ernie_pipeline.index.dataset import ErnieDataset
from ernie_pipeline.tokenize.token_files import IdsDataset
from ernie_pipeline.index.masking import Vocab, masked_lm_predictions
from ernie_pipeline.settings import load_config
from ernie_pipeline.tokenize.tokenizer import load_tokenizer
from ernie_pipeline.workflow import planning

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--out", default="bench/results/sample-stats.md")
    args = parser.parse_args()
    train = planning.train_settings(load_config(REPO / "config.yaml"))
    data = IdsDataset(REPO / "results/token_ids/inews")
    vocab = Vocab.from_tokenizer(load_tokenizer(REPO / "results/vocab/tokenizer"))
    index_map = np.load(REPO / "results/index/inews_train_indexmap.npy", mmap_mode="r")
    dataset = ErnieDataset(data, index_map, vocab, train.masking, train.seed)
    n = min(args.samples, len(dataset))
    masked = tokens = swapped = 0
    start = time.perf_counter()
    for i in range(n):
        sample = dataset[i]
        tokens += int((sample["attention_mask"][0, 0] == 0).sum())
        masked += len(sample["masked_positions"])
        swapped += sample["sop_label"]
    per_sample_ms = 1000 * (time.perf_counter() - start) / n
    rows = []
    for name, options in (("weights 1/n", {}), ("favor_longer_ngram", {"favor_longer_ngram": True}),
                          ("geometric_dist", {"geometric_dist": True})):
        sizes: list[tuple[int, int]] = []
        for i in range(n):
            first = i * 126 % (data.ids.size - 126)
            stretch = [vocab.cls_id] + np.asarray(data.ids[first : first + 126]).tolist() + [vocab.sep_id]
            masked_lm_predictions(stretch, vocab, train.masked_lm_prob * 128, np.random.RandomState(i),
                                  dataclasses.replace(train.masking, **options), ngram_sizes=sizes)
        drawn = np.bincount([d for d, _ in sizes], minlength=train.max_ngrams + 1)[1:] / len(sizes)
        used = np.bincount([u for _, u in sizes], minlength=train.max_ngrams + 1)[1:] / len(sizes)
        rows.append(f"| {name} | {' / '.join(f'{x:.3f}' for x in drawn)} | {' / '.join(f'{x:.3f}' for x in used)} |")
    lines = [
        "# ERNIE training samples: masking and SOP statistics",
        "",
        f"`bench/sample_stats.py`, {time.strftime('%Y-%m-%d')}: the first {n:,} samples of "
        f"`results/index/inews_train_indexmap.npy` (max_seq_len {train.max_seq_len}, seed {train.seed}).",
        "",
        f"- tokens masked: {masked:,} of {tokens:,} = **{masked / tokens:.4f}** (masked_lm_prob {train.masked_lm_prob})",
        f"- SOP pairs swapped: {swapped:,} of {n:,} = **{swapped / n:.4f}**",
        f"- {per_sample_ms:.2f} ms per sample (one process)",
        "",
        f"n-gram sizes over {n:,} 128-token stretches (share of 1 / 2 / 3 words; drawn, then masked after "
        "shortening to the budget and skipping overlaps):",
        "",
        "| option | drawn | masked |",
        "|---|---|---|",
        *rows,
        "",
    ]
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
