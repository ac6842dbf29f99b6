"""The workflow on a real SLURM: tests/slurm/ installs (Debian's slurm-wlm) and starts munge, slurmctld and two
slurmd serving the fake nodes n1 and n2 (2 fake GPUs each) on this host; `snakemake --profile
profiles/slurm-local` then runs the tiny config through it. Every daemon is stopped by its PID at the end."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, require, tiny_config

SLURM_DIR = REPO / "tests" / "slurm"
PIDS_FILE = Path("/run/ernie-test-slurm.pids")
PROFILE = REPO / "profiles" / "slurm-local"


@pytest.fixture(scope="module")
def slurm_cluster():
    require(os.geteuid() == 0, "the SLURM tests install and start daemons: they need root (`make test` in CI has it)")
    subprocess.run(["bash", str(SLURM_DIR / "setup_slurm.sh")], check=True, timeout=900)
    pids = [int(p) for p in PIDS_FILE.read_text().split()]
    yield pids
    subprocess.run(["bash", str(SLURM_DIR / "stop_slurm.sh")], check=True, timeout=120)
    alive = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
    assert not alive, f"SLURM daemons still running: {alive}"


def run_profile(workdir: Path, profile: Path, *args: str) -> str:
    """snakemake with ``profile`` in ``workdir``; its output (stdout + stderr)."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), "--profile", str(profile), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=2400)
    output = result.stdout + result.stderr
    if result.returncode:
        # the jobs' own logs too: a later test reuses the folder and overwrites them
        candidates = [*(workdir / ".snakemake/slurm_logs").rglob("*.log"), *(workdir / "results/logs").rglob("*.log")]
        logs = "\n".join(f"--- {p}\n{p.read_text()[-3000:]}" for p in candidates if "Error" in p.read_text())
        raise AssertionError(f"{' '.join(cmd)} failed:\n{output[-6000:]}\n{logs[-6000:]}")
    return output


def submitted_jobs(output: str) -> dict[str, str]:
    """SLURM job id -> rule or group, from snakemake's log of submissions."""
    jobs = {}
    for line in output.splitlines():
        found = re.search(r"Job \S+ has been submitted with SLURM jobid (\d+) \(log: (\S+)\)", line)
        if found:  # the log is .snakemake/slurm_logs/<rule_NAME or group_GROUP_RULES>/[<wildcards>/]<jobid>.log
            parts = Path(found.group(2)).parts
            kind = parts[parts.index("slurm_logs") + 1]
            jobs[found.group(1)] = re.sub(r"^(group_\w+_shards)_.*", r"\1", kind)
    return jobs


def losses(out: Path) -> dict[int, float]:
    lines = (out / "train_log.jsonl").read_text().splitlines()
    return {r["step"]: r["loss"] for r in map(json.loads, lines)}


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, tmp_path_factory):
    """The tiny workflow through the local cluster's profile: (workdir, config, snakemake's output)."""
    workdir = tmp_path_factory.mktemp("slurm")
    config = tiny_config(workdir)
    return workdir, config, run_profile(workdir, PROFILE, "pretrain")


def test_every_stage_runs_as_slurm_jobs_and_pretrain_gets_a_gpu(slurm_run):
    workdir, config, output = slurm_run
    jobs = submitted_jobs(output)
    kinds = set(jobs.values())
    # shards of one stage share a SLURM job (group-components 2); the other rules are their own jobs
    assert {"group_segment_shards", "group_token_ids_shards", "rule_char_counts", "rule_english_bpe",
            "rule_merge_vocab", "rule_merge_token_ids", "rule_index_map", "rule_init_model", "rule_train_checkpoint",
            "rule_pretrain"} <= kinds, kinds
    shards = len(list((workdir / "results/segmented").rglob("*.jsonl")))
    assert 0 < list(jobs.values()).count("group_segment_shards") == math.ceil(shards / 2)
    assert len(jobs) >= 12

    # the chain of two links (model_3, model_6) ran as two SLURM jobs, each on a GPU
    links = sorted(j for j, kind in jobs.items() if kind == "rule_train_checkpoint")
    assert len(links) == 2
    logs = [(workdir / f"results/logs/pretrain/model_{step}.log").read_text() for step in (3, 6)]
    for job, log in zip(links, logs):
        assert re.search(rf"SLURM job {job} on \S+: CUDA_VISIBLE_DEVICES=[01],", log), log[-2000:]
    assert "training steps 4..6 from results/pretrain/model_3 (step 3)" in logs[1]

    results = workdir / "results"
    name = next(iter(config["datasets"]))
    for path in ("vocab/tokenizer/vocab.txt", f"token_ids/{name}_ids.npy", f"token_ids/{name}_idx.npz",
                 f"index/{name}_train_indexmap.npy", "pretrain/summary.json", "pretrain/model_6/model_state.pdparams",
                 "pretrain/model_6/trainer_state.json"):
        assert (results / path).is_file(), path
    assert json.loads((results / "pretrain/summary.json").read_text())["steps"] == config["train"]["max_steps"]

    again = run_profile(workdir, PROFILE, "pretrain")
    assert not submitted_jobs(again) and "Nothing to be done" in again


def test_two_node_training_through_srun(slurm_run, tmp_path):
    """pretrain on both fake nodes (nodes: 2, one srun task each, CPU): each node's launcher takes its rank
    from SLURM, the rendezvous from the file node 0 publishes, and the losses are those of the one-process run."""
    workdir, config, _ = slurm_run
    profile = tmp_path / "profile"
    profile.mkdir()
    settings = yaml.safe_load((PROFILE / "config.yaml").read_text())
    settings["set-resources"]["train_checkpoint"] = {"slurm_partition": "main", "nodes": 2, "tasks": 2, "mpi": "srun",
                                             "cpus_per_task": 1, "mem_mb": 2000,
                                             "slurm_extra": "'--ntasks-per-node=1'"}
    (profile / "config.yaml").write_text(yaml.safe_dump(settings))
    single = losses(workdir / "results/pretrain")
    shutil.rmtree(workdir / "results/pretrain")
    config["train"]["nnodes"] = 2
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))

    output = run_profile(workdir, profile, "pretrain")
    assert sorted(submitted_jobs(output).values()) == ["rule_init_model", "rule_pretrain", "rule_train_checkpoint",
                                                       "rule_train_checkpoint"]
    log = (workdir / "results/logs/pretrain/model_6.log").read_text()
    assert "data parallel over 2 processes (2 node(s) x 1)" in log
    assert "LaunchPlan(nnodes=2, nproc_per_node=1, node_rank=0, nodes=('n1', 'n2')" in log, log
    # node 0 published its address towards n2 and a free port; node 1 read them from the shared folder
    rendezvous = re.findall(r"node (\d) of 2: address 127\.0\.0\.1, rendezvous (127\.0\.0\.1:\d+)", log)
    assert sorted(node for node, _ in rendezvous) == ["0", "1"] and len({m for _, m in rendezvous}) == 1, log
    out = workdir / "results/pretrain"
    for node in ("node0", "node1"):  # one launcher per node, one worker each
        assert [p.name for p in (out / "launch_logs" / node).glob("workerlog.*")] == ["workerlog.0"]
    parallel = losses(out)
    assert sorted(parallel) == sorted(single)
    assert all(math.isclose(parallel[s], single[s], rel_tol=1e-5) for s in single), (parallel, single)
    assert json.loads((out / "summary.json").read_text())["data_parallel"] == 2


def test_a_cancelled_training_job_is_retried_and_continues(slurm_run, tmp_path):
    """scancel (what SLURM does at a time limit or on preemption: SIGTERM to the job's processes, SIGKILL
    later): the trainer checkpoints the step it is in; Snakemake's retry resumes from model_last and
    trains to max_steps without redoing a finished step."""
    import time

    workdir, config, _ = slurm_run
    profile = tmp_path / "profile"
    profile.mkdir()
    settings = yaml.safe_load((PROFILE / "config.yaml").read_text())
    settings["retries"] = 1
    (profile / "config.yaml").write_text(yaml.safe_dump(settings))
    shutil.rmtree(workdir / "results/pretrain")
    config["train"].update(nnodes="auto", max_steps=80, checkpoint_steps=100, save_steps=100, eval_freq=100)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))

    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), "--profile", str(profile), "pretrain"]
    with open(tmp_path / "snakemake.log", "w") as output:
        process = subprocess.Popen(cmd, stdout=output, stderr=subprocess.STDOUT)
        train_log = workdir / "results/pretrain/train_log.jsonl"
        deadline = time.monotonic() + 900
        while not (train_log.is_file() and len(train_log.read_text().splitlines()) >= 5):
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "snakemake.log").read_text()
            time.sleep(0.2)
        queue = subprocess.run(["squeue", "-h", "-o", "%i %k"], capture_output=True, text=True, timeout=30).stdout
        job = next(line.split()[0] for line in queue.splitlines() if "rule_train_checkpoint" in line)
        subprocess.run(["scancel", job], check=True, timeout=30)
        assert process.wait(timeout=1200) == 0, (tmp_path / "snakemake.log").read_text()[-5000:]

    log = (workdir / "results/logs/pretrain/model_80.log").read_text()  # the retry's log
    resumed_at = int(re.search(r"training steps 1..80 from results/pretrain/model_last \(step (\d+)\)", log).group(1))
    assert 5 <= resumed_at < 80
    # every step logged exactly once: nothing redone after the retry, nothing skipped
    assert [json.loads(line)["step"] for line in train_log.read_text().splitlines()] == list(range(1, 81))
    assert json.loads((workdir / "results/pretrain/summary.json").read_text())["steps"] == 80
