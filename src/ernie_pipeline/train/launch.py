"""Launching the trainer: how many processes on how many nodes, and the commands that start them.

With the Paddle backend one process (the default on CPU) trains in the Snakemake job itself, and more are started by
``paddle.distributed.launch`` (collective mode: NCCL on GPUs, gloo on CPU). The torch backend's processes always run
in ``train.python`` (default: the workflow's own; another environment may hold torch, where Paddle's holds none):
one process directly, more through ``torchrun`` (``torch.distributed.run``), and model_0 and the summary's test loss
as jobs of that Python too (:func:`run_init`, :func:`run_summary`). One launcher per node:

* ``train.nproc_per_node``: processes per node; ``auto`` = one per visible GPU (``CUDA_VISIBLE_DEVICES``,
  which SLURM sets from the job's GPUs; where it is unset or ``all``, the GPUs Paddle counts, as Paddle's
  own launcher does), 1 on CPU;
* ``train.nnodes``: ``auto`` = the nodes of the SLURM job (``SLURM_JOB_NODELIST``), else 1. Several
  nodes need SLURM: the job step ``srun`` starts ``python -m ernie_pipeline.train.launch node SPEC`` once per node,
  and each computes its node rank (``SLURM_NODEID``) from its environment; node 0 (the first host of
  ``SLURM_JOB_NODELIST``, expanded with python-hostlist) publishes the rendezvous (:func:`rendezvous`).

Every process then runs ``python -m ernie_pipeline.train.launch worker SPEC``: ``train_link(**spec)``, one link
of the chain. Before any process starts, the node's GPUs are checked for the backend
(:mod:`ernie_pipeline.train.paddle_backend.gpu`, :mod:`ernie_pipeline.train.torch_backend.gpu`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import ernie_pipeline
from ernie_pipeline.io.atomic import atomic_write
from ernie_pipeline.settings import as_section
from ernie_pipeline.train.build import TrainData
from ernie_pipeline.train.paddle_backend.gpu import check_gpu_runtime, gpu_count
from ernie_pipeline.train.settings import TrainSettings

SPEC_FILE = "launch_spec.json"
LOG_DIR = "launch_logs"


@dataclass(frozen=True)
class LaunchPlan:
    nnodes: int
    nproc_per_node: int
    node_rank: int = 0
    nodes: tuple[str, ...] = ()  # the SLURM job's hosts, node 0 first (several nodes only)
    master: str | None = None  # "ip:port" of the rendezvous on node 0; None on one node (a free local port)
    host: str | None = None  # this node's address as the other nodes reach it (Paddle's --host)

    @property
    def world_size(self) -> int:
        return self.nnodes * self.nproc_per_node


def _visible_gpus(env) -> list[str]:
    """The GPU ids ``CUDA_VISIBLE_DEVICES`` lists; none where it is unset or ``all`` (every GPU: ask Paddle)."""
    visible = env.get("CUDA_VISIBLE_DEVICES", "")
    return [d for d in visible.split(",") if d.strip()] if visible not in ("", "all", "NoDevFiles") else []


def _count(train: TrainSettings, key: str, auto: int) -> int:
    value = getattr(train, key)
    if value == "auto":
        return auto
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"config train.{key}: expected 'auto' or a positive integer, got {value!r}")
    return value


def training_python(train: TrainSettings) -> str:
    """The Python the backend's processes run in: ``train.python`` (the torch backend) or this one."""
    return train.python or sys.executable


def plan_launch(train: TrainSettings, env=None, count_gpus=None) -> LaunchPlan:
    """The launch ``train`` asks for in the environment ``env`` (default os.environ).

    ``count_gpus`` counts the GPUs the backend can use (default: Paddle's, or those torch reports in
    ``train.python``); it is asked on GPU runs even where ``CUDA_VISIBLE_DEVICES`` is set, so that a CPU-only build
    fails here, before any process starts. Once the number of processes is known, the backend's checks judge this
    node's GPUs: kernels for their compute capability, the CUDA libraries (Paddle), bf16 (torch), NCCL for several
    processes.
    """
    env = os.environ if env is None else env
    report = None
    if count_gpus is None and train.device == "gpu" and train.backend == "torch":
        from ernie_pipeline.train.torch_backend.gpu import probe

        report = probe(training_python(train), _child_env(train, LaunchPlan(1, 1), env))
        count_gpus = lambda: len(report["capabilities"])  # noqa: E731
    plan = _plan(train, env, count_gpus or gpu_count)
    if train.device == "gpu" and train.backend == "torch" and report is not None:
        from ernie_pipeline.train.torch_backend.gpu import check_report

        check_report(report, plan.nproc_per_node if plan.nnodes == 1 else plan.world_size, train.amp)
    elif train.device == "gpu" and train.backend == "paddle":
        check_gpu_runtime(plan.world_size)
    return plan


def _plan(train: TrainSettings, env, count_gpus) -> LaunchPlan:
    under_slurm = "SLURM_JOB_ID" in env
    if train.device == "gpu":
        paddle_gpus = count_gpus()
        gpus = len(_visible_gpus(env)) or paddle_gpus
        visible = f"CUDA_VISIBLE_DEVICES={env.get('CUDA_VISIBLE_DEVICES', '(unset)')}"
        if not gpus or not paddle_gpus:
            raise ValueError(f"config train.device: gpu, but {train.backend} sees no GPU ({visible}); ask SLURM for GPUs "
                             "(--gpus / --gres) or check the driver with nvidia-smi")
        nproc = _count(train, "nproc_per_node", gpus)
        if nproc > gpus:
            raise ValueError(f"config train.nproc_per_node={nproc} but only {gpus} GPUs are visible ({visible})")
    else:
        nproc = _count(train, "nproc_per_node", 1)
    job_nodes = _slurm_job_nodes(env) if under_slurm else []
    nnodes = _count(train, "nnodes", len(job_nodes) or 1)
    if nnodes == 1:
        return LaunchPlan(1, nproc)
    if not under_slurm:
        raise ValueError(f"config train.nnodes={nnodes}: several nodes are launched through SLURM (srun); "
                         "outside a SLURM job train on one node")
    if nnodes != len(job_nodes):
        raise ValueError(f"config train.nnodes={nnodes} but the SLURM job has {len(job_nodes)} nodes "
                         f"({','.join(job_nodes)}); ask for {nnodes} nodes or set auto")
    return LaunchPlan(nnodes, nproc, int(env.get("SLURM_NODEID", 0)), nodes=tuple(job_nodes))


def _slurm_job_nodes(env) -> list[str]:
    """The host names of the SLURM job's nodes, in SLURM's order."""
    import hostlist

    nodelist = env.get("SLURM_JOB_NODELIST")
    if not nodelist:
        # snakemake's slurm-jobstep executor strips the SLURM_* variables (but the job id) from a rule's
        # environment: ask the controller
        shown = subprocess.run(["scontrol", "show", "job", "--oneliner", env["SLURM_JOB_ID"]], check=True,
                               capture_output=True, text=True).stdout
        nodelist = next(f.split("=", 1)[1] for f in shown.split() if f.startswith("NodeList="))
    return hostlist.expand_hostlist(nodelist)


def _address(host: str) -> str:
    return socket.gethostbyname(host)


def _route_address(peer: str) -> str:
    """The address of this host's interface that routes to ``peer`` (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((peer, 9))
        return probe.getsockname()[0]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def _reachable(address: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex((address, port)) == 0


def rendezvous_file(output: Path, env) -> Path:
    """Where node 0 publishes the rendezvous: one file per job step (a requeued job is a new step)."""
    step = "-".join(env.get(k, "0") for k in ("SLURM_JOB_ID", "SLURM_RESTART_COUNT", "SLURM_STEP_ID"))
    return Path(output) / f"rendezvous-{step}.json"


def rendezvous(plan: LaunchPlan, train: TrainSettings, output: Path, env=None, clock=time.monotonic) -> LaunchPlan:
    """``plan`` with this node's rendezvous (several nodes, under srun, one call per node).

    Paddle's launcher starts its store on the node whose own address equals the master's, and gives the
    other nodes its own address for the collective's endpoints. Names alone do not settle either: a node's
    name may resolve to 127.0.1.1 on itself (Debian's /etc/hosts) or to another interface than the one the
    others use. So node 0 takes as its address the one of the interface that routes to node 1, picks a free
    port (or ``train.master_port``), and publishes both in a file of the output folder, which every node
    shares; each other node reads it, checks it can reach the store, and passes its own routed address as
    ``--host``. Waits at most ``train.rendezvous_timeout`` seconds, then says what was tried.
    """
    env = os.environ if env is None else env
    path = rendezvous_file(output, env)
    timeout = train.rendezvous_timeout
    if plan.node_rank == 0:
        host = _route_address(_address(plan.nodes[1]))
        port = _free_port() if train.master_port == "auto" else train.master_port
        with atomic_write(path) as handle:
            json.dump({"address": host, "port": port, "node": plan.nodes[0]}, handle)
        return dataclasses.replace(plan, master=f"{host}:{port}", host=host)
    deadline = clock() + timeout
    while not path.is_file():
        if clock() > deadline:
            raise TimeoutError(f"node {plan.node_rank}: node 0 ({plan.nodes[0]}) published no rendezvous in {path} "
                               f"within train.rendezvous_timeout={timeout} s; see node 0's log")
        time.sleep(1)
    published = json.loads(path.read_text())
    address, port = published["address"], published["port"]
    host = _route_address(address)
    while not _reachable(address, port):
        if clock() > deadline:
            raise TimeoutError(
                f"node {plan.node_rank} ({host}) cannot reach the rendezvous {address}:{port} that node 0 "
                f"({plan.nodes[0]}) published in {path} (its address routing to {plan.nodes[1]}), tried for "
                f"train.rendezvous_timeout={timeout} s: check that the port is open between the nodes")
        time.sleep(1)
    return dataclasses.replace(plan, master=f"{address}:{port}", host=host)


def node_command(plan: LaunchPlan, spec_path: str, log_dir: str, train: TrainSettings) -> list[str]:
    """The launcher command of one node (``paddle.distributed.launch`` or ``torchrun``), each of whose processes runs
    the worker."""
    worker = ["-m", "ernie_pipeline.train.launch", "worker", spec_path]
    if train.backend == "torch":
        python = training_python(train)
        if plan.world_size == 1:  # one process: no launcher
            return [python, *worker]
        command = [python, "-m", "torch.distributed.run", "--nnodes", str(plan.nnodes), "--nproc_per_node",
                   str(plan.nproc_per_node)]
        if plan.master:  # static rendezvous at node 0's published address
            address, port = plan.master.rsplit(":", 1)
            command += ["--node_rank", str(plan.node_rank), "--master_addr", address, "--master_port", port,
                        "--local_addr", plan.host]
        else:
            command += ["--standalone"]
        return command + worker
    command = [sys.executable, "-m", "paddle.distributed.launch", "--nnodes", str(plan.nnodes),
               "--nproc_per_node", str(plan.nproc_per_node), "--log_dir", str(Path(log_dir) / f"node{plan.node_rank}"),
               "--job_id", "ernie_pretrain"]
    if plan.master:
        command += ["--master", plan.master, "--rank", str(plan.node_rank), "--host", plan.host]
    # a training script not ending in .py is run as given, followed by its arguments
    return command + [sys.executable, *worker]


def _child_env(train: TrainSettings, plan: LaunchPlan, env=None) -> dict:
    env = dict(os.environ if env is None else env)
    # the folder holding the ernie_pipeline package (not the package itself, whose io/ and tokenize/ would
    # shadow the standard library's), so that every process imports the workflow's code
    src = str(Path(ernie_pipeline.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    if train.device == "cpu":
        # paddle's launcher takes CUDA_VISIBLE_DEVICES to mean GPU workers; CPU training must use gloo (and torch's
        # CPU processes need no GPU either)
        env.pop("CUDA_VISIBLE_DEVICES", None)
    elif not _visible_gpus(env):
        # paddle's launcher would take "all" (or docker's NVIDIA_VISIBLE_DEVICES=all) as one GPU named "all"
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(k) for k in range(plan.nproc_per_node))
    return env


def run_forwarding_stop_signal(command: list[str], env: dict) -> int:
    """Run Paddle's launcher ``command``; a SIGUSR1 to this process goes on to every process under it.

    SLURM's ``--signal=USR1@T`` (the early warning before a time limit, see README) would kill this process
    and the launcher by default, and Paddle starts each worker in a session of its own, which a signal to the
    job's process group (SLURM's proctrack/pgid) does not reach. So the launcher starts with SIGUSR1 ignored
    (inherited across exec, and by its workers until the trainer installs its handler), and this process
    forwards the signal to all its descendants: the workers checkpoint and stop, the rest ignore it.
    """
    import psutil

    def forward(signum, frame):
        for process in psutil.Process().children(recursive=True):
            try:
                process.send_signal(signal.SIGUSR1)
            except psutil.NoSuchProcess:
                pass

    previous = signal.signal(signal.SIGUSR1, forward)
    try:
        launcher = subprocess.Popen(command, env=env,
                                    preexec_fn=lambda: signal.signal(signal.SIGUSR1, signal.SIG_IGN))
        return launcher.wait()
    finally:
        signal.signal(signal.SIGUSR1, previous)


def write_spec(spec: dict, path: Path) -> None:
    """A job's arguments as JSON (``train_link``'s, ...), its settings objects as their config sections."""
    with atomic_write(path) as handle:
        json.dump({**spec, **({"data": spec["data"].as_spec()} if "data" in spec else {}),
                   "train": as_section(spec["train"])}, handle, indent=1, sort_keys=True)


def read_spec(path: Path) -> dict:
    spec = json.loads(Path(path).read_text())
    return {**spec, **({"data": TrainData.from_spec(spec["data"])} if "data" in spec else {}),
            "train": TrainSettings.from_config(spec["train"])}


def launch(spec: dict, plan: LaunchPlan) -> None:
    """Run ``train_link(**spec)`` in ``plan.world_size`` processes; raise if any of them fails."""
    output = Path(spec["output_dir"])  # the spec and the launcher logs go beside the checkpoints
    output.mkdir(parents=True, exist_ok=True)
    spec_path = output / SPEC_FILE
    write_spec(spec, spec_path)
    log_dir = output / LOG_DIR
    if plan.nnodes == 1:
        command = node_command(plan, str(spec_path), str(log_dir), spec["train"])
    else:  # one launcher per node; each computes its node rank from its own SLURM environment
        command = ["srun", f"--nodes={plan.nnodes}", f"--ntasks={plan.nnodes}", "--ntasks-per-node=1",
                   sys.executable, "-m", "ernie_pipeline.train.launch", "node", str(spec_path)]
    print("launching:", " ".join(command), flush=True)
    returncode = run_forwarding_stop_signal(command, _child_env(spec["train"], plan))
    if returncode:
        where = f"; worker logs: {log_dir}/node*/" if plan.world_size > 1 else " (its output is above)"
        raise RuntimeError(f"training failed (exit {returncode}){where}")


def run_link(spec: dict, plan: LaunchPlan) -> dict | None:
    """One link of the chain as ``plan`` lays it out: in this process (Paddle, one process; its trainer state
    returned), else in the processes :func:`launch` starts."""
    if spec["train"].backend == "paddle" and plan.world_size == 1:
        from ernie_pipeline.train.loop import train_link

        return train_link(**spec)
    launch(spec, plan)
    return None


def run_init(tokenizer_source: str, train: TrainSettings, path: str) -> None:
    """model_0 (:func:`ernie_pipeline.train.loop.init_checkpoint`) in the backend's Python."""
    _run_job("init", {"tokenizer_source": tokenizer_source, "train": train, "path": path}, train, Path(path).parent)


def run_summary(data: TrainData, train: TrainSettings, output_dir: str, checkpoints: list[str], summary_path: str,
                curve_path: str) -> None:
    """The run's summary (:func:`ernie_pipeline.train.summary.summarize`, which evaluates the last checkpoint on the
    test split) in the backend's Python."""
    _run_job("summary", {"data": data, "train": train, "output_dir": output_dir, "checkpoints": checkpoints,
                         "summary_path": summary_path, "curve_path": curve_path}, train, Path(summary_path).parent)


def _run_job(role: str, spec: dict, train: TrainSettings, folder: Path) -> None:
    if train.backend == "paddle":  # the workflow's Python has Paddle
        _call(role, spec)
        return
    folder.mkdir(parents=True, exist_ok=True)
    spec_path = folder / f"{role}_spec.json"
    write_spec(spec, spec_path)
    command = [training_python(train), "-m", "ernie_pipeline.train.launch", role, str(spec_path)]
    print("running:", " ".join(command), flush=True)
    returncode = run_forwarding_stop_signal(command, _child_env(train, LaunchPlan(1, 1)))
    if returncode:
        raise RuntimeError(f"{role} failed in {command[0]} (exit {returncode}; its output is above)")


def _call(role: str, spec: dict) -> None:
    if role == "init":
        from ernie_pipeline.train.loop import init_checkpoint

        init_checkpoint(**spec)
    elif role == "summary":
        from ernie_pipeline.train.summary import summarize

        print(summarize(**spec))
    else:
        from ernie_pipeline.train.loop import train_link

        print(train_link(**spec))


def main(argv=None) -> None:
    role, spec_path = (argv or sys.argv[1:])[:2]
    if role not in ("node", "worker", "init", "summary"):
        raise SystemExit(f"usage: python -m ernie_pipeline.train.launch node|worker|init|summary SPEC (got {role!r})")
    spec = read_spec(Path(spec_path))
    train = spec["train"]
    if role == "node":  # under srun: this node's launcher
        plan = rendezvous(plan_launch(train), train, Path(spec_path).parent)
        print(f"node {plan.node_rank} of {plan.nnodes}: address {plan.host}, rendezvous {plan.master}", flush=True)
        log_dir = Path(spec_path).parent / LOG_DIR
        sys.exit(run_forwarding_stop_signal(node_command(plan, spec_path, str(log_dir), train), _child_env(train, plan)))
    from ernie_pipeline.io import logs

    if role == "worker" and train.backend == "torch" and "LOCAL_RANK" in os.environ:
        # torchrun leaves each process's output to it: the same files as Paddle's launcher writes
        node, rank = os.environ.get("GROUP_RANK", "0"), os.environ["RANK"]
        logs.to_file(Path(spec_path).parent / LOG_DIR / f"node{node}" / f"workerlog.{rank}")
    else:
        logs.to_file(None)
    _call(role, spec)


if __name__ == "__main__":
    main()
