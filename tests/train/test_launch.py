"""The data-parallel launch plan from config and environment (SLURM or not), and its commands."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import train_settings
from ernie_pipeline.train import launch
from ernie_pipeline.train.launch import LaunchPlan, node_command, plan_launch

SLURM_TWO_NODES = {"SLURM_JOB_ID": "77", "SLURM_NODEID": "1",
                   "SLURM_JOB_NODELIST": "gpu[07-08]", "CUDA_VISIBLE_DEVICES": "0,1,2,3"}


@pytest.fixture(autouse=True)
def four_gpus(monkeypatch):
    """The GPUs Paddle counts on the fake node (the test machine's Paddle is a CPU-only build)."""
    monkeypatch.setattr(launch, "gpu_count", lambda: 4)
    monkeypatch.setattr(launch, "check_gpu_runtime", lambda processes: None)


@pytest.fixture
def hosts(monkeypatch):
    """Host name resolution of the fake cluster's nodes."""
    addresses = {"gpu07": "10.0.0.7", "gpu08": "10.0.0.8"}
    monkeypatch.setattr(launch, "_address", addresses.__getitem__)


def test_one_process_by_default_on_cpu():
    assert plan_launch(train_settings(device="cpu"), {}) == LaunchPlan(1, 1)
    assert plan_launch(train_settings(device="cpu", nproc_per_node=2), {}).world_size == 2
    # GPUs a CPU run was given (SLURM sets CUDA_VISIBLE_DEVICES) do not make it parallel
    assert plan_launch(train_settings(device="cpu"), {"CUDA_VISIBLE_DEVICES": "0,1"}) == LaunchPlan(1, 1)


def test_gpu_processes_follow_the_visible_gpus():
    assert plan_launch(train_settings(device="gpu"), {"CUDA_VISIBLE_DEVICES": "2,3"}) == LaunchPlan(1, 2)
    assert plan_launch(train_settings(device="gpu", nproc_per_node=1), {"CUDA_VISIBLE_DEVICES": "2,3"}) == LaunchPlan(1, 1)
    with pytest.raises(ValueError, match=r"paddle sees no GPU \(CUDA_VISIBLE_DEVICES=NoDevFiles\)"):
        plan_launch(train_settings(device="gpu"), {"CUDA_VISIBLE_DEVICES": "NoDevFiles"}, count_gpus=lambda: 0)
    with pytest.raises(ValueError, match=r"nproc_per_node=4 but only 2 GPUs are visible \(CUDA_VISIBLE_DEVICES=2,3\)"):
        plan_launch(train_settings(device="gpu", nproc_per_node=4), {"CUDA_VISIBLE_DEVICES": "2,3"})
    with pytest.raises(ValueError, match="config train.nproc_per_node: expected 'auto' or a positive integer, got 0"):
        plan_launch(train_settings(device="gpu", nproc_per_node=0), {"CUDA_VISIBLE_DEVICES": "0"})


def test_unset_or_all_visible_devices_count_the_gpus_paddle_sees():
    # a workstation, a cloud VM, docker --gpus all: no list of GPU ids, so count them as Paddle's launcher does
    for env in ({}, {"CUDA_VISIBLE_DEVICES": "all"}):
        plan = plan_launch(train_settings(device="gpu"), env)
        assert plan == LaunchPlan(1, 4)
        # and the launcher is handed ids, not "all" (which it would take as the name of one GPU)
        assert launch._child_env(train_settings(device="gpu"), plan, env)["CUDA_VISIBLE_DEVICES"] == "0,1,2,3"
    assert launch._child_env(train_settings(device="gpu"), LaunchPlan(1, 2), {})["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert launch._child_env(train_settings(device="gpu"), LaunchPlan(1, 2), {"CUDA_VISIBLE_DEVICES": "5,6"})[
        "CUDA_VISIBLE_DEVICES"] == "5,6"
    with pytest.raises(ValueError, match=r"nproc_per_node=8 but only 4 GPUs are visible \(CUDA_VISIBLE_DEVICES=all\)"):
        plan_launch(train_settings(device="gpu", nproc_per_node=8), {"CUDA_VISIBLE_DEVICES": "all"})


def test_gpu_training_with_a_cpu_only_paddle_fails_before_any_process_starts(monkeypatch):
    monkeypatch.undo()  # the real probe: this machine's Paddle is the CPU build
    with pytest.raises(RuntimeError, match=r"installed Paddle \(.*\) is a CPU-only build .* set train.device: cpu"):
        plan_launch(train_settings(device="gpu"), {"CUDA_VISIBLE_DEVICES": "0,1"})


def test_nodes_and_rank_come_from_slurm():
    plan = plan_launch(train_settings(device="gpu"), SLURM_TWO_NODES)
    assert plan == LaunchPlan(nnodes=2, nproc_per_node=4, node_rank=1, nodes=("gpu07", "gpu08"))
    assert plan.world_size == 8
    # a one-node SLURM job: no rendezvous address (the launcher picks a free local port)
    assert plan_launch(train_settings(device="gpu"), dict(SLURM_TWO_NODES, SLURM_NODEID="0",
                                               SLURM_JOB_NODELIST="gpu07")) == LaunchPlan(1, 4)


@pytest.fixture
def network(hosts, monkeypatch):
    """Two nodes whose names resolve to their 10.0 addresses, while the interfaces that route between them
    (what each node tells the other) are on 10.1; the store reachable or not as the test says."""
    routes = {"10.0.0.8": "10.1.0.7", "10.1.0.7": "10.1.0.8"}  # peer -> this node's address towards it
    monkeypatch.setattr(launch, "_route_address", routes.__getitem__)
    state = {"reachable": True}
    monkeypatch.setattr(launch, "_reachable", lambda address, port: state["reachable"])
    monkeypatch.setattr(launch.time, "sleep", lambda seconds: None)
    return state


def _ticking_clock():
    ticks = iter(range(10**6))
    return lambda: next(ticks)


def test_rendezvous_is_published_by_node_0_with_its_routed_address(network, tmp_path):
    env0, env1 = dict(SLURM_TWO_NODES, SLURM_NODEID="0", SLURM_STEP_ID="3"), dict(SLURM_TWO_NODES, SLURM_STEP_ID="3")
    node0 = launch.rendezvous(plan_launch(train_settings(device="gpu"), env0), train_settings(master_port=29999), tmp_path, env0)
    assert (node0.master, node0.host) == ("10.1.0.7:29999", "10.1.0.7")  # the store's node: --host = master's ip
    node1 = launch.rendezvous(plan_launch(train_settings(device="gpu"), env1), train_settings(), tmp_path, env1)
    assert (node1.master, node1.host) == ("10.1.0.7:29999", "10.1.0.8")
    options = dict(zip(*[iter(node_command(node1, "s.json", "logs", train_settings())[3:-5])] * 2))
    assert (options["--master"], options["--rank"], options["--host"]) == ("10.1.0.7:29999", "1", "10.1.0.8")
    # auto: a free port, published for the other nodes; each job step and requeue has a file of its own
    env0_next = dict(env0, SLURM_STEP_ID="4")
    auto = launch.rendezvous(plan_launch(train_settings(device="gpu"), env0_next), train_settings(), tmp_path, env0_next)
    port = int(auto.master.rsplit(":", 1)[1])
    assert 1024 <= port <= 65535
    assert json.loads(launch.rendezvous_file(tmp_path, env0_next).read_text())["port"] == port
    assert launch.rendezvous_file(tmp_path, env0) != launch.rendezvous_file(tmp_path, dict(env0, SLURM_RESTART_COUNT="1"))


def test_rendezvous_waits_a_bounded_time_and_says_what_it_tried(network, tmp_path):
    plan = plan_launch(train_settings(device="gpu"), SLURM_TWO_NODES)
    with pytest.raises(TimeoutError, match=r"node 1: node 0 \(gpu07\) published no rendezvous in .*rendezvous-77-0-0"
                                           r".json within train.rendezvous_timeout=5 s"):
        launch.rendezvous(plan, train_settings(rendezvous_timeout=5), tmp_path, SLURM_TWO_NODES, clock=_ticking_clock())
    launch.rendezvous_file(tmp_path, SLURM_TWO_NODES).write_text(json.dumps({"address": "10.1.0.7", "port": 29999}))
    network["reachable"] = False
    with pytest.raises(TimeoutError, match=r"node 1 \(10.1.0.8\) cannot reach the rendezvous 10.1.0.7:29999 that node 0 "
                                           r"\(gpu07\) published"):
        launch.rendezvous(plan, train_settings(rendezvous_timeout=5), tmp_path, SLURM_TWO_NODES, clock=_ticking_clock())


def test_several_nodes_need_slurm_and_must_match_the_job(hosts):
    with pytest.raises(ValueError, match="train.nnodes=2: several nodes are launched through SLURM"):
        plan_launch(train_settings(device="cpu", nnodes=2), {})
    with pytest.raises(ValueError, match=r"train.nnodes=3 but the SLURM job has 2 nodes \(gpu07,gpu08\)"):
        plan_launch(train_settings(device="gpu", nnodes=3), SLURM_TWO_NODES)


def test_node_command_starts_the_workers_through_paddle_launch():
    plan = LaunchPlan(2, 4, 1, ("gpu07", "gpu08"), master="10.0.0.7:36123", host="10.0.0.8")
    command = node_command(plan, "out/launch_spec.json", "out/launch_logs", train_settings())
    assert command[:3] == [sys.executable, "-m", "paddle.distributed.launch"]
    options = dict(zip(command[3:-5:2], command[4:-5:2]))
    assert options == {"--nnodes": "2", "--nproc_per_node": "4", "--log_dir": "out/launch_logs/node1",
                       "--job_id": "ernie_pretrain", "--master": "10.0.0.7:36123", "--rank": "1",
                       "--host": "10.0.0.8"}
    assert command[-5:] == [sys.executable, "-m", "ernie_pipeline.train.launch", "worker", "out/launch_spec.json"]
    single = node_command(LaunchPlan(1, 2), "s.json", "logs", train_settings())
    assert "--master" not in single and "--rank" not in single


def test_node_command_starts_the_torch_workers_through_torchrun_in_train_python():
    torch = train_settings(backend="torch", python="/opt/torch/bin/python")
    worker = ["-m", "ernie_pipeline.train.launch", "worker", "s.json"]
    assert node_command(LaunchPlan(1, 1), "s.json", "logs", torch) == ["/opt/torch/bin/python", *worker]
    assert node_command(LaunchPlan(1, 2), "s.json", "logs", torch) == [
        "/opt/torch/bin/python", "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
        "--standalone", *worker]
    plan = LaunchPlan(2, 4, 1, ("gpu07", "gpu08"), master="10.0.0.7:36123", host="10.0.0.8")
    command = node_command(plan, "s.json", "logs", torch)
    options = dict(zip(command[3:-4:2], command[4:-4:2]))
    assert options == {"--nnodes": "2", "--nproc_per_node": "4", "--node_rank": "1", "--master_addr": "10.0.0.7",
                       "--master_port": "36123", "--local_addr": "10.0.0.8"}
    assert command[-4:] == worker


def test_worker_processes_import_the_workflow_without_shadowing_the_standard_library():
    # the launcher's processes start outside the workflow's checkout; the path handed to them must hold the
    # package, and must not be the package folder itself, whose io/ and tokenize/ would hide the stdlib modules
    env = launch._child_env(train_settings(device="cpu"), LaunchPlan(1, 2), {"PATH": os.environ["PATH"]})
    probe = ("import tokenize, io, ernie_pipeline.train.launch as m; "
             "assert hasattr(tokenize, 'open') and hasattr(io, 'BytesIO'); print(m.__file__)")
    done = subprocess.run([sys.executable, "-c", probe], env=env, cwd="/", capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).resolve() == Path(launch.__file__).resolve()
