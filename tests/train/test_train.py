"""The pretrain stage's artifacts (from the tiny workflow run) and a direct short run."""

import json
import math

import numpy as np
import pytest

from chain_runs import _driver_command, _logged_losses, _logged_rows, _same_weights, backend_settings


def test_checkpoints_load_with_paddlenlp_classes(artifacts):
    """The chain's checkpoints (model_0: the initial weights, then one per save point) load with paddlenlp's
    classes; each holds its step, and every trained one the optimizer and the rows its link logged."""
    from paddlenlp.transformers import ErnieForPretraining, ErnieTokenizer

    out = artifacts["pretrain"]
    cfg = artifacts["config"]["train"]
    assert sorted(p.name for p in out.glob("model_*")) == ["model_0", "model_3", "model_6"]
    for folder, step in (("model_0", 0), ("model_3", 3), ("model_6", 6)):
        model = ErnieForPretraining.from_pretrained(str(out / folder))
        tokenizer = ErnieTokenizer.from_pretrained(str(out / folder))
        assert model.config.num_hidden_layers == cfg["model_overrides"]["num_hidden_layers"]
        assert model.config.vocab_size == len(tokenizer.vocab)
        assert not (out / folder / "added_tokens.json").exists()
        state = json.loads((out / folder / "trainer_state.json").read_text())
        assert state["global_step"] == step and state["consumed_samples"] == step * cfg["global_batch_size"]
        assert (out / folder / "model_state.pdopt").is_file() == (step > 0)
    assert [r["step"] for r in _logged_rows(out / "model_6")] == [4, 5, 6]
    assert [json.loads(line)["step"] for line in (out / "model_6/valid_log.jsonl").read_text().splitlines()] == [6]


def test_visualdl_log_curve_and_summary(artifacts):
    """One VisualDL run over the whole chain (train, valid and the summary's test scalars), the training curve,
    and a summary made of the links' rows."""
    from visualdl import LogReader

    out = artifacts["pretrain"]
    logs = list((out / "visualdl").glob("vdlrecords.*.log"))
    assert len(logs) == 1
    reader = LogReader(file_path=str(logs[0]))
    tags = set(reader.get_tags().get("scalar", []))
    assert {"train/loss", "train/lm_loss", "train/sop_loss", "train/learning_rate", "valid/loss", "test/loss"} <= tags
    losses = [r.value for r in reader.get_data("scalar", "train/loss")]
    assert len(losses) == 6 and all(math.isfinite(v) for v in losses)
    assert [r.id for r in reader.get_data("scalar", "valid/loss")] == [3, 6]
    assert 5 < losses[0] < 15  # random init over a ~23k vocabulary: about ln(23000) + ln(2)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 6 and summary["test"]["loss"] > 0 and summary["tokens_per_second"] > 0
    assert summary["checkpoints"] == ["results/pretrain/model_3", "results/pretrain/model_6"]
    rows = _logged_rows(out)  # the live log holds the same rows as the checkpoints' slices
    assert rows == _logged_rows(out / "model_3") + _logged_rows(out / "model_6") and summary["final_train"] == rows[-1]
    assert summary["valid"] == {k: v for k, v in json.loads((out / "valid_log.jsonl").read_text().splitlines()[-1]).items()
                                if k != "step"}
    assert (out / "training_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_each_row_logs_the_learning_rate_its_step_trained_with(artifacts):
    """upstream's schedule (LinearAnnealingWithWarmupDecay from step 0, stepped once per optimizer step) gives the
    rate step s trains with at index s; the row of step s logs that rate, not the next step's, over warmup and
    decay (the tiny run: warmup 0.2 x 6 = 1.2 steps, then decay to step 6)."""
    from paddlenlp.transformers import LinearAnnealingWithWarmupDecay

    cfg = artifacts["config"]["train"]
    schedule = LinearAnnealingWithWarmupDecay(cfg["max_lr"], cfg["min_lr"], cfg["warmup_rate"] * cfg["max_steps"],
                                              cfg["max_steps"], last_epoch=0)
    used = {}
    for step in range(1, cfg["max_steps"] + 1):
        used[step] = schedule()
        schedule.step()
    rows = _logged_rows(artifacts["pretrain"])
    assert [r["step"] for r in rows] == list(range(1, 7))
    assert {r["step"]: r["learning_rate"] for r in rows} == used


@pytest.mark.parametrize("backend", ["paddle", "torch"])
def test_resume_after_sigkill_or_sigterm_continues_exactly(artifacts, tmp_path, backend):
    """Train 12 steps straight; train again, SIGKILL it once model_last holds step 3 and rerun: every step's
    loss equals the straight run's, bit for bit (CPU), and the final weights are the same. The same after a
    SIGTERM, which checkpoints the current step first. Either backend."""
    import os
    import signal
    import subprocess
    import time

    command = _driver_command(artifacts, tmp_path, max_steps=12, checkpoint_steps=3, save_steps=100, logging_freq=1,
                              eval_freq=6, **backend_settings(backend))

    straight = tmp_path / "straight"
    subprocess.run(command + [str(straight)], check=True, capture_output=True)

    killed = tmp_path / "killed"
    process = subprocess.Popen(command + [str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = killed / "model_last" / "trainer_state.json"
    # killed once step 4 is logged: past the checkpoint of step 3, before the next one (6)
    while not state.is_file() or max(_logged_losses(killed)) < 4:
        assert process.poll() is None, "the run ended before its first checkpoint"
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (killed / "summary.json").exists() and max(_logged_losses(killed)) < 12  # killed mid-run
    assert not (killed / "model_12").exists()  # no half checkpoint under the link's name
    resumed_from = json.loads(state.read_text())["global_step"]
    assert resumed_from == 3
    subprocess.run(command + [str(killed)], check=True, capture_output=True)

    # the rows the killed attempt logged past its checkpoint are gone: each step once, in order
    assert [r["step"] for r in _logged_rows(killed)] == list(range(1, 13))
    assert _logged_rows(killed / "model_12") == _logged_rows(killed)  # the link's rows, each once
    assert _logged_losses(killed) == _logged_losses(straight) and len(_logged_losses(straight)) == 12
    assert _same_weights(straight / "model_12", killed / "model_12")
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["test"] == json.loads((straight / "summary.json").read_text())["test"]

    # SIGTERM to every process of the run, DataLoader worker included, as SLURM sends it at a time limit or on
    # preemption: the run checkpoints the step it is in and stops; no finished step is lost, and the rerun
    # again continues exactly
    stopped = tmp_path / "stopped"
    stderr = open(tmp_path / "stopped.stderr", "w")
    command = _driver_command(artifacts, tmp_path, max_steps=12, checkpoint_steps=3, save_steps=100, logging_freq=1,
                              eval_freq=6, num_workers=1, **backend_settings(backend))
    process = subprocess.Popen(command + [str(stopped)], stdout=subprocess.DEVNULL, stderr=stderr,
                               start_new_session=True)
    while len(_logged_losses(stopped) if (stopped / "train_log.jsonl").is_file() else {}) < 4:
        assert process.poll() is None, "the run ended before step 4"
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait() != 0
    stderr.close()
    message = (tmp_path / "stopped.stderr").read_text()
    last_step = max(_logged_losses(stopped))
    assert f"stopped by signal SIGTERM after step {last_step} of 12" in message and last_step < 12
    assert json.loads((stopped / "model_last/trainer_state.json").read_text())["global_step"] == last_step
    subprocess.run(command + [str(stopped)], check=True, capture_output=True)
    assert _logged_losses(stopped) == _logged_losses(straight)


@pytest.mark.parametrize("backend", ["paddle", "torch"])
def test_a_chain_of_links_equals_one_job_bit_for_bit(artifacts, tmp_path, backend):
    """Steps 1-6 as a chain of three links (save_steps 2: model_2, model_4, model_6, each a job starting from
    the one before) and as one link: the same loss at every step and the same final weights, bit for bit
    on CPU. Data position, optimizer, schedule and dropout streams carry across links. Either backend."""
    import subprocess

    settings = dict(max_steps=6, logging_freq=1, eval_freq=2, num_workers=1, **backend_settings(backend))
    chain, single = tmp_path / "chain", tmp_path / "single"
    subprocess.run(_driver_command(artifacts, tmp_path, save_steps=2, **settings) + [str(chain)], check=True)
    subprocess.run(_driver_command(artifacts, tmp_path, save_steps=100, **settings) + [str(single)], check=True)
    assert sorted(p.name for p in chain.glob("model_[0-9]*")) == ["model_0", "model_2", "model_4", "model_6"]
    assert sorted(p.name for p in single.glob("model_[0-9]*")) == ["model_0", "model_6"]
    assert _same_weights(chain / "model_0", single / "model_0")
    assert _logged_losses(chain) == _logged_losses(single) and sorted(_logged_losses(chain)) == [1, 2, 3, 4, 5, 6]
    assert [r["step"] for r in _logged_rows(chain / "model_4")] == [3, 4]
    assert _same_weights(chain / "model_6", single / "model_6")
    optimizer = {name: json.loads((folder / "model_6/trainer_state.json").read_text())
                 for name, folder in (("chain", chain), ("single", single))}
    assert optimizer["chain"]["consumed_samples"] == optimizer["single"]["consumed_samples"] == 6 * 8
    # the evaluations read the same valid batches
    assert (chain / "valid_log.jsonl").read_text() == (single / "valid_log.jsonl").read_text()
    summaries = [json.loads((folder / "summary.json").read_text()) for folder in (chain, single)]
    assert summaries[0]["test"] == summaries[1]["test"] and summaries[0]["valid"] == summaries[1]["valid"]


@pytest.mark.parametrize("backend", ["paddle", "torch"])
def test_sigusr1_stops_every_process_under_the_launcher_with_a_checkpoint(artifacts, tmp_path, backend):
    """SLURM's --signal=USR1@T (the profile's early warning before a time limit) reaches every process of the
    job step: the job's own process and the backend's launcher (paddle.distributed.launch, torchrun) ignore it, the
    workers checkpoint the step they are in and stop, and the job fails (to be retried) with the checkpoint in
    place."""
    import os
    import signal
    import subprocess
    import time

    command = _driver_command(artifacts, tmp_path, processes=2, max_steps=200, checkpoint_steps=100, save_steps=1000,
                              logging_freq=1, eval_freq=1000, **backend_settings(backend))
    out = tmp_path / "out"
    process = subprocess.Popen(command + [str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    while len(_logged_losses(out) if (out / "train_log.jsonl").is_file() else {}) < 3:
        assert process.poll() is None, process.stderr.read()[-4000:]
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGUSR1)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 1 and "training failed" in stderr, (process.returncode, stderr[-4000:])
    last_step = max(_logged_losses(out))
    assert last_step < 200
    assert json.loads((out / "model_last/trainer_state.json").read_text())["global_step"] == last_step
    for rank in (0, 1):
        log = (out / f"launch_logs/node0/workerlog.{rank}").read_text()
        assert f"stopped by signal SIGUSR1 after step {last_step} of 200" in log, log[-4000:]


def test_a_lost_checkpoint_is_retrained_from_the_one_before_and_no_other_is_touched(artifacts, tmp_path):
    """The chain in the DAG: model_6 lost, asking for it plans its link only; the link starts from model_3 and
    trains exactly the weights model_6 had; model_0 and model_3 are neither rewritten nor deleted. (Asking
    for the summary alone trains nothing: Snakemake takes a missing intermediate file whose consumers are up
    to date as deleted on purpose.)"""
    import shutil

    from conftest import run_snakemake
    from plans import planned_jobs

    workdir = tmp_path / "w"
    shutil.copytree(artifacts["workdir"], workdir, symlinks=True)
    out = workdir / "results/pretrain"
    shutil.move(out / "model_6", tmp_path / "model_6")
    untouched = {p: p.stat().st_mtime_ns for name in ("model_0", "model_3") for p in (out / name).iterdir()}
    assert planned_jobs(workdir, "pretrain") == {}
    assert planned_jobs(workdir, "results/pretrain/model_6") == {"train_checkpoint": 1}
    run_snakemake(workdir, "results/pretrain/model_6")
    assert "training steps 4..6 from results/pretrain/model_3 (step 3)" in (
        workdir / "results/logs/pretrain/model_6.log").read_text()
    assert _same_weights(out / "model_6", tmp_path / "model_6")
    assert {p: p.stat().st_mtime_ns for p in untouched} == untouched
    assert planned_jobs(workdir, "pretrain") == {"pretrain": 1}  # its input is newer now


def test_a_crash_between_the_renames_of_a_checkpoint_replace_is_recovered(tmp_path):
    """atomic_path replaces a directory in two renames (old aside, new in place); a crash between them leaves
    only the previous checkpoint aside, which recover_directory puts back."""
    from ernie_pipeline.io.atomic import atomic_path, recover_directory

    last = tmp_path / "model_last"
    with atomic_path(last, is_dir=True) as tmp:
        (tmp / "trainer_state.json").write_text('{"global_step": 3}')
    assert not recover_directory(last)  # intact: nothing to do
    last.rename(tmp_path / ".model_last.old")  # the state right after the first rename
    assert recover_directory(last) and json.loads((last / "trainer_state.json").read_text())["global_step"] == 3
    assert not (tmp_path / ".model_last.old").exists()


def test_continue_training_starts_from_a_pretrained_folder(artifacts, tmp_path):
    """train.continue_training: the run starts from the folder's weights (with a learning rate of ~0 it ends
    with them), not from random ones; a folder of another shape is refused, naming the key."""
    import subprocess

    import paddle

    source = artifacts["pretrain"] / "model_6"
    command = _driver_command(artifacts, tmp_path, max_steps=2, eval_freq=2, save_steps=100, max_lr=1e-12,
                              min_lr=0.0, weight_decay=0.0, continue_training=str(source))
    subprocess.run(command + [str(tmp_path / "out")], check=True, capture_output=True)
    start = paddle.load(str(source / "model_state.pdparams"))
    end = paddle.load(str(tmp_path / "out" / "model_2" / "model_state.pdparams"))
    assert all(np.allclose(start[k].numpy(), end[k].numpy(), atol=1e-6) for k in start)

    command = _driver_command(artifacts, tmp_path, max_steps=2, eval_freq=2, continue_training=str(source),
                              model_overrides={"num_hidden_layers": 1, "hidden_size": 64})
    result = subprocess.run(command + [str(tmp_path / "other")], capture_output=True, text=True)
    assert result.returncode != 0 and "config train.continue_training: " in result.stderr
    assert "model_6/model_state.pdparams does not fit the model" in result.stderr
    assert "mis-shaped: ernie.embeddings.word_embeddings.weight" in result.stderr


def _tiny_model():
    import paddle
    from paddlenlp.transformers import ErnieConfig, ErnieForPretraining

    paddle.seed(1)
    return ErnieForPretraining(ErnieConfig(vocab_size=60, num_hidden_layers=1, hidden_size=16, num_attention_heads=2,
                                           intermediate_size=32))


def test_every_restore_checks_names_and_shapes_naming_the_file_and_the_tensor(tmp_path, caplog):
    """A chain checkpoint whose weights lack a tensor, hold one of the wrong shape or one the model does not have,
    or do not read at all, is refused naming the file and the tensor (Paddle would warn "Skip loading" and train on
    from a partly re-initialised model, or raise a bare KeyError); continue_training leaves extra tensors out,
    naming them."""
    import paddle

    from ernie_pipeline.train.checkpoint import CheckpointError
    from ernie_pipeline.train.paddle_backend import pretrained_weights, restore_weights

    model = _tiny_model()
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    cases = {
        "mis-shaped": ({**state, "cls.seq_relationship.weight": np.zeros((16, 3), np.float32)},
                       r"mis-shaped: cls.seq_relationship.weight \[16, 3\] \(the model's: \[16, 2\]\)"),
        "missing": ({k: v for k, v in state.items() if k != "ernie.pooler.dense.bias"},
                    "missing: ernie.pooler.dense.bias"),
        "unexpected": ({**state, "classifier.weight": np.zeros((16, 3), np.float32)}, "unexpected: classifier.weight"),
    }
    for name, (weights, message) in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        paddle.save(weights, str(folder / "model_state.pdparams"))
        with pytest.raises(CheckpointError, match=rf"{folder}/model_state.pdparams does not fit the model .*{message}"):
            restore_weights(folder, _tiny_model())
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    data = (tmp_path / "missing/model_state.pdparams").read_bytes()
    for cut in (0, len(data) // 2):
        (truncated / "model_state.pdparams").write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=rf"{truncated}/model_state.pdparams does not read as a state dict"):
            restore_weights(truncated, _tiny_model())
    kept = pretrained_weights(tmp_path / "unexpected", _tiny_model(), {})
    assert "classifier.weight" not in kept and kept.keys() == state.keys()
    assert "unexpected/model_state.pdparams holds 1 tensors the model does not have, left out: classifier.weight" in \
        caplog.text
    with pytest.raises(CheckpointError, match="config train.continue_training: .*missing: ernie.pooler.dense.bias"):
        pretrained_weights(tmp_path / "missing", _tiny_model(), {})


def test_a_checkpoint_without_its_optimizer_state_is_refused(tmp_path):
    """model_0 holds no optimizer state; any later checkpoint must (a fresh optimizer would train on silently
    from other moments): its absence is an error naming the file, as is a missing loss scaler state under AMP."""
    import paddle

    from ernie_pipeline.train.checkpoint import CheckpointError
    from ernie_pipeline.train.paddle_backend import restore_optimizer

    model = _tiny_model()
    optimizer = paddle.optimizer.AdamW(parameters=model.parameters())
    restore_optimizer(tmp_path, optimizer, None, 0)
    with pytest.raises(CheckpointError, match=rf"{tmp_path}/model_state.pdopt not found: a checkpoint of step 3"):
        restore_optimizer(tmp_path, optimizer, None, 3)
    paddle.save(optimizer.state_dict(), str(tmp_path / "model_state.pdopt"))
    restore_optimizer(tmp_path, optimizer, None, 3)
    with pytest.raises(CheckpointError, match=r"scaler.pdparams not found: .* \(a fresh loss scaler"):
        restore_optimizer(tmp_path, optimizer, paddle.amp.GradScaler(), 3)


def test_a_corrupted_checkpoint_is_found_by_where_and_refused_by_the_next_link(artifacts, tmp_path):
    """Snakemake's own status cannot see inside a checkpoint folder: a truncated model_3 reads "ok" to it.
    `python -m ernie_pipeline.workflow.where` verifies each checkpoint against the checksums its trainer_state.json
    records and reports it corrupt (exit 1); the link that starts from it fails naming the file instead of
    training on from it; a deleted optimizer state likewise."""
    import re
    import shutil
    import subprocess
    import sys

    from conftest import REPO, run_snakemake

    workdir = tmp_path / "w"
    shutil.copytree(artifacts["workdir"], workdir, symlinks=True)
    weights = workdir / "results/pretrain/model_3/model_state.pdparams"
    weights.write_bytes(weights.read_bytes()[:1000])
    where = subprocess.run([sys.executable, "-m", "ernie_pipeline.workflow.where", "--snakefile", str(REPO / "Snakefile"),
                            "--directory", str(workdir), "--configfile", str(workdir / "config.yaml")],
                           capture_output=True, text=True)
    assert where.returncode == 1, where.stderr[-3000:]
    assert re.search(r"train_checkpoint\s+corrupt\s+results/pretrain/model_3$", where.stdout, re.M), where.stdout
    assert "results/pretrain/model_3/model_state.pdparams is not the file its checkpoint recorded (1,000 bytes" in \
        where.stdout
    assert re.search(r"train_checkpoint\s+ok\s+results/pretrain/model_6$", where.stdout, re.M)
    failed = run_snakemake(workdir, "--forcerun", "results/pretrain/model_6", "results/pretrain/model_6", check=False)
    log = (workdir / "results/logs/pretrain/model_6.log").read_text()
    assert failed.returncode and "model_3/model_state.pdparams is not the file its checkpoint recorded" in log, log
    shutil.copy(artifacts["pretrain"] / "model_3/model_state.pdparams", weights)
    (workdir / "results/pretrain/model_3/model_state.pdopt").unlink()
    failed = run_snakemake(workdir, "--forcerun", "results/pretrain/model_6", "results/pretrain/model_6", check=False)
    log = (workdir / "results/logs/pretrain/model_6.log").read_text()
    assert failed.returncode and "model_3/model_state.pdopt is missing (listed in" in log, log


def test_two_process_data_parallel_follows_the_one_process_trajectory(artifacts, tmp_path):
    """train.nproc_per_node: 2 on CPU: the pretrain rule starts 2 gloo processes through
    paddle.distributed.launch, each taking micro-batch 4 of every global batch of 8. Their losses equal the
    one-process run's (the tiny run, which accumulates the same two micro-batches) within 1e-5 relative:
    the same samples and dropout masks, only the gradient sums run in another order."""
    import shutil

    import yaml

    from conftest import run_snakemake

    workdir = tmp_path / "w"
    shutil.copytree(artifacts["workdir"], workdir, symlinks=True)
    shutil.rmtree(workdir / "results/pretrain")
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["train"]["nproc_per_node"] = 2
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    run_snakemake(workdir, "pretrain")

    out = workdir / "results/pretrain"
    for step in (3, 6):
        log = (workdir / f"results/logs/pretrain/model_{step}.log").read_text()
        assert "data parallel over 2 processes (1 node(s) x 2)" in log
    assert sorted(p.name for p in (out / "launch_logs/node0").glob("workerlog.*")) == ["workerlog.0", "workerlog.1"]
    parallel, single = _logged_losses(out), _logged_losses(artifacts["pretrain"])
    assert sorted(parallel) == sorted(single) == list(range(1, 7))
    for step in single:
        assert math.isclose(parallel[step], single[step], rel_tol=1e-5), (step, parallel[step], single[step])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data_parallel"] == 2 and summary["steps"] == 6
    state = json.loads((out / "model_6/trainer_state.json").read_text())
    assert state["consumed_samples"] == 6 * config["train"]["global_batch_size"]


_SLOW_RANK_0 = """
import os, time
# loaded by every process of the test's launch (sitecustomize on PYTHONPATH); in rank 0 of the workers only, the
# work that rank does alone (opening the live logs, writing a checkpoint) takes longer than gloo's 30 s timeout,
# as it can on a loaded machine
if os.environ.get("PADDLE_TRAINER_ID") == "0":
    from ernie_pipeline.train import paddle_backend, train_log

    def slow(function):
        def wrapper(*args, **kwargs):
            time.sleep(float(os.environ["SLOW_RANK_0_SECONDS"]))
            return function(*args, **kwargs)
        return wrapper

    train_log.RunLog.__init__ = slow(train_log.RunLog.__init__)
    paddle_backend.PaddleBackend.save = slow(paddle_backend.PaddleBackend.save)
"""


def test_two_processes_survive_a_rank_working_alone_past_glooss_timeout(artifacts, tmp_path):
    """Gloo gives up on a collective after 30 s, and a rank kept waiting that long in the gradient all-reduce inside
    backward() aborts (exit -6, no Python traceback): what a loaded machine gave once in ~18 runs, when rank 0 took
    that long to open the live logs before the first step. Here rank 0's solo work (the live logs, every checkpoint)
    takes 33 s each time, deterministically; the other rank waits at a barrier of the rendezvous's store instead,
    and both finish."""
    import os
    import subprocess

    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(_SLOW_RANK_0)
    command = _driver_command(artifacts, tmp_path, processes=2, max_steps=2, save_steps=100, checkpoint_steps=1,
                              eval_freq=100)
    env = dict(os.environ, PYTHONPATH=str(hooks), SLOW_RANK_0_SECONDS="33")
    result = subprocess.run(command + [str(tmp_path / "out")], capture_output=True, text=True, env=env)
    logs = {rank: (tmp_path / f"out/launch_logs/node0/workerlog.{rank}").read_text() for rank in (0, 1)}
    assert result.returncode == 0, (result.stderr[-3000:], logs[1][-3000:])
    assert [r["step"] for r in _logged_rows(tmp_path / "out")] == [1, 2]
    assert json.loads((tmp_path / "out/model_2/trainer_state.json").read_text())["global_step"] == 2


def test_two_processes_train_without_the_sop_head(artifacts, tmp_path):
    """binary_head: false with 2 processes: the SOP head and the pooler get no gradient; DataParallel
    refused them (find_unused_parameters) until they were frozen. They stay at their initial values."""
    import shutil

    import paddle
    import yaml

    from conftest import run_snakemake

    workdir = tmp_path / "w"
    shutil.copytree(artifacts["workdir"], workdir, symlinks=True)
    shutil.rmtree(workdir / "results/pretrain")
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["train"].update(nproc_per_node=2, binary_head=False, max_steps=2, save_steps=1)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    run_snakemake(workdir, "pretrain")

    out = workdir / "results/pretrain"
    assert "data parallel over 2 processes" in (workdir / "results/logs/pretrain/model_2.log").read_text()
    losses = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in losses] == [1, 2] and all(math.isfinite(r["loss"]) for r in losses)
    first, last = (paddle.load(str(out / name / "model_state.pdparams")) for name in ("model_0", "model_2"))
    frozen = [k for k in last if k.startswith(("ernie.pooler.", "cls.seq_relationship."))]
    assert len(frozen) == 4 and all(np.array_equal(first[k].numpy(), last[k].numpy()) for k in frozen)
    trained = "ernie.encoder.layers.0.linear1.weight"
    assert not np.array_equal(first[trained].numpy(), last[trained].numpy())


def test_recompute_gives_the_plain_models_loss_and_gradients_with_dropout():
    """train.recompute wraps every encoder layer in Paddle's recompute, which (Paddle 3, CPU too) replays the
    dropout random state: with dropout on, the loss and every gradient equal the plain model's bit for bit, so
    recompute stays a setting that changes no checkpoint. Without the state replayed the recomputed dropout
    masks differ (so the backward really recomputes); wrapping twice changes nothing."""
    import paddle
    from paddlenlp.transformers import ErnieConfig, ErnieForPretraining

    from ernie_pipeline.train.paddle_backend import enable_recompute

    ids = paddle.to_tensor(np.random.RandomState(0).randint(1, 300, (2, 24)))
    results = {}
    for variant in ("plain", "recompute", "twice", "rng not replayed"):
        paddle.seed(3)
        model = ErnieForPretraining(ErnieConfig(vocab_size=300, num_hidden_layers=2, hidden_size=32,
                                                num_attention_heads=2, intermediate_size=64, hidden_dropout_prob=0.3,
                                                attention_probs_dropout_prob=0.3))
        if variant != "plain":
            enable_recompute(model, preserve_rng_state=variant != "rng not replayed")
        if variant == "twice":
            enable_recompute(model)
        paddle.seed(5)
        scores, sop = model(ids)
        loss = scores.mean() + sop.mean()
        loss.backward()
        results[variant] = (float(loss), {n: p.grad.numpy() for n, p in model.named_parameters() if p.grad is not None})
    plain_loss, plain = results["plain"]
    assert len(plain) > 20
    for variant in ("recompute", "twice"):
        loss, grads = results[variant]
        assert loss == plain_loss and grads.keys() == plain.keys()
        assert all(np.array_equal(plain[n], grads[n]) for n in plain), variant
    loss, grads = results["rng not replayed"]
    assert loss == plain_loss and not all(np.allclose(plain[n], grads[n]) for n in plain)


def test_a_disabled_loss_scaler_logs_no_scale():
    import paddle

    from ernie_pipeline.train.paddle_backend import loss_scale

    assert loss_scale(None) is None
    # on CPU Paddle disables the scaler it is asked for, as on GPUs below compute capability 7.0
    assert loss_scale(paddle.amp.GradScaler(enable=True, init_loss_scaling=1024)) is None


def test_an_o2_checkpoint_reloads_as_the_float32_weights_it_holds(tmp_path):
    import paddle
    from paddle.amp.auto_cast import StateDictHook
    from paddlenlp.transformers import ErnieConfig, ErnieForPretraining

    from ernie_pipeline.train.checkpoint import SAVE_DTYPE
    from ernie_pipeline.train.paddle_backend import save_model

    net = ErnieForPretraining(ErnieConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1,
                                          num_attention_heads=2, intermediate_size=64))
    # what paddle.amp.decorate(level="O2", save_dtype=SAVE_DTYPE) does on a GPU (on CPU it does nothing):
    # float16 parameters, a state-dict hook that saves them in float32
    net.to(dtype="float16")
    net.register_state_dict_hook(StateDictHook(SAVE_DTYPE))
    save_model(net, tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["dtype"] == "float32"
    assert {str(v.dtype) for v in paddle.load(str(tmp_path / "model_state.pdparams")).values()} == {"paddle.float32"}
    reloaded = ErnieForPretraining.from_pretrained(str(tmp_path))  # float16 init kernels are GPU-only: a crash before
    assert {str(p.dtype) for p in reloaded.parameters()} == {"paddle.float32"}
    assert reloaded.ernie.encoder.layers[0].norm1.weight.dtype == paddle.float32


def test_o2_float16_losses_are_logged_as_float32_sums():
    """A window of 3000 micro-batches of float16 loss 1.0: summed in float16 it would stall at 2048."""
    import paddle

    from ernie_pipeline.train.paddle_backend import PaddleBackend
    from ernie_pipeline.train.train_log import LogWindow

    window = LogWindow(accumulate=1, float32=PaddleBackend.float32)
    one = paddle.to_tensor(1.0, dtype="float16")
    for _ in range(3000):
        window.add(2, loss=one, lm_loss=one, sop_loss=None)
    assert float(window.sums["loss"]) == float(window.sums["lm_loss"]) == 3000.0 and window.sums["sop_loss"] == 0.0
    assert window.sums["loss"].dtype == paddle.float32 and window.tokens == 6000
    window.steps = 3000
    record = window.record(7, lambda values: [float(v) for v in values], world=2)
    assert [record[k] for k in ("step", "loss", "lm_loss", "sop_loss", "tokens")] == [7, 1.0, 1.0, 0.0, 12000]
    assert window.steps == 0 and window.tokens == 0  # a new window
    stalled = np.float16(0)
    for _ in range(3000):
        stalled += np.float16(1)  # what the float16 sum did (Paddle has no float16 add on CPU)
    assert stalled == 2048.0


def test_a_resumed_log_keeps_the_rows_up_to_its_checkpoint(tmp_path):
    from ernie_pipeline.train.train_log import drop_log_rows_after

    log = tmp_path / "train_log.jsonl"
    rows = [json.dumps({"step": step, "loss": 10.0 - step}) + "\n" for step in (1, 2, 3, 4, 5)]
    log.write_text("".join(rows) + '{"step": 6, "lo')  # the last line torn by a kill
    drop_log_rows_after(log, 3)
    assert log.read_text() == "".join(rows[:3])
    drop_log_rows_after(log, 0)  # a run starting afresh in the folder
    assert log.read_text() == ""
    drop_log_rows_after(tmp_path / "absent.jsonl", 3)
    assert not (tmp_path / "absent.jsonl").exists()


def test_continue_training_refuses_a_pdparams_that_carries_code(tmp_path):
    """A pretrained folder is untrusted: its pdparams goes through a restricted unpickler (numpy arrays and
    plain containers), so a crafted one raises, naming the file and the key, and runs nothing."""
    import os
    import pickle

    from ernie_pipeline.io.safe_pickle import UnsafePickleError, load_paddle_state
    from ernie_pipeline.train.paddle_backend import pretrained_weights

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    folder = tmp_path / "pretrained"
    folder.mkdir()
    with open(folder / "model_state.pdparams", "wb") as handle:
        pickle.dump({"ernie.embeddings.word_embeddings.weight": Payload()}, handle, protocol=4)
    with pytest.raises(UnsafePickleError, match=r"config train.continue_training: .*model_state.pdparams: refusing "
                                                r"to load global '(posix|os)\.system'"):
        pretrained_weights(folder, None, {})
    assert not marker.exists()

    # what paddle.save writes loads as the same arrays
    import paddle

    state = {"w": paddle.to_tensor(np.arange(6, dtype=np.float32).reshape(2, 3)),
             "h": paddle.to_tensor(np.ones(3, dtype=np.float16))}
    paddle.save(state, str(tmp_path / "real.pdparams"))
    loaded = load_paddle_state(tmp_path / "real.pdparams")
    assert {k: (v.dtype, v.tolist()) for k, v in loaded.items()} == {k: (v.numpy().dtype, v.numpy().tolist())
                                                                     for k, v in state.items()}
