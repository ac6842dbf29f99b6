"""When a run may continue from a checkpoint (ernie_pipeline.train.checkpoint), without training anything."""

import json

import pytest

from conftest import train_settings
from ernie_pipeline.train.checkpoint import (RESUME_NEUTRAL_KEYS, STATE_FILE, changed_settings, resume_state,
                                             run_fingerprint)

TRAIN = train_settings()
RECORDS = [{"prefix": "results/token_ids/tiny", "split": "train", "samples": 48, "checksum": "ab12"}]


def _checkpoint(tmp_path, run, step=3):
    last = tmp_path / "model_last"
    last.mkdir()
    state = {"global_step": step, "consumed_samples": 8 * step, "global_batch_size": 8, "run": run}
    (last / STATE_FILE).write_text(json.dumps(state))
    return last, state


def test_the_fingerprint_leaves_out_what_does_not_change_the_trajectory():
    run = run_fingerprint(TRAIN, RECORDS)
    assert {"seed", "max_lr", "micro_batch_size", "dataset", "model", "masked_lm_prob"} <= set(run["train"])
    assert run["train"]["max_lr"] == TRAIN.max_lr
    assert run["train"]["dataset"] == [["tiny", 1.0]]  # as read back from JSON
    assert not set(run["train"]) & set(RESUME_NEUTRAL_KEYS)
    assert run["data"] == RECORDS


def test_no_checkpoint_starts_at_step_zero(tmp_path):
    run = run_fingerprint(TRAIN, RECORDS)
    state, resumed = resume_state(tmp_path / "model_last", run, 8)
    assert not resumed
    assert state == {"global_step": 0, "consumed_samples": 0, "global_batch_size": 8, "run": run}


def test_a_checkpoint_of_the_same_run_continues_also_with_other_neutral_settings(tmp_path):
    last, saved = _checkpoint(tmp_path, run_fingerprint(TRAIN, RECORDS))
    neutral = train_settings(logging_freq=50, threads=16, recompute=True, num_workers=4, nproc_per_node=2)
    state, resumed = resume_state(last, run_fingerprint(neutral, RECORDS), 8)
    assert resumed and state == saved


@pytest.mark.parametrize("change, named", [
    ({"max_lr": 2e-3}, "max_lr"),
    ({"seed": 1}, "seed"),
    ({"dataset": [("tiny", 0.5), ("news", 0.5)]}, "dataset"),
])
def test_a_checkpoint_of_other_settings_is_refused_naming_them(tmp_path, change, named):
    last, _ = _checkpoint(tmp_path, run_fingerprint(TRAIN, RECORDS))
    with pytest.raises(ValueError, match=rf"{last} was trained with other settings \(changed: {named}\); "
                                         rf"move or delete {tmp_path} to train anew"):
        resume_state(last, run_fingerprint(train_settings(**change), RECORDS), 8)


def test_other_train_data_and_a_checkpoint_without_a_fingerprint_are_named(tmp_path):
    run = run_fingerprint(TRAIN, RECORDS)
    other_data = run_fingerprint(TRAIN, [dict(RECORDS[0], checksum="cd34")])
    assert changed_settings(run, other_data) == ["the train data"]
    # a checkpoint from before fingerprints: every setting that is not null differs
    everything = sorted(k for k, v in run["train"].items() if v is not None) + ["the train data"]
    assert changed_settings(None, run) == everything
    last, _ = _checkpoint(tmp_path, None)
    with pytest.raises(ValueError, match=rf"changed: {', '.join(everything)}\)"):
        resume_state(last, run, 8)
