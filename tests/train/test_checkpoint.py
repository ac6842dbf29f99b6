"""The training chain's plan (ernie_pipeline.train.chain) and which checkpoint a link starts from
(ernie_pipeline.train.checkpoint), without training anything."""

import json

import pytest

from conftest import train_settings
from ernie_pipeline.train.chain import (NEUTRAL_KEYS, horizon, job_group, learning_rate, map_samples,
                                        previous_save_point, save_points, schedule_steps, trajectory)
from ernie_pipeline.train.checkpoint import (STATE_FILE, CheckpointError, changed_settings, checkpoint_identity,
                                             file_digest, initial_state, link_start, run_fingerprint, verify_checkpoint)

TRAIN = train_settings()
RECORDS = [{"data_checksum": "ab12", "split_name": "train", "num_samples": 48, "rows": 1700, "seed": 1234}]


def _checkpoint(folder, run, step, started_from=None, weights=None):
    """A checkpoint folder as save_checkpoint writes one: a weights file and a state listing it with its sha256;
    the state as a link reads it back (without the file list)."""
    folder.mkdir()
    (folder / "model_state.pdparams").write_bytes(weights or f"weights of step {step}".encode())
    state = {"global_step": step, "consumed_samples": 8 * step, "global_batch_size": 8, "run": run}
    if started_from:
        state["link_start"] = checkpoint_identity(started_from)
    files = {"model_state.pdparams": {"bytes": (folder / "model_state.pdparams").stat().st_size,
                                      "sha256": file_digest(folder / "model_state.pdparams")}}
    (folder / STATE_FILE).write_text(json.dumps({**state, "files": files}))
    return folder, state


def test_the_chain_ends_at_every_save_point_and_max_steps():
    chain = train_settings(save_steps=3, max_steps=7, steps_per_job=6)
    assert save_points(chain) == [3, 6, 7]
    assert [previous_save_point(chain, s) for s in (3, 6, 7)] == [0, 3, 6]
    assert [job_group(chain, s) for s in (3, 6, 7)] == ["pretrain_steps_1-6", "pretrain_steps_1-6", "pretrain_steps_7-7"]
    assert job_group(train_settings(save_steps=3, max_steps=7), 6) is None  # a job per link
    assert save_points(train_settings(save_steps=3, max_steps=6)) == [3, 6]
    with pytest.raises(ValueError, match=r"step 4 is not a save point of the chain \(train.save_steps 3, "):
        previous_save_point(chain, 4)


def test_map_samples_train_for_the_horizon_valid_and_test_one_pass():
    train = train_settings(micro_batch_size=4, global_batch_size=8, max_steps=100, eval_freq=30, eval_iters=2,
                           test_iters=5)
    assert map_samples(train) == {"train": 800, "valid": None, "test": None}  # upstream's train formula
    assert map_samples(train_settings(global_batch_size=8, max_steps=100, decay_steps=150))["train"] == 1200
    assert map_samples(train_settings(global_batch_size=8, max_steps=100, decay_steps=50))["train"] == 800


def test_the_trajectory_leaves_out_what_does_not_change_the_weights():
    run = trajectory(TRAIN)
    assert {"seed", "max_lr", "micro_batch_size", "dataset", "model", "masked_lm_prob", "amp"} <= set(run)
    assert run["dataset"] == [["tiny", 1.0]]  # as read back from JSON
    assert not set(run) & set(NEUTRAL_KEYS) and "max_steps" not in run
    neutral = train_settings(logging_freq=50, threads=16, recompute=True, num_workers=4, nproc_per_node=2,
                             eval_freq=7, save_steps=2, steps_per_job=10, checkpoint_steps=1)
    assert trajectory(neutral) == run
    assert trajectory(train_settings(max_lr=2e-3)) != run


def test_max_steps_counts_only_where_the_schedule_follows_from_it():
    # warmup_rate x max_steps and decay_steps = max_steps by default: more steps, another schedule
    assert schedule_steps(train_settings(max_steps=6, warmup_rate=0.5)) == (3, 6)
    assert trajectory(train_settings(max_steps=6)) != trajectory(train_settings(max_steps=9))
    # given in steps, the schedule (and so every checkpoint) is the same for any max_steps up to the horizon
    explicit = {"decay_steps": 12, "warmup_steps": 1}
    assert schedule_steps(train_settings(max_steps=6, **explicit)) == (1, 12)
    assert trajectory(train_settings(max_steps=6, **explicit)) == trajectory(train_settings(max_steps=9, **explicit))
    assert horizon(train_settings(max_steps=6, **explicit)) == 12 and horizon(train_settings(max_steps=6)) == 6


@pytest.mark.parametrize("warmup_rate, max_steps", [(0.01, 20), (0.29, 100), (0.5, 6)])
def test_the_schedule_is_upstreams_for_a_warmup_that_is_not_a_whole_number_of_steps(warmup_rate, max_steps):
    """upstream passes warmup_rate x max_steps to LinearAnnealingWithWarmupDecay as it is (0.01 x 20 = 0.2,
    0.29 x 100 = 28.999999999999996): both backends' schedules (Paddle's scheduler, the torch backend's function)
    give its rate at every step, not the rate of the product cut to an int (0 and 28 steps of warmup)."""
    from paddlenlp.transformers import LinearAnnealingWithWarmupDecay

    from ernie_pipeline.train.paddle_backend import build_schedule

    train = train_settings(warmup_rate=warmup_rate, max_steps=max_steps, max_lr=1e-3, min_lr=1e-5)
    upstream = LinearAnnealingWithWarmupDecay(1e-3, 1e-5, warmup_rate * max_steps, max_steps, last_epoch=0)
    paddle_schedule = build_schedule(train, 0)
    for step in range(1, max_steps + 3):
        assert paddle_schedule() == upstream() == learning_rate(train, step)
        paddle_schedule.step(), upstream.step()
    assert schedule_steps(train)[0] == warmup_rate * max_steps
    resumed = build_schedule(train, 7)  # a link from step 7: step 8 trains with index 8
    assert resumed() == learning_rate(train, 8)


def test_a_link_starts_from_the_checkpoint_before_it(tmp_path):
    run = run_fingerprint(TRAIN, RECORDS)
    previous, state = _checkpoint(tmp_path / "model_3", run, 3)
    assert link_start(previous, tmp_path / "model_last", 6, run) == (
        previous, {**state, "link_start": {"checkpoint": "model_3", "state_sha256": file_digest(previous / STATE_FILE)}})
    # model_0 holds the trajectory and no data
    model_0 = tmp_path / "model_0"
    model_0.mkdir()
    (model_0 / STATE_FILE).write_text(json.dumps(initial_state(TRAIN)))
    assert link_start(model_0, tmp_path / "model_last", 3, run)[1]["global_step"] == 0


def test_a_retried_link_continues_from_model_last_inside_it_with_its_fingerprint(tmp_path):
    run = run_fingerprint(TRAIN, RECORDS)
    previous, _ = _checkpoint(tmp_path / "model_3", run, 3)
    last, saved = _checkpoint(tmp_path / "model_last", run, 5, started_from=previous)
    assert link_start(previous, last, 6, run) == (last, saved)
    # a neutral setting changed: still the same run
    assert link_start(previous, last, 6, run_fingerprint(train_settings(logging_freq=9), RECORDS))[0] == last
    # outside the link (an older or a later step), or of another run: the chain's checkpoint
    assert link_start(previous, last, 5, run)[0] == previous
    other = run_fingerprint(train_settings(max_lr=2e-3), RECORDS)
    state = json.loads((last / STATE_FILE).read_text())
    (last / STATE_FILE).write_text(json.dumps({**state, "run": other}))
    assert link_start(previous, last, 6, run)[0] == previous


def test_model_last_is_resumed_only_from_the_checkpoint_its_link_started_from_as_it_is_now(tmp_path, caplog):
    """model_last records the identity (state file sha256, which lists every file's) of the checkpoint its link
    started from: after that checkpoint is made again with other content (a corrupted one restored), model_last
    is not resumed, nor is a model_last whose own files no longer match their record."""
    import shutil

    run = run_fingerprint(TRAIN, RECORDS)
    previous, _ = _checkpoint(tmp_path / "model_3", run, 3, weights=b"corrupted weights of step 3")
    last, _ = _checkpoint(tmp_path / "model_last", run, 5, started_from=previous)
    assert link_start(previous, last, 6, run)[0] == last
    shutil.rmtree(previous)
    _checkpoint(previous, run, 3)  # made again
    assert link_start(previous, last, 6, run)[0] == previous
    assert "model_last was trained from another model_3 than the one there now" in caplog.text
    last_again, _ = _checkpoint(tmp_path / "model_last2", run, 5, started_from=previous)
    assert link_start(previous, last_again, 6, run)[0] == last_again
    (last_again / "model_state.pdparams").write_bytes(b"truncated")
    assert link_start(previous, last_again, 6, run)[0] == previous
    assert "not resuming" in caplog.text and "model_last2/model_state.pdparams is not the file" in caplog.text


def test_a_checkpoint_is_verified_against_the_checksums_its_state_records(tmp_path):
    run = run_fingerprint(TRAIN, RECORDS)
    previous, _ = _checkpoint(tmp_path / "model_3", run, 3)
    verify_checkpoint(previous)
    weights = previous / "model_state.pdparams"
    weights.write_bytes(weights.read_bytes()[:-3])
    with pytest.raises(CheckpointError, match=r"model_3/model_state.pdparams is not the file its checkpoint recorded "
                                              r"\(14 bytes, 17 recorded in .*trainer_state.json\): truncated"):
        link_start(previous, tmp_path / "model_last", 6, run)
    weights.write_bytes(b"weights of step 4")  # same size, other content
    with pytest.raises(CheckpointError, match=r"\(sha256 differs in .*\): truncated or altered"):
        verify_checkpoint(previous)
    weights.unlink()
    with pytest.raises(CheckpointError, match=r"model_3/model_state.pdparams is missing \(listed in "):
        verify_checkpoint(previous)


def test_a_torch_link_never_continues_a_paddle_checkpoint(tmp_path):
    """The backend is part of the trajectory (where it is not Paddle: chains made before the torch backend stay
    valid): a torch link refuses a Paddle checkpoint, naming the setting."""
    paddle = run_fingerprint(TRAIN, RECORDS)
    assert "backend" not in paddle["train"]
    torch = run_fingerprint(train_settings(backend="torch", python="/opt/torch/bin/python"), RECORDS)
    assert torch["train"]["backend"] == "torch" and "python" not in torch["train"]
    previous, _ = _checkpoint(tmp_path / "model_3", paddle, 3)
    with pytest.raises(ValueError, match=r"model_3 was trained with other settings \(changed: backend\)$"):
        link_start(previous, tmp_path / "model_last", 6, torch)


@pytest.mark.parametrize("change, named", [
    ({"max_lr": 2e-3}, "max_lr"),
    ({"seed": 1}, "seed"),
    ({"dataset": [("tiny", 0.5), ("news", 0.5)]}, "dataset"),
])
def test_a_previous_checkpoint_of_other_settings_is_refused_naming_them(tmp_path, change, named):
    previous, _ = _checkpoint(tmp_path / "model_3", run_fingerprint(TRAIN, RECORDS), 3)
    with pytest.raises(ValueError, match=rf"{previous} was trained with other settings \(changed: {named}\)$"):
        link_start(previous, tmp_path / "model_last", 6, run_fingerprint(train_settings(**change), RECORDS))


def test_a_train_map_of_another_epoch_count_is_named_with_the_way_out(tmp_path):
    """A larger max_steps past the horizon can need another epoch of the train split: the map's rows change
    and every sample moves; the sample count alone (same rows) changes nothing."""
    run = run_fingerprint(TRAIN, RECORDS)
    assert run_fingerprint(TRAIN, [dict(RECORDS[0], num_samples=72)]) == run
    more_epochs = run_fingerprint(TRAIN, [dict(RECORDS[0], num_samples=4000, rows=3400)])
    assert changed_settings(run, more_epochs) == ["the train data"]
    previous, _ = _checkpoint(tmp_path / "model_3", run, 3)
    with pytest.raises(ValueError, match=r"changed: the train data\) \(a larger train.max_steps that needs another "
                                         r"epoch .* `snakemake --forcerun init_model pretrain`"):
        link_start(previous, tmp_path / "model_last", 6, more_epochs)


def test_a_checkpoint_without_a_fingerprint_is_refused_naming_every_setting(tmp_path):
    run = run_fingerprint(TRAIN, RECORDS)
    everything = sorted(k for k, v in run["train"].items() if v is not None) + ["the train data"]
    assert changed_settings(None, run) == everything
    previous, _ = _checkpoint(tmp_path / "model_3", None, 3)
    with pytest.raises(ValueError, match=rf"changed: {', '.join(everything)}\)"):
        link_start(previous, tmp_path / "model_last", 6, run)
    with pytest.raises(CheckpointError, match="holds no trainer_state.json"):
        link_start(tmp_path / "absent", tmp_path / "model_last", 6, run)
