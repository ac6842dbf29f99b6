"""The first GPU run, prepared: every GPU training path on one GPU, self-checking, in under 10 minutes.

    python bench/gpu_smoke.py [--out bench/results/gpu_smoke.md] [--prefix P --tokenizer T] [--peak-tflops F]

Reads the default workflow's token files and vocabulary (``snakemake results/token_ids/inews_ids.npy``, or
``--prefix`` / ``--tokenizer``) and config.yaml's train settings, and runs ``train.pretrain`` (the chain's
jobs in one process: model_0, the links, the summary's test loss), each run in a fresh process (its own peak memory, no AMP state left over), for the tiny model
(``ernie-tiny-cpu``, sequence 128) and the base model (``ernie-1.0-base-zh-cw``, sequence 512) in float32,
O1, O2 and O2 + recompute, two micro-batches per step (gradient accumulation). Checks, each a FAIL row:

* training: every logged loss finite, the last below the first; O1/O2 log a loss scale;
* checkpoint: the last one (``model_<max_steps>``) holds float32 weights, its ``config.json`` says ``"dtype": "float32"``, and
  ``ErnieForPretraining.from_pretrained`` rebuilds a float32 model (LayerNorm included);
* O2 master gradients: after two micro-batches (no optimizer step), every trained parameter's gradient is
  float32 and finite;
* resume (tiny, O2): a run stopped by SIGTERM at half its steps and rerun continues from ``model_last``: the same
  steps, the loss scale carried over, losses close to the uninterrupted run's (GPU runs are not
  bit-identical: relative 2e-2);
* recompute: peak memory below O2's on the base model.

Per run it reports tokens/s (non-padding tokens, logged steps after the first), peak GPU memory
(``max_memory_allocated``; each run is a fresh process) and, for the base model, MFU: achieved model FLOP/s
over the GPU's dense float16 peak (``--peak-tflops``, else a table of common GPUs), model FLOPs per token =
3 x forward (matmuls of the encoder, attention over the padded sequence, the MLM head at the masked share of
positions; recompute's extra forward not counted). Prints the table, writes it to ``--out``, exits 1 on any
failure (or before training where the GPU readiness checks fail).
``--device cpu`` runs the float32 rows only (a check of this script on a machine without a GPU).
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from ernie_pipeline.settings import load_config  # noqa: E402
MODELS = {"tiny": ("ernie-tiny-cpu", 128, 32), "base": ("ernie-1.0-base-zh-cw", 512, 16)}  # name, seq, micro
PRECISIONS = {"fp32": (None, False), "O1": ("O1", False), "O2": ("O2", False), "O2+recompute": ("O2", True)}
# dense float16 tensor-core peak (TFLOP/s, float32 accumulation) by a substring of the device name
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "H800": 989.0, "A100": 312.0, "A800": 312.0, "L40S": 362.0,
               "L40": 181.0, "L4": 121.0, "A40": 150.0, "A10": 125.0, "A30": 165.0, "V100": 125.0, "T4": 65.0,
               "4090": 165.0, "3090": 71.0}
RESUME_TOLERANCE = 2e-2


def train_settings(model: str, precision: str, steps: int, device: str, micro: int | None) -> dict:
    name, seq, default_micro = MODELS[model]
    amp, recompute = PRECISIONS[precision]
    micro = micro or default_micro
    config = load_config(REPO / "config.yaml")
    return dict(config["train"], dataset=[["inews", 1.0]], model=name, device=device, amp=amp, recompute=recompute,
                max_seq_len=seq, micro_batch_size=micro, global_batch_size=2 * micro, max_steps=steps,
                max_lr=1e-4 if model == "base" else 1e-3, warmup_rate=0.1, logging_freq=1,
                eval_freq=steps, eval_iters=2, test_iters=2, save_steps=10 ** 9, checkpoint_steps=steps,
                num_workers=2, nproc_per_node=1)


def flops_per_token(config: dict, seq: int, masked_share: float) -> float:
    """Training FLOPs per token: 3 x the forward's (2 per multiply-add)."""
    d, layers, vocab = config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]
    ffn = config["intermediate_size"]
    encoder = layers * (2 * (4 * d * d + 2 * d * ffn) + 2 * 2 * seq * d)  # projections + scores and context
    head = masked_share * 2 * (d * d + d * vocab)
    return 3 * (encoder + head)


def _child_run(spec: dict) -> dict:
    """One training run in this process (``--child``): pretrain, then what the parent checks."""
    import ernie_pipeline  # noqa: F401  (system zlib before paddle)
    import paddle
    from paddlenlp.transformers import ErnieForPretraining

    from ernie_pipeline.index.index_map import build_index_map
    from ernie_pipeline.train.chain import map_samples
    from ernie_pipeline.train.build import TrainData
    from ernie_pipeline.train.loop import pretrain
    from ernie_pipeline.train.settings import TrainSettings

    cfg, out = spec["cfg"], Path(spec["out"])
    train = TrainSettings.from_config(cfg)
    sample_map = train.sample_map(spec["index"])
    maps = {}
    for split, samples in map_samples(train).items():
        maps[split] = [str(out.parent / f"{out.name}-{split}.npy")]
        if not Path(maps[split][0]).exists():
            build_index_map(spec["prefix"], split, maps[split][0], sample_map, samples)
    pretrain(TrainData([spec["prefix"]], spec["tokenizer"], maps, sample_map), train, str(out),
             str(out / "summary.json"))
    result = {"log": [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]}
    if cfg["device"] == "gpu":
        result["peak_bytes"] = paddle.device.cuda.max_memory_allocated()
        result["device_name"] = paddle.device.cuda.get_device_name()
    last = out / f"model_{train.max_steps}"
    result["config_dtype"] = json.loads((last / "config.json").read_text()).get("dtype")
    result["saved_dtypes"] = sorted({str(v.dtype) for v in paddle.load(str(last / "model_state.pdparams")).values()})
    reloaded = ErnieForPretraining.from_pretrained(str(last))
    result["reloaded_dtypes"] = sorted({str(p.dtype) for p in reloaded.parameters()})
    result["model_config"] = json.loads((last / "config.json").read_text())
    result["state"] = json.loads((last / "trainer_state.json").read_text())
    return result


def _child_master_grad(spec: dict) -> dict:
    """O2 with master gradients over two micro-batches, no step: the dtypes of the accumulated gradients."""
    import ernie_pipeline  # noqa: F401
    import paddle
    from paddlenlp.transformers import ErnieConfig, ErnieForPretraining, ErniePretrainingCriterion

    from ernie_pipeline.train.models import model_config

    paddle.set_device("gpu")
    paddle.seed(0)
    net = ErnieForPretraining(ErnieConfig(**model_config("ernie-tiny-cpu", 1000)))
    optimizer = paddle.optimizer.AdamW(parameters=net.parameters(), multi_precision=True)
    net, optimizer = paddle.amp.decorate(models=net, optimizers=optimizer, level="O2", save_dtype="float32",
                                         master_grad=True)
    criterion = ErniePretrainingCriterion(with_nsp_loss=True)
    scaler = paddle.amp.GradScaler(init_loss_scaling=1024)
    for micro_batch in range(2):
        ids = paddle.randint(1, 1000, [4, 64])
        positions = paddle.arange(0, 4 * 64, 7)
        with paddle.amp.auto_cast(level="O2"):
            scores, sop_scores = net(ids, masked_positions=positions)
            lm, sop = criterion(scores, sop_scores, paddle.randint(1, 1000, [positions.shape[0], 1]),
                                paddle.randint(0, 2, [4, 1]))
        scaler.scale((lm + sop) / 2).backward()
    grads = [p.grad for p in net.parameters() if not p.stop_gradient and p.grad is not None]
    return {"param_dtypes": sorted({str(p.dtype) for p in net.parameters()}),
            "grad_dtypes": sorted({str(g.dtype) for g in grads}),
            "finite": bool(all(bool(paddle.isfinite(g.astype("float32")).all()) for g in grads))}


def _run_child(kind: str, spec: dict, timeout: float) -> dict:
    command = [sys.executable, __file__, "--child", kind, json.dumps(spec)]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "seconds": time.perf_counter() - started}
    if done.returncode:
        return {"error": (done.stderr or done.stdout).strip()[-1500:], "seconds": time.perf_counter() - started}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["seconds"] = time.perf_counter() - started
    return result


def _stop_child_at(spec: dict, step: int, timeout: float) -> int:
    """Start a training run and send it SIGTERM (SLURM's time limit) once it has logged ``step``; the step its
    checkpoint holds."""
    command = [sys.executable, __file__, "--child", "run", json.dumps(spec)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    log, deadline = Path(spec["out"]) / "train_log.jsonl", time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if log.is_file() and any(json.loads(line)["step"] >= step for line in log.read_text().splitlines()):
            process.send_signal(signal.SIGTERM)
            break
        time.sleep(0.05)
    process.wait(timeout=timeout)
    state = Path(spec["out"]) / "model_last/trainer_state.json"
    return json.loads(state.read_text())["global_step"] if state.is_file() else 0


def check_run(result: dict, precision: str) -> list[str]:
    """What is wrong with a finished training run (empty: nothing)."""
    if "error" in result:
        return [f"crashed: {result['error'].splitlines()[-1] if result['error'] else '?'}"]
    problems = []
    losses = [r["loss"] for r in result["log"]]
    if not all(math.isfinite(v) for v in losses):
        problems.append(f"non-finite loss {losses}")
    elif len(losses) > 1 and not losses[-1] < losses[0]:
        problems.append(f"loss did not fall ({losses[0]:.3f} -> {losses[-1]:.3f})")
    if precision != "fp32" and not any("loss_scale" in r for r in result["log"]):
        problems.append("no loss scale logged")
    if result["config_dtype"] != "float32" or result["saved_dtypes"] != ["paddle.float32"]:
        problems.append(f"checkpoint dtype {result['config_dtype']}, weights {result['saved_dtypes']}")
    if result["reloaded_dtypes"] != ["paddle.float32"]:
        problems.append(f"from_pretrained built {result['reloaded_dtypes']}")
    return problems


def throughput(result: dict) -> float | None:
    windows = [r["tokens_per_second"] for r in result.get("log", [])[1:]]
    return sorted(windows)[len(windows) // 2] if windows else None


def peak_tflops(device_name: str | None, given: float | None) -> float | None:
    if given:
        return given
    return next((peak for key, peak in PEAK_TFLOPS.items() if device_name and key in device_name), None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="bench/results/gpu_smoke.md")
    parser.add_argument("--prefix", default=str(REPO / "results/token_ids/inews"))
    parser.add_argument("--tokenizer", default=str(REPO / "results/vocab/tokenizer"))
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=["tiny", "base"])
    parser.add_argument("--steps", type=int, default=40, help="training steps per run (the base model: half)")
    parser.add_argument("--micro-batch", type=int, help="override the micro-batch (tiny 32, base 16)")
    parser.add_argument("--peak-tflops", type=float, help="the GPU's dense float16 peak, for MFU")
    parser.add_argument("--device", choices=["gpu", "cpu"], default="gpu")
    parser.add_argument("--child", choices=["run", "master_grad"])
    parser.add_argument("spec", nargs="?")
    args = parser.parse_args()
    if args.child:
        print(json.dumps((_child_run if args.child == "run" else _child_master_grad)(json.loads(args.spec))))
        return 0
    if not Path(f"{args.prefix}_ids.npy").is_file() or not (Path(args.tokenizer) / "vocab.txt").is_file():
        sys.exit(f"{args.prefix}_ids.npy or {args.tokenizer}/vocab.txt is missing: build them first "
                 "(.venv/bin/snakemake --cores 4 results/token_ids/inews_ids.npy) or pass --prefix / --tokenizer")
    if args.device == "gpu":  # the readiness checks first: their message beats a crash in every run
        from ernie_pipeline.train.paddle_backend.gpu import check_gpu_runtime, gpu_count

        try:
            gpu_count()
            check_gpu_runtime(processes=1)
        except (RuntimeError, ValueError) as error:
            sys.exit(f"FAILED before training: {error}")
    index_cfg = load_config(REPO / "config.yaml")["index"]
    precisions = list(PRECISIONS) if args.device == "gpu" else ["fp32"]
    rows, failures, results = [], [], {}
    work = Path(tempfile.mkdtemp(prefix="gpu-smoke-"))
    for model in args.models:
        steps = args.steps if model == "tiny" else max(4, args.steps // 2)
        for precision in precisions:
            cfg = train_settings(model, precision, steps, args.device, args.micro_batch)
            spec = {"cfg": cfg, "index": index_cfg, "prefix": args.prefix, "tokenizer": args.tokenizer,
                    "out": str(work / f"{model}-{precision}")}
            result = results[model, precision] = _run_child("run", spec, timeout=300)
            problems = check_run(result, precision)
            tokens = throughput(result)
            mfu = ""
            if model == "base" and tokens and "model_config" in result:
                peak = peak_tflops(result.get("device_name"), args.peak_tflops)
                flops = flops_per_token(result["model_config"], cfg["max_seq_len"], cfg["masked_lm_prob"])
                mfu = f"{tokens * flops / (peak * 1e12):.1%}" if peak and args.device == "gpu" else "n/a"
            peak_memory = f"{result['peak_bytes'] / 2 ** 30:.2f}" if "peak_bytes" in result else "n/a"
            log = result.get("log") or [{}]
            rows.append([model, precision, f"{cfg['max_seq_len']}", f"{cfg['micro_batch_size']}x2",
                         f"{steps}", f"{log[0].get('loss', float('nan')):.3f} -> {log[-1].get('loss', float('nan')):.3f}",
                         f"{tokens:,.0f}" if tokens else "n/a", peak_memory, mfu or "", f"{result['seconds']:.0f}",
                         "; ".join(problems) or "ok"])
            failures += [f"{model} {precision}: {p}" for p in problems]
        if model == "base" and {"O2", "O2+recompute"} <= set(precisions):
            plain, recomputed = results[model, "O2"].get("peak_bytes"), results[model, "O2+recompute"].get("peak_bytes")
            if plain and recomputed and not recomputed < plain:
                failures.append(f"base O2+recompute: peak memory {recomputed} not below O2's {plain}")
    checks = []
    if args.device == "gpu":
        grads = _run_child("master_grad", {}, timeout=120)
        ok = "error" not in grads and grads["grad_dtypes"] == ["paddle.float32"] and grads["finite"]
        checks.append(["O2 master gradients over 2 micro-batches", "ok" if ok else f"FAIL {grads}"])
        failures += [] if ok else [f"O2 master gradients: {grads}"]
    # resume: the tiny model stopped (SIGTERM) at half its steps, then rerun, against the uninterrupted run
    precision = "O2" if args.device == "gpu" else "fp32"
    straight = results.get(("tiny", precision))
    if straight and "log" in straight:
        steps = args.steps
        spec = {"cfg": train_settings("tiny", precision, steps, args.device, args.micro_batch), "index": index_cfg,
                "prefix": args.prefix, "tokenizer": args.tokenizer, "out": str(work / f"tiny-{precision}-resumed")}
        stopped_at = _stop_child_at(spec, steps // 2, timeout=300)
        second = _run_child("run", spec, timeout=300)
        problems = [] if 0 < stopped_at < steps else [f"the stopped run's checkpoint holds step {stopped_at}"]
        if "error" in second:
            problems.append(f"crashed: {second['error'].splitlines()[-1]}")
        else:
            expected = {r["step"]: r for r in straight["log"]}
            resumed = {r["step"]: r for r in second["log"] if r["step"] > stopped_at}
            if sorted(resumed) != list(range(stopped_at + 1, steps + 1)):
                problems.append(f"resumed steps {sorted(resumed)}")
            for step, record in resumed.items():
                want = expected.get(step, {}).get("loss", float("nan"))
                if not abs(record["loss"] - want) <= RESUME_TOLERANCE * abs(want):
                    problems.append(f"step {step} loss {record['loss']:.5f} vs {want:.5f} uninterrupted")
            if precision != "fp32" and "loss_scale" not in resumed.get(stopped_at + 1, {}):
                problems.append("no loss scale after resuming")
            if second["state"]["global_step"] != steps:
                problems.append(f"the last checkpoint at step {second['state']['global_step']}")
        checks.append([f"resume (tiny {precision}, SIGTERM at step {stopped_at} of {steps})",
                       "; ".join(problems[:3]) or "ok"])
        failures += [f"resume: {p}" for p in problems]

    device = next((r.get("device_name") for r in results.values() if r.get("device_name")), args.device)
    header = ["model", "precision", "seq", "micro x accum", "steps", "loss first -> last", "tokens/s",
              "peak GiB", "MFU", "s", "check"]
    lines = [f"# GPU smoke run: {device}, {time.strftime('%Y-%m-%d %H:%M')}", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", "| check | result |", "|---|---|"] + [f"| {name} | {result} |" for name, result in checks]
    lines += ["", f"**{'FAILED' if failures else 'passed'}**"] + [f"- {f}" for f in failures]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
