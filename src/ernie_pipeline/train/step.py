"""What one training step computes, apart from the loop that runs it: the process's setup (device, threads,
data-parallel group, seeds), the losses under upstream's AMP lists, the evaluation of a split, the dropout seed
of a micro-batch, and means over the data-parallel ranks."""

from __future__ import annotations

import hashlib
import itertools
import os
import random

import numpy as np

import ernie_pipeline  # noqa: F401  (system zlib before paddle)
from ernie_pipeline.train.settings import TrainSettings

# upstream's AMP lists (run_pretrain.py v2.5); evaluation leaves dropout out of the white list
AMP_WHITE_LIST = ("softmax", "layer_norm", "gelu")
AMP_BLACK_LIST = ("c_softmax_with_cross_entropy",)


def losses(model, criterion, batch, binary_head):
    input_ids, token_types, attention, positions, labels, sop_labels = batch
    scores, sop_scores = model(input_ids, token_type_ids=token_types, attention_mask=attention,
                               masked_positions=positions)
    if binary_head:
        lm_loss, sop_loss = criterion(scores, sop_scores, labels, sop_labels)
        return lm_loss + sop_loss, lm_loss, sop_loss
    lm_loss = criterion(scores, sop_scores, labels)
    return lm_loss, lm_loss, None


def autocast(amp: str | None, training: bool):
    """upstream's AMP context (a no-op without ``train.amp``)."""
    import paddle

    white = AMP_WHITE_LIST + (("dropout",) if training else ())
    return paddle.amp.auto_cast(enable=bool(amp), level=amp or "O1",
                                custom_white_list=list(white), custom_black_list=list(AMP_BLACK_LIST))


def mean_over_ranks(values: list, world: int) -> list[float]:
    """Python floats of ``values`` (tensors or numbers) averaged over the data-parallel ranks."""
    import paddle

    stacked = paddle.to_tensor([float(v) for v in values], dtype="float64")
    if world > 1:
        paddle.distributed.all_reduce(stacked)
        stacked = stacked / world
    return stacked.tolist()


def evaluate(model, criterion, batches, iters: int, train: TrainSettings, world: int) -> dict:
    import paddle

    model.eval()
    totals = [0.0, 0.0, 0.0]
    done = 0
    with paddle.no_grad():
        for _ in range(iters):
            batch = next(batches, None)
            if batch is None:
                break
            with autocast(train.amp, training=False):
                loss, lm, sop = losses(model, criterion, batch, train.binary_head)
            for k, value in enumerate((loss, lm, sop if sop is not None else 0.0)):
                totals[k] += float(value)
            done += 1
    model.train()
    if not done:
        return {}
    return dict(zip(("loss", "lm_loss", "sop_loss"), mean_over_ranks([t / done for t in totals], world)))


def loss_scale(scaler) -> float | None:
    """The dynamic loss scale of ``scaler``; None without one or where Paddle disabled it (bf16, GPUs below
    compute capability 7.0, CPU), whose state has no scale."""
    if scaler is None or not scaler.is_enable():
        return None
    return float(scaler.state_dict()["scale"])


_BARRIERS = itertools.count()


def barrier(world: int) -> None:
    """Wait until every rank gets here, through Paddle's TCP store (the rendezvous's store, minutes of patience)
    rather than a gloo collective: gloo gives up after 30 s, and a rank kept waiting that long in the gradient
    all-reduce inside backward() aborts (gloo's TimeoutException is not turned into a Python error: exit -6, no
    traceback). So every stretch one rank works alone (rank 0 opening the live logs, writing a checkpoint) ends
    here, and the ranks enter their next collective together however loaded the machine is."""
    if world == 1:
        return
    from paddle.base import core

    store = core.create_or_get_global_tcp_store()
    name = f"ernie_pipeline/barrier/{next(_BARRIERS)}"  # every rank passes the same barriers in the same order
    if store.add(name, 1) == world:
        store.set(f"{name}/done", "1")
    store.wait(f"{name}/done")


def step_seed(seed: int, step: int, micro_batch: int) -> int:
    """The dropout seed of one micro-batch: distinct for every (seed, step, micro-batch), below 2**63."""
    digest = hashlib.sha256(f"{seed}:{step}:{micro_batch}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def start_process(train: TrainSettings) -> tuple[int, int]:
    """Device, CPU threads, the data-parallel group and the seeds of this process; (world size, rank)."""
    import paddle

    train.check_device()
    paddle.set_device(train.device)
    world, rank = paddle.distributed.get_world_size(), paddle.distributed.get_rank()
    if train.device == "cpu":  # Paddle's CPU kernels use one thread unless told otherwise
        local_processes = int(os.environ.get("PADDLE_LOCAL_SIZE", 1))
        paddle.base.core.set_num_threads(max(1, train.threads // local_processes))
    if world > 1:
        # pure data parallel, what upstream's fleet.distributed_model amounts to (fleet's DistributedStrategy
        # does not load with this stack's protobuf)
        paddle.distributed.init_parallel_env()
    random.seed(train.seed)
    np.random.seed(train.seed)
    paddle.seed(train.seed)  # the same initial weights on every rank
    return world, rank


