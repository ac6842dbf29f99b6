"""Stage 5: ERNIE pretraining (upstream ``run_pretrain.py``), one readable loop.

Model: paddlenlp ``ErnieForPretraining`` (MLM head + sentence-order head) with
``ErniePretrainingCriterion``; AdamW (no decay on bias/norm), global-norm clipping, linear warmup then
linear decay to ``min_lr`` (``LinearAnnealingWithWarmupDecay``); gradient accumulation from
``global_batch_size / micro_batch_size``.

Output folder::

    model_last/         every checkpoint_steps and at the end; replaced atomically
    model_<step>/       every save_steps and at the end
    visualdl/           VisualDL scalars (train/*, valid/*, test/*)
    train_log.jsonl     the train scalars of every logged step, at full precision

Each checkpoint loads with ``ErnieForPretraining.from_pretrained(dir)`` and
``ErnieTokenizer.from_pretrained(dir)`` and also holds the optimizer (``model_state.pdopt``) and
``trainer_state.json`` (step, consumed samples). Randomness is a function of the config and the
position: samples are drawn from ``seed + sample index``, dropout from a stream reseeded at every
micro-batch from ``(seed, step, micro-batch)``; so a rerun resumes from ``model_last`` and, on CPU,
continues exactly as an uninterrupted run would.

Data parallel (``ernie_pipeline.train.launch`` starts the processes): each rank reads its slice of every global
batch and draws the dropout of the micro-batch it stands for, so N processes with micro-batch m follow the
trajectory of one process accumulating N micro-batches of m (up to the order of float sums); gradients are
all-reduced at the last micro-batch of a step only. Rank 0 logs and writes checkpoints. The number of
processes may change between a checkpoint and its resume. On GPUs, AMP O1/O2 with dynamic loss scaling
(``train.amp``, ``train.scale_loss``; the scaler's state is checkpointed in ``scaler.pdparams``) and
recompute of the encoder layers (``train.recompute``).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import math
import os
import random
import signal
import sys
import time
from pathlib import Path

import numpy as np

import ernie_pipeline  # noqa: F401  (system zlib before paddle)
from ernie_pipeline.io.atomic import atomic_path, atomic_write, recover_directory
from ernie_pipeline.data.blend import BlendedDataset, dataset_samples
from ernie_pipeline.data.dataset import ErnieDataset
from ernie_pipeline.data.index_map import SPLIT_NAMES, data_checksum, describe, load_index_map, num_samples
from ernie_pipeline.data.token_files import IdsDataset
from ernie_pipeline.data.masking import Vocab, collate
from ernie_pipeline.train.models import check_train_settings, enable_recompute, model_config
from ernie_pipeline.io.safe_pickle import UnsafePickleError, load_paddle_state
from ernie_pipeline.tokenize.token_ids import check_same_vocabulary, load_tokenizer

log = logging.getLogger(__name__)
FIELDS = ("input_ids", "token_type_ids", "attention_mask", "masked_positions", "masked_labels", "sop_labels")
STATE_FILE = "trainer_state.json"
# settings a run may change and still continue from its last checkpoint (they do not touch the trajectory)
RESUME_NEUTRAL_KEYS = ("logging_freq", "eval_freq", "eval_iters", "test_iters", "save_steps", "checkpoint_steps",
                       "num_workers", "threads", "nproc_per_node", "nnodes", "master_port", "rendezvous_timeout",
                       "recompute")
# upstream's AMP lists (run_pretrain.py v2.5); evaluation leaves dropout out of the white list
AMP_WHITE_LIST = ("softmax", "layer_norm", "gelu")
AMP_BLACK_LIST = ("c_softmax_with_cross_entropy",)
TRAIN_LOG = "train_log.jsonl"  # every logged step's losses, learning rate and throughput (each step once)
# checkpoint weights are float32 whatever the training precision (O2 trains float16 copies of them)
SAVE_DTYPE = "float32"
BLEND_SEED_STRIDE = 1_000_003  # seed of the k-th dataset of a blend: seed + k * stride


def _collate_tuple(samples):
    batch = collate(samples)
    return tuple(batch[f] for f in FIELDS)


def _loader(dataset, micro_batch_size, consumed, num_workers):
    """An iterator over this rank's micro-batches from global sample ``consumed`` on."""
    import paddle
    from paddlenlp.utils.batch_sampler import DistributedBatchSampler

    # each data-parallel rank reads its slice of every global batch (world size 1 and rank 0 when alone)
    sampler = DistributedBatchSampler(dataset, batch_size=micro_batch_size,
                                      num_replicas=paddle.distributed.get_world_size(),
                                      rank=paddle.distributed.get_rank(), shuffle=False, drop_last=True,
                                      consumed_samples=consumed)
    loader = paddle.io.DataLoader(dataset, batch_sampler=sampler, collate_fn=_collate_tuple,
                                  num_workers=num_workers, return_list=True, worker_init_fn=_ignore_stop_signals)
    batches = iter(loader)
    _end_workers_at_exit(batches)
    return batches


def _ignore_stop_signals(worker_id: int) -> None:
    """In a loader worker: SLURM signals every process of the job, and a worker killed by SIGTERM takes the
    trainer down before it can checkpoint. The trainer ends its workers itself (:func:`_end_workers_at_exit`),
    and should it die, the kernel kills them (Linux PR_SET_PDEATHSIG) instead of leaving them orphaned."""
    for signum in StopRequest.SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    if sys.platform == "linux":
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _end_workers_at_exit(batches) -> None:
    """multiprocessing ends daemon workers at exit with SIGTERM, which ours ignore: end them first with Paddle's
    own shutdown (atexit runs last-registered first, so this precedes multiprocessing's handler)."""
    shutdown = getattr(batches, "_try_shutdown_all", None)  # only multi-process loader iterators have workers
    if shutdown is not None:
        atexit.register(shutdown)


def _losses(model, criterion, batch, binary_head):
    input_ids, token_types, attention, positions, labels, sop_labels = batch
    scores, sop_scores = model(input_ids, token_type_ids=token_types, attention_mask=attention,
                               masked_positions=positions)
    if binary_head:
        lm_loss, sop_loss = criterion(scores, sop_scores, labels, sop_labels)
        return lm_loss + sop_loss, lm_loss, sop_loss
    lm_loss = criterion(scores, sop_scores, labels)
    return lm_loss, lm_loss, None


def _autocast(cfg: dict, training: bool):
    """upstream's AMP context (a no-op without ``train.amp``)."""
    import paddle

    white = AMP_WHITE_LIST + (("dropout",) if training else ())
    return paddle.amp.auto_cast(enable=bool(cfg.get("amp")), level=cfg.get("amp") or "O1",
                                custom_white_list=list(white), custom_black_list=list(AMP_BLACK_LIST))


def _mean_over_ranks(values: list, world: int) -> list[float]:
    """Python floats of ``values`` (tensors or numbers) averaged over the data-parallel ranks."""
    import paddle

    stacked = paddle.to_tensor([float(v) for v in values], dtype="float64")
    if world > 1:
        paddle.distributed.all_reduce(stacked)
        stacked = stacked / world
    return stacked.tolist()


def _evaluate(model, criterion, batches, iters, cfg, world) -> dict:
    import paddle

    model.eval()
    totals = [0.0, 0.0, 0.0]
    done = 0
    with paddle.no_grad():
        for _ in range(iters):
            batch = next(batches, None)
            if batch is None:
                break
            with _autocast(cfg, training=False):
                loss, lm, sop = _losses(model, criterion, batch, cfg["binary_head"])
            for k, value in enumerate((loss, lm, sop if sop is not None else 0.0)):
                totals[k] += float(value)
            done += 1
    model.train()
    if not done:
        return {}
    return dict(zip(("loss", "lm_loss", "sop_loss"), _mean_over_ranks([t / done for t in totals], world)))


def check_device_settings(cfg: dict) -> None:
    """Clear errors for settings the chosen device cannot run (instead of a failure deep inside Paddle)."""
    if cfg.get("device", "cpu") == "gpu":
        if cfg.get("amp") not in (None, "O1", "O2"):
            raise ValueError(f"config train.amp: expected null, O1 or O2, got {cfg['amp']!r}")
        return
    if cfg.get("amp"):
        raise ValueError(f"config train.amp={cfg['amp']}: AMP (float16 with loss scaling) runs on GPUs only; "
                         "set train.amp: null to train on CPU in float32, or train.device: gpu")
    if cfg.get("recompute"):
        raise ValueError("config train.recompute: Paddle recomputes with the dropout random state preserved on "
                         "GPUs only; set train.recompute: false on CPU (CPU memory is rarely the limit)")


def loss_scale(scaler) -> float | None:
    """The dynamic loss scale of ``scaler``; None without one or where Paddle disabled it (bf16, GPUs below
    compute capability 7.0, CPU), whose state has no scale."""
    if scaler is None or not scaler.is_enable():
        return None
    return float(scaler.state_dict()["scale"])


def step_seed(seed: int, step: int, micro_batch: int) -> int:
    """The dropout seed of one micro-batch: distinct for every (seed, step, micro-batch), below 2**63."""
    digest = hashlib.sha256(f"{seed}:{step}:{micro_batch}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _pretrained_weights(folder: Path, model) -> dict:
    """The weights of a pretrained folder (``model_state.pdparams``), checked against ``model``'s shapes."""
    weights_file = folder / "model_state.pdparams"
    if not weights_file.is_file():
        raise FileNotFoundError(f"config train.continue_training: {weights_file} not found")
    try:  # not paddle.load: a full unpickler runs any code a crafted file carries
        weights = load_paddle_state(weights_file)
    except (UnsafePickleError, ValueError) as err:
        raise type(err)(f"config train.continue_training: {err}") from None
    ours = model.state_dict()
    mismatched = [f"{k} {list(weights[k].shape)} vs {list(v.shape)}" for k, v in ours.items()
                  if k in weights and list(weights[k].shape) != list(v.shape)]
    missing = [k for k in ours if k not in weights]
    if mismatched or missing:
        raise ValueError(f"config train.continue_training: {folder} does not fit train.model / the vocabulary "
                         f"(shapes: {mismatched[:3]}, missing: {missing[:3]})")
    return weights


def save_model(model, directory: Path) -> None:
    """``model.save_pretrained`` with the weights' dtype in config.json: under O2 paddlenlp writes the dtype of
    the float16 parameters while Paddle's save hook writes them as float32, and ``from_pretrained`` would
    build a float16 model (LayerNorm included) from float32 weights."""
    model.save_pretrained(str(directory))
    config_path = Path(directory) / "config.json"
    config = json.loads(config_path.read_text())
    config["dtype"] = SAVE_DTYPE
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _save_checkpoint(path: Path, model, tokenizer, optimizer, scaler, state: dict) -> None:
    import paddle

    with atomic_path(path, is_dir=True) as tmp:
        save_model(model, tmp)
        tokenizer.save_pretrained(str(tmp))
        # The '##X' Chinese tokens are a data-preparation device, not part of the released vocabulary.
        (tmp / "added_tokens.json").unlink(missing_ok=True)
        paddle.save(optimizer.state_dict(), str(tmp / "model_state.pdopt"))
        if scaler is not None:
            paddle.save(scaler.state_dict(), str(tmp / "scaler.pdparams"))
        (tmp / STATE_FILE).write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")


def pretrain(data_prefixes: list[str], tokenizer_source: str, index_maps: dict[str, list[str]], output_dir: str,
             cfg: dict, index_cfg: dict, summary_path: str, blends: dict[str, str] | None = None) -> dict:
    """Train per ``cfg`` (config.yaml ``train``; ``cfg["dataset"]`` the resolved blend, a list of
    (dataset, weight) in the order of ``data_prefixes``); write checkpoints, VisualDL logs and a
    summary. ``index_maps`` gives each split's maps in the same order; ``blends`` each split's
    blending index when there are several datasets."""
    import paddle
    from paddlenlp.transformers import ErnieConfig, ErnieForPretraining, ErniePretrainingCriterion
    from paddlenlp.transformers import LinearAnnealingWithWarmupDecay
    from visualdl import LogWriter

    output = Path(output_dir)
    check_device_settings(cfg)
    paddle.set_device(cfg.get("device", "cpu"))
    world, rank = paddle.distributed.get_world_size(), paddle.distributed.get_rank()
    if cfg.get("device", "cpu") == "cpu":  # Paddle's CPU kernels use one thread unless told otherwise
        local_processes = int(os.environ.get("PADDLE_LOCAL_SIZE", 1))
        paddle.base.core.set_num_threads(max(1, cfg.get("threads", 1) // local_processes))
    if world > 1:
        # pure data parallel, what upstream's fleet.distributed_model amounts to (fleet's DistributedStrategy
        # does not load with this stack's protobuf)
        paddle.distributed.init_parallel_env()
    seed = cfg["seed"]
    random.seed(seed)
    np.random.seed(seed)
    paddle.seed(seed)  # the same initial weights on every rank

    check_train_settings(cfg, world)
    micro, global_batch = cfg["micro_batch_size"], cfg["global_batch_size"]
    accumulate = global_batch // (micro * world)
    binary_head = cfg["binary_head"]
    max_seq_len = cfg["max_seq_len"]

    tokenizer = load_tokenizer(tokenizer_source)
    vocab = Vocab.from_tokenizer(tokenizer)
    blend = [tuple(pair) for pair in cfg["dataset"]]
    if len(blend) != len(data_prefixes) or (len(blend) > 1) != bool(blends):
        raise ValueError(f"{len(data_prefixes)} token files and blend indices {blends} for train.dataset {blend}")
    wanted = {split: dataset_samples(total, blend) for split, total in num_samples(cfg).items()}
    checksums, token_files = {}, {}
    for prefix in data_prefixes:
        check_same_vocabulary(prefix, tokenizer)
        checksums[prefix] = data_checksum(prefix)
        token_files[prefix] = IdsDataset(prefix)  # memory-mapped, shared by the three splits
    datasets, records = {}, {}
    for split in SPLIT_NAMES:
        parts, records[split] = [], []
        for k, (prefix, (name, _)) in enumerate(zip(data_prefixes, blend)):
            expected = describe(prefix, split, index_cfg["split"], max_seq_len, index_cfg["short_seq_prob"],
                                seed, wanted[split][name], binary_head, checksums[prefix])
            records[split].append(expected)
            # each dataset of a blend draws its masking from its own seed
            parts.append(ErnieDataset(
                token_files[prefix], load_index_map(index_maps[split][k], expected), vocab, max_seq_len,
                seed + k * BLEND_SEED_STRIDE, binary_head, cfg["masked_lm_prob"], cfg["max_ngrams"],
                cfg["favor_longer_ngram"], cfg["geometric_dist"]))
        datasets[split] = BlendedDataset(parts, blends[split]) if len(parts) > 1 else parts[0]

    config = ErnieConfig(**model_config(cfg["model"], vocab.size, cfg.get("model_overrides"),
                                        cfg["hidden_dropout_prob"], cfg["attention_probs_dropout_prob"]))
    net = ErnieForPretraining(config)
    if cfg.get("continue_training"):  # upstream --continue_training: start from a pretrained folder's weights
        net.set_state_dict(_pretrained_weights(Path(cfg["continue_training"]), net))
    if not binary_head:
        # no SOP loss: its head and the pooler before it get no gradient, which DataParallel refuses
        # (find_unused_parameters); frozen, they are left out of its gradient sync and of the optimizer
        for param in net.ernie.pooler.parameters() + net.cls.seq_relationship.parameters():
            param.stop_gradient = True
    if cfg.get("recompute"):
        enable_recompute(net)
    criterion = ErniePretrainingCriterion(with_nsp_loss=binary_head)

    max_steps = cfg["max_steps"]
    warmup_steps = int(cfg["warmup_rate"] * max_steps)
    decay_steps = cfg.get("decay_steps") or max_steps
    # what a checkpoint must share with this run to be continued: every setting the training trajectory
    # depends on, and the train data (the records of the train maps)
    run = {"train": {k: v for k, v in cfg.items() if k not in RESUME_NEUTRAL_KEYS}, "data": records["train"]}
    run = json.loads(json.dumps(run))  # tuples as lists, as read back from the state file
    state = {"global_step": 0, "consumed_samples": 0, "global_batch_size": global_batch, "run": run}
    last = output / "model_last"
    if rank == 0 and recover_directory(last):  # a crash fell between the renames of a checkpoint replace
        log.warning("recovered %s from the previous checkpoint", last)
    _barrier(world)
    if (last / STATE_FILE).is_file():
        state = json.loads((last / STATE_FILE).read_text())
        if state.get("run") != run:
            before = state.get("run") or {"train": {}, "data": []}
            changed = sorted(k for k in set(run["train"]) | set(before["train"])
                             if run["train"].get(k) != before["train"].get(k))
            changed += ["the train data"] if run["data"] != before["data"] else []
            raise ValueError(f"{last} was trained with other settings (changed: {', '.join(changed) or 'unknown'}); "
                             f"move or delete {output} to train anew")
        net.set_state_dict(paddle.load(str(last / "model_state.pdparams")))
        log.info("resuming from %s at step %d", last, state["global_step"])
    lr = LinearAnnealingWithWarmupDecay(cfg["max_lr"], cfg["min_lr"], warmup_steps, decay_steps,
                                        last_epoch=state["global_step"])
    no_decay = ("bias", "norm")
    decay_names = {p.name for n, p in net.named_parameters() if not any(k in n for k in no_decay)}
    optimizer = paddle.optimizer.AdamW(
        learning_rate=lr, beta1=cfg["adam_beta1"], beta2=cfg["adam_beta2"], epsilon=cfg["adam_epsilon"],
        parameters=net.parameters(), weight_decay=cfg["weight_decay"],
        grad_clip=paddle.nn.ClipGradByGlobalNorm(cfg["grad_clip"]) if cfg["grad_clip"] > 0 else None,
        apply_decay_param_fun=lambda name: name in decay_names, multi_precision=bool(cfg.get("amp")))
    scaler = None
    if cfg.get("amp"):
        scaler = paddle.amp.GradScaler(init_loss_scaling=cfg["scale_loss"])
        if cfg["amp"] == "O2":  # float16 weights, float32 master weights in the optimizer; saved as float32
            # master_grad: each micro-batch's float16 gradients are added into float32 ones (a float16 sum
            # over many micro-batches loses the small ones), then unscaled, clipped and applied in float32
            net, optimizer = paddle.amp.decorate(models=net, optimizers=optimizer, level="O2", save_dtype=SAVE_DTYPE,
                                                 master_grad=cfg["amp_master_grad"])
        if (last / "scaler.pdparams").is_file():
            scaler.load_state_dict(paddle.load(str(last / "scaler.pdparams")))
    if (last / "model_state.pdopt").is_file():
        optimizer.set_state_dict(paddle.load(str(last / "model_state.pdopt")))
    model = paddle.DataParallel(net) if world > 1 else net

    # every evaluation reads eval_iters global batches of the valid split; resume continues after the last one
    eval_consumed = global_batch * cfg["eval_iters"] * (state["global_step"] // cfg["eval_freq"])
    train_batches = _loader(datasets["train"], micro, state["consumed_samples"], cfg["num_workers"])
    valid_batches = _loader(datasets["valid"], micro, eval_consumed, 0)
    writer = None
    if rank == 0:
        drop_log_rows_after(output / TRAIN_LOG, state["global_step"])
        writer = LogWriter(logdir=str(output / "visualdl"))
        writer.add_text("model_config", json.dumps(config.to_dict(), ensure_ascii=False), step=0)

    from tqdm import tqdm

    progress = tqdm(total=max_steps, initial=state["global_step"], desc="pretrain", unit="step", mininterval=5,
                    disable=rank != 0)
    history = []
    start_time = window_start = time.perf_counter()
    trained_tokens = 0
    window = _new_window()
    micro_step = 0
    stop = StopRequest()  # SLURM's time limit or preemption: checkpoint at the end of the current step
    model.train()
    for batch in train_batches:
        if state["global_step"] >= max_steps:
            break
        # dropout draws from a stream seeded by (seed, step, micro-batch of the global batch): a resumed run
        # draws the masks an uninterrupted one does, and any number of ranks those of one accumulating rank
        # (Paddle's generator state does not survive pickling: only its seed does)
        # (global batch chunk c of micro-batches holds rank r's micro-batch at position c * world + r)
        paddle.seed(step_seed(seed, state["global_step"], (micro_step % accumulate) * world + rank))
        micro_step += 1
        boundary = micro_step % accumulate == 0
        with _autocast(cfg, training=True):
            loss, lm, sop = _losses(model, criterion, batch, binary_head)
        scaled = (loss / accumulate) if scaler is None else scaler.scale(loss / accumulate)
        if world > 1 and not boundary:
            with model.no_sync():  # gradients are all-reduced once per step, at its last micro-batch
                scaled.backward()
        else:
            scaled.backward()
        add_to_window(window, accumulate, loss=loss, lm_loss=lm, sop_loss=sop)
        window["tokens"] += (batch[0] != tokenizer.pad_token_id).sum()
        if not boundary:
            continue
        if scaler is None:
            optimizer.step()
        else:
            scaler.step(optimizer)  # skipped when the scaled gradients overflowed
            scaler.update()
        lr.step()
        optimizer.clear_grad()
        state["global_step"] += 1
        state["consumed_samples"] += global_batch
        step = state["global_step"]
        window["steps"] += 1
        progress.update(1)

        if step % cfg["logging_freq"] == 0 or step == max_steps:
            loss_v, lm_v, sop_v, tokens = _mean_over_ranks(
                [window[k] / window["steps"] for k in ("loss", "lm_loss", "sop_loss")] + [window["tokens"]], world)
            tokens *= world  # all ranks' tokens
            trained_tokens += tokens
            elapsed = time.perf_counter() - window_start
            record = {"loss": loss_v, "lm_loss": lm_v, "sop_loss": sop_v, "step": step,
                      "learning_rate": optimizer.get_lr(), "tokens_per_second": tokens / elapsed,
                      "steps_per_second": window["steps"] / elapsed}
            if loss_scale(scaler) is not None:
                record["loss_scale"] = loss_scale(scaler)
            if not math.isfinite(record["loss"]):
                raise FloatingPointError(f"training loss is {record['loss']} at step {step}; lower train.max_lr")
            history.append(record)
            if rank == 0:
                _log_train_record(writer, output, record, binary_head)
            window = _new_window()
            window_start = time.perf_counter()
        if step % cfg["eval_freq"] == 0 or step == max_steps:
            scores = _evaluate(model, criterion, valid_batches, cfg["eval_iters"] * accumulate, cfg, world)
            if rank == 0:
                for key, value in scores.items():
                    writer.add_scalar(f"valid/{key}", value, step)
                log.info("step %d valid %s", step, scores)
            state["valid"] = scores
        stopping = stop.agreed(world) and step < max_steps
        for due, path in ((step % cfg["save_steps"] == 0, output / f"model_{step}"),
                          (step % cfg["checkpoint_steps"] == 0 or stopping, last)):
            if due or step == max_steps:
                if rank == 0:
                    _save_checkpoint(path, net, tokenizer, optimizer, scaler, state)
                _barrier(world)
        if stopping:
            stop.restore()
            raise TrainingStopped(f"stopped by signal {stop.signal_name} after step {step} of {max_steps}; "
                                  f"{last} holds step {step}: a rerun continues from it")
    progress.close()
    stop.restore()
    if state["global_step"] < max_steps:
        raise RuntimeError(f"the train sample map ran out at step {state['global_step']} of {max_steps}")

    test_batches = _loader(datasets["test"], micro, 0, 0)
    test = _evaluate(model, criterion, test_batches, cfg["test_iters"] * accumulate, cfg, world)
    seconds = time.perf_counter() - start_time
    summary = {
        "steps": max_steps,
        "final_train": history[-1] if history else None,
        "valid": state.get("valid"),
        "test": test,
        "tokens_per_second": trained_tokens / seconds if seconds and trained_tokens else None,
        "seconds": seconds,
        "checkpoint": str(last),
        "data_parallel": world,
    }
    if rank == 0:
        for key, value in test.items():
            writer.add_scalar(f"test/{key}", value, max_steps)
        writer.close()
        with atomic_write(summary_path) as handle:
            json.dump(summary, handle, indent=1, sort_keys=True)
            handle.write("\n")
    return summary


class TrainingStopped(RuntimeError):
    """Training stopped early on request (SIGTERM, SIGUSR1); model_last holds the last finished step."""


class StopRequest:
    """Turns SIGTERM / SIGUSR1 (what SLURM sends at a job's time limit, on preemption, or with
    ``--signal``) into a request to stop after the current step, with a checkpoint."""

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __init__(self):
        self.signal_name = None
        self._previous = {s: signal.signal(s, self._request) for s in self.SIGNALS}

    def _request(self, signum, frame):
        self.signal_name = signal.Signals(signum).name

    def agreed(self, world: int) -> bool:
        """Whether any rank was asked to stop (every rank must stop at the same step)."""
        if world == 1:
            return self.signal_name is not None
        import paddle

        flag = paddle.to_tensor([int(self.signal_name is not None)])
        paddle.distributed.all_reduce(flag, op=paddle.distributed.ReduceOp.MAX)
        self.signal_name = self.signal_name or ("on another rank" if int(flag) else None)
        return bool(int(flag))

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def _new_window() -> dict:
    return {"loss": 0.0, "lm_loss": 0.0, "sop_loss": 0.0, "tokens": 0, "steps": 0}


def add_to_window(window: dict, accumulate: int, **losses) -> None:
    """Add a micro-batch's losses (tensors, or None) to the logging window. Summed as tensors (a float() per
    micro-batch would wait for the device every time), in float32: O2's float16 losses summed over a window of
    thousands of micro-batches would stall (float16 has 11 significant bits: 2048 + 1 == 2048)."""
    for key, value in losses.items():
        if value is not None:
            window[key] += value.detach().astype("float32") / accumulate


def _barrier(world: int) -> None:
    if world > 1:
        import paddle

        paddle.distributed.barrier()


def drop_log_rows_after(path: Path, step: int) -> None:
    """Keep the rows of ``path`` (train_log.jsonl) up to ``step``, the checkpoint a run starts from: later ones
    were logged by an attempt that died before its next checkpoint, and are trained and logged again (a torn
    last line goes too). Streamed, so a long run's log is never held in memory."""
    if not path.is_file():
        return
    with open(path, encoding="utf-8") as rows, atomic_write(path) as kept:
        for row in rows:
            try:
                if json.loads(row)["step"] <= step:
                    kept.write(row)
            except (json.JSONDecodeError, KeyError, TypeError):
                continue


def _log_train_record(writer, output: Path, record: dict, binary_head: bool) -> None:
    """One logged step: VisualDL scalars, a log line and a line of train_log.jsonl (full precision)."""
    step = record["step"]
    for key in ("loss", "lm_loss", "sop_loss", "learning_rate", "tokens_per_second", "steps_per_second",
                "loss_scale"):
        if key in record and (key != "sop_loss" or binary_head):
            writer.add_scalar(f"train/{key}", record[key], step)
    log.info("step %d loss %.4f lm_loss %.4f sop_loss %.4f lr %.3e %.0f tokens/s%s", step, record["loss"],
             record["lm_loss"], record["sop_loss"], record["learning_rate"], record["tokens_per_second"],
             f" loss scale {record['loss_scale']:g}" if "loss_scale" in record else "")
    with open(output / TRAIN_LOG, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
