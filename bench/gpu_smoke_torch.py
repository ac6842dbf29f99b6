"""The torch backend's first run on a GPU: every path, self-checking, throughput and MFU, in under 8 minutes.

    python bench/gpu_smoke_torch.py [--data DIR] [--out bench/results/gpu-smoke-torch.md] [--peak-tflops F]
    python bench/gpu_smoke_torch.py --prepare DIR          # the data only (needs tool_helpers: a machine of the project)
    python bench/gpu_smoke_torch.py --device cpu --out F   # a check of this script on a machine without a GPU

Needs nothing but torch, transformers, numpy and this repository's ``src/`` (Python 3.11 or 3.12): the training
runs through the project's own code (``ernie_pipeline.train.loop.train_link`` with ``train.backend: torch``) on a
synthetic corpus written with the project's own token-file writer (``tokenize.token_files.IdsWriter``: documents of
sentences of random CJK ids with whole-word ``##`` marks, a vocab.txt of the specials and the 20,902 CJK characters).
The sample maps need tool_helpers (C++, no Python 3.12 wheel): ``--prepare DIR`` writes data and maps on a machine
that has it, and the GPU machine reads them with ``--data DIR`` (a few MB); where tool_helpers is importable the
script prepares them itself.

Runs, each in a fresh process (its own peak memory): the tiny model (``ernie-tiny-cpu``) and the base model
(``ernie-1.0-base-zh-cw``, 12 layers, 768 wide) at sequence 512, micro-batch 32, global batch 64 (two micro-batches
a step: accumulation), in float32, bf16, bf16 + torch.compile and bf16 + recompute (base). Checks, each a FAIL row:
every logged loss finite and the last below the first; a run stopped by SIGTERM at half its steps continues from
model_last to the same steps, its losses within 2e-2 of the uninterrupted run's (GPU runs are not bit-identical);
recompute's peak memory below plain bf16's. Reports tokens/s, samples/s, peak memory (``max_memory_allocated``) and
MFU, and a profiler table of the base model's top kernels in bf16 (self CUDA time).

MFU = samples/s x sequence length x model FLOPs per token / the GPU's dense peak (bf16 tensor cores for bf16 rows,
float32 for float32 rows: TF32 is off), with model FLOPs per token = 3 x the forward's 2 per multiply-add:
``layers x (4 d^2 + 2 d ffn + 2 seq d) + masked share x (d^2 + d vocab)`` multiply-adds (the projections, the
attention scores and context over the padded sequence, and the MLM head on the masked positions only; recompute's
extra forward not counted). Exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
MODELS = {"tiny": "ernie-tiny-cpu", "base": "ernie-1.0-base-zh-cw"}
GPU_RUNS = [("tiny", "fp32"), ("tiny", "bf16"), ("base", "fp32"), ("base", "bf16"), ("base", "bf16+compile"),
            ("base", "bf16+recompute")]
CPU_RUNS = [("tiny", "fp32"), ("tiny", "bf16")]
# dense peaks (TFLOP/s) by a substring of the device name: bf16 tensor cores, and float32 without TF32
PEAK_TFLOPS = {"H200": (989.0, 67.0), "H100": (989.0, 67.0), "H800": (989.0, 67.0), "B200": (2250.0, 80.0),
               "A100": (312.0, 19.5), "A800": (312.0, 19.5), "L40S": (362.0, 91.6), "L4": (121.0, 30.3),
               "A10": (125.0, 31.2), "4090": (165.0, 82.6)}
RESUME_TOLERANCE = 2e-2
SHAPES = {"gpu": dict(max_seq_len=512, micro_batch_size=32, global_batch_size=64, steps=40),
          "cpu": dict(max_seq_len=128, micro_batch_size=4, global_batch_size=8, steps=6)}


def synthetic_corpus(folder: Path, documents: int, seed: int = 0) -> tuple[Path, Path]:
    """A vocab.txt (the specials and the 20,902 CJK characters) and token files of ``documents`` documents of 6-24
    sentences of 8-40 tokens: ids drawn from a Zipf-like distribution over the characters, a third of them marked as
    the continuation of a word (``##X``: vocab size + k), as the token-id stage writes them."""
    import numpy as np

    from ernie_pipeline.tokenize.token_files import IdsWriter
    from ernie_pipeline.vocab.constants import CJK_FIRST, CJK_LAST, SPECIAL_TOKENS

    tokenizer = folder / "tokenizer"
    tokenizer.mkdir(parents=True, exist_ok=True)
    tokens = list(SPECIAL_TOKENS) + [chr(c) for c in range(CJK_FIRST, CJK_LAST + 1)]
    (tokenizer / "vocab.txt").write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    rng = np.random.default_rng(seed)
    chars = CJK_LAST - CJK_FIRST + 1
    weights = 1.0 / np.arange(1, chars + 1) ** 1.1
    weights /= weights.sum()
    writer = IdsWriter(folder / "synthetic", np.dtype(np.uint16))
    for _ in range(documents):
        sentences = rng.integers(6, 25)
        lens = rng.integers(8, 41, sentences).astype(np.int32)
        k = rng.choice(chars, int(lens.sum()), p=weights)
        ids = np.where(rng.random(len(k)) < 1 / 3, len(tokens) + k, len(SPECIAL_TOKENS) + k)  # '##X' is base + k
        writer.add(ids.astype(np.uint16), lens, np.array([sentences]))
    writer.finalize("synthetic")
    return folder / "synthetic", tokenizer


def settings(model: str, precision: str, device: str, steps: int, shape: dict, python: str | None = None) -> dict:
    """The train section of a run (config.yaml's for the rest)."""
    from ernie_pipeline.settings import schema_defaults

    amp = "bf16" if precision.startswith("bf16") else None
    return {**schema_defaults("train"), "dataset": [["synthetic", 1.0]], "model": MODELS[model], "backend": "torch",
            "python": python, "device": device, "amp": amp, "compile": "compile" in precision,
            "recompute": "recompute" in precision, "max_seq_len": shape["max_seq_len"],
            "micro_batch_size": shape["micro_batch_size"], "global_batch_size": shape["global_batch_size"],
            "max_steps": steps, "decay_steps": 2 * shape["steps"], "warmup_steps": 4,
            "max_lr": 1e-4 if model == "base" else 1e-3, "logging_freq": 1, "eval_freq": 10 ** 6, "eval_iters": 1,
            "test_iters": 1, "save_steps": 10 ** 6, "checkpoint_steps": max(1, steps // 2), "num_workers": 2,
            "threads": os.cpu_count() or 2}


def prepare(folder: Path, shape: dict) -> dict:
    """Data and sample maps (the maps serve every run: the same horizon, sequence, seed), as spec.json."""
    from ernie_pipeline.index.index_map import build_index_map
    from ernie_pipeline.train.build import TrainData
    from ernie_pipeline.train.chain import map_samples
    from ernie_pipeline.train.settings import TrainSettings

    spec_path = folder / "spec.json"
    if spec_path.is_file():
        return json.loads(spec_path.read_text())
    prefix, tokenizer = synthetic_corpus(folder, documents=6000)
    train = TrainSettings.from_config(settings("tiny", "fp32", "cpu", shape["steps"], shape))
    sample_map = train.sample_map({"split": "98,1,1", "short_seq_prob": 0.1})
    maps = {}
    for split, samples in map_samples(train).items():
        maps[split] = [str(folder / f"{split}_map.npy")]
        build_index_map(prefix, split, maps[split][0], sample_map, samples)
    spec = {"data": TrainData([str(prefix)], str(tokenizer), maps, sample_map).as_spec(), "shape": shape}
    spec_path.write_text(json.dumps(spec, indent=1))
    return spec


def flops_per_token(config: dict, seq: int, masked_share: float) -> float:
    """Training FLOPs per token: 3 x the forward's, 2 per multiply-add."""
    d, layers, vocab, ffn = config["hidden_size"], config["num_hidden_layers"], config["vocab_size"], config[
        "intermediate_size"]
    return 3 * 2 * (layers * (4 * d * d + 2 * d * ffn + 2 * seq * d) + masked_share * (d * d + d * vocab))


def _child(job: dict) -> dict:
    """One run in this process: model_0 and one link to ``steps``, its logged rows, peak memory; or the profile."""
    import torch

    from ernie_pipeline.train.build import TrainData
    from ernie_pipeline.train.loop import init_checkpoint, train_link
    from ernie_pipeline.train.settings import TrainSettings

    data, train = TrainData.from_spec(job["data"]), TrainSettings.from_config(job["train"])
    out = Path(job["out"])
    if not (out / "model_0").is_dir():
        init_checkpoint(data.tokenizer, train, str(out / "model_0"))
    if job.get("profile"):
        return {"profile": _profile(data, train, out)}
    train_link(data, train, str(out), str(out / "model_0"), train.max_steps)
    peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else 0
    return {"peak_bytes": peak}


def _profile(data, train, out: Path, steps: int = 6) -> str:
    """The top kernels (self CUDA time; CPU time on a machine without a GPU) of ``steps`` training steps after two
    warm-up steps, through the backend's own calls."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from ernie_pipeline.train.backend import open_backend
    from ernie_pipeline.train.build import build_datasets

    backend = open_backend(train, data.tokenizer)
    datasets, _ = build_datasets(data, train, backend.vocab, backend.vocab_fingerprint)
    backend.build(out / "model_0", 0)
    batches = backend.loader(datasets["train"], train.micro_batch_size, 0, train.num_workers)
    accumulate = train.global_batch_size // train.micro_batch_size

    def step():
        for k in range(accumulate):
            backend.forward_backward(next(batches), accumulate, sync=k == accumulate - 1)
        backend.apply_gradients()

    for _ in range(2):
        step()
    cuda = torch.cuda.is_available()
    with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
        for _ in range(steps):
            step()
        if cuda:
            torch.cuda.synchronize()
    return prof.key_averages().table(sort_by="self_cuda_time_total" if cuda else "self_cpu_time_total", row_limit=15)


def run_child(job: dict, stop_after: int | None = None) -> tuple[dict, int]:
    """Run ``job`` in a fresh process; with ``stop_after``, SIGTERM it once that many steps are logged."""
    path = Path(job["out"]).parent / f"{Path(job['out']).name}.job.json"
    path.write_text(json.dumps(job))
    process = subprocess.Popen([sys.executable, __file__, "--child", str(path)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    if stop_after:
        log = Path(job["out"]) / "train_log.jsonl"
        while not log.is_file() or len(log.read_text().splitlines()) < stop_after:
            if process.poll() is not None:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate()
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    return (json.loads(lines[-1]) if lines and process.returncode == 0 else {"error": stderr[-3000:]}), process.returncode


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def measure(model: str, precision: str, run: dict, out: Path, shape: dict, peaks: tuple[float, float] | None) -> dict:
    """The figures of one run from its logged rows (the first logged steps left out: warm-up, compilation)."""
    from ernie_pipeline.train.hf_format import hf_config
    from ernie_pipeline.train.models import model_config

    logged = rows(out)
    losses = [r["loss"] for r in logged]
    timed = logged[len(logged) // 4:] or logged
    seconds = sum(r["seconds"] for r in timed)
    tokens_per_s = sum(r["tokens"] for r in timed) / seconds
    samples_per_s = shape["global_batch_size"] * len(timed) / seconds
    config = hf_config(model_config(MODELS[model], 20907, {}))
    flops = flops_per_token(config, shape["max_seq_len"], 0.15)
    peak = None if peaks is None else peaks[0 if precision.startswith("bf16") else 1]
    mfu = samples_per_s * shape["max_seq_len"] * flops / (peak * 1e12) if peak else None
    ok = all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    return {"model": model, "precision": precision, "steps": len(logged), "first_loss": losses[0],
            "last_loss": losses[-1], "tokens_per_s": tokens_per_s, "samples_per_s": samples_per_s,
            "peak_gb": run.get("peak_bytes", 0) / 2**30, "mfu": mfu, "ok": ok}


def peak_tflops(device: str, given: float | None) -> tuple[float, float | None] | None:
    """(bf16, float32) dense peaks of the GPU: given (bf16 only), or by its name."""
    if given:
        return given, None
    if device != "gpu":
        return None
    import torch

    name = torch.cuda.get_device_name(0)
    return next((value for key, value in PEAK_TFLOPS.items() if key in name), None)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="the prepared data (default: prepared here, into a temp folder)")
    parser.add_argument("--prepare", type=Path, help="only prepare the data into this folder")
    parser.add_argument("--device", choices=["gpu", "cpu"], default="gpu")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/gpu-smoke-torch.md")
    parser.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16 peak (default: from its name)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child.read_text()))))
        return 0
    shape = SHAPES[args.device]
    if args.prepare:
        prepare(args.prepare, shape)
        print(f"prepared {args.prepare}")
        return 0
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="gpu-smoke-torch-"))
    spec = prepare(args.data or work / "data", shape)
    if spec["shape"] != shape:
        raise SystemExit(f"{args.data} was prepared for {spec['shape']}, not {shape}")
    if args.device == "gpu":
        from ernie_pipeline.train.torch_backend.gpu import check_report, report

        found = report()
        if not found["available"]:
            raise SystemExit("torch sees no GPU (use --device cpu to check this script)")
        check_report(found, 1, "bf16")
    peaks = peak_tflops(args.device, args.peak_tflops)
    table, failures = [], []
    for model, precision in GPU_RUNS if args.device == "gpu" else CPU_RUNS:
        out = work / f"{model}-{precision}"
        job = {"data": spec["data"], "train": settings(model, precision, args.device, shape["steps"], shape),
               "out": str(out)}
        result, code = run_child(job)
        if code:
            failures.append(f"{model} {precision}: exit {code}: {result.get('error', '')[-1500:]}")
            continue
        table.append(measure(model, precision, result, out, shape, peaks))
        if not table[-1]["ok"]:
            failures.append(f"{model} {precision}: losses not finite and falling ({table[-1]['first_loss']:.4f} -> "
                            f"{table[-1]['last_loss']:.4f})")
    by_run = {(r["model"], r["precision"]): r for r in table}
    if ("base", "bf16") in by_run and ("base", "bf16+recompute") in by_run and not (
            by_run[("base", "bf16+recompute")]["peak_gb"] < by_run[("base", "bf16")]["peak_gb"]):
        failures.append("recompute did not lower the peak memory")
    # resume: the tiny bf16 (cpu: fp32) run stopped by SIGTERM at half its steps, then rerun
    precision = "bf16" if args.device == "gpu" else "fp32"
    stopped = work / "resume"
    job = {"data": spec["data"], "train": settings("tiny", precision, args.device, shape["steps"], shape),
           "out": str(stopped)}
    _, code = run_child(job, stop_after=shape["steps"] // 2 + 1)
    last = json.loads((stopped / "model_last/trainer_state.json").read_text())["global_step"] if (
        stopped / "model_last").is_dir() else None
    _, code_again = run_child(job)
    reference = {r["step"]: r["loss"] for r in rows(work / f"tiny-{precision}")}
    resumed = {r["step"]: r["loss"] for r in rows(stopped)} if code_again == 0 else {}
    resume_ok = (code != 0 and last is not None and last < shape["steps"] and sorted(resumed) == sorted(reference)
                 and all(abs(resumed[s] - reference[s]) <= RESUME_TOLERANCE * abs(reference[s]) for s in reference))
    if not resume_ok:
        failures.append(f"resume after SIGTERM: stopped at {last}, exit {code} then {code_again}")
    profile_model = "base" if args.device == "gpu" else "tiny"
    job = {"data": spec["data"], "train": settings(profile_model, "bf16", args.device, shape["steps"], shape),
           "out": str(work / "profile"), "profile": True}
    profiled, code = run_child(job)
    lines = [f"# The torch backend on {_device_name(args.device)}", "",
             f"`python bench/gpu_smoke_torch.py --device {args.device}`: sequence {shape['max_seq_len']}, micro-batch "
             f"{shape['micro_batch_size']}, global batch {shape['global_batch_size']}, {shape['steps']} steps per run; "
             f"{time.perf_counter() - started:.0f} s in all. MFU against "
             f"{'%s / %s TFLOP/s (bf16 / float32 dense)' % peaks if peaks else 'no known peak'}.", "",
             "| model | precision | steps | loss first -> last | tokens/s | samples/s | peak GB | MFU | ok |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in table:
        lines.append(f"| {r['model']} | {r['precision']} | {r['steps']} | {r['first_loss']:.3f} -> {r['last_loss']:.3f} "
                     f"| {r['tokens_per_s']:,.0f} | {r['samples_per_s']:,.1f} | {r['peak_gb']:.2f} | "
                     f"{'%.1f %%' % (100 * r['mfu']) if r['mfu'] else 'n/a'} | {'yes' if r['ok'] else 'FAIL'} |")
    lines += ["", f"Resume after SIGTERM (tiny, {precision}): stopped at step {last}, continued from model_last to "
              f"step {max(resumed) if resumed else '-'}: {'ok' if resume_ok else 'FAIL'}.", ""]
    lines += [f"## Top kernels ({profile_model}, bf16)", "", "```", profiled.get("profile", profiled.get("error", ""))
              if code == 0 else profiled.get("error", ""), "```", ""]
    lines += [f"FAIL: {f}" for f in failures]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 1 if failures else 0


def _device_name(device: str) -> str:
    if device != "gpu":
        import platform

        return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    import torch

    return torch.cuda.get_device_name(0)


if __name__ == "__main__":
    raise SystemExit(main())
