"""Checkpoints: what one holds, when a run may continue from one, saving and restoring.

A checkpoint folder (``model_<step>/``, ``model_last/``) loads with paddlenlp's ``from_pretrained`` and also
holds the optimizer (``model_state.pdopt``), the loss scaler (``scaler.pdparams``, AMP only) and
``trainer_state.json``: the step, the samples consumed and the run's fingerprint, every setting the
trajectory depends on plus the train data's index-map records. A run continues from ``model_last`` only when
its fingerprint is the same; the settings in :data:`RESUME_NEUTRAL_KEYS` may change between the two.
"""

from __future__ import annotations

import json
from pathlib import Path

from ernie_pipeline.io.atomic import atomic_path
from ernie_pipeline.io.safe_pickle import UnsafePickleError, load_paddle_state
from ernie_pipeline.settings import as_section

STATE_FILE = "trainer_state.json"


# settings a run may change and still continue from its last checkpoint (they do not touch the trajectory)
RESUME_NEUTRAL_KEYS = ("logging_freq", "eval_freq", "eval_iters", "test_iters", "save_steps", "checkpoint_steps",
                       "num_workers", "threads", "nproc_per_node", "nnodes", "master_port", "rendezvous_timeout",
                       "recompute")


# checkpoint weights are float32 whatever the training precision (O2 trains float16 copies of them)
SAVE_DTYPE = "float32"


def pretrained_weights(folder: Path, model) -> dict:
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


def save_checkpoint(path: Path, model, tokenizer, optimizer, scaler, state: dict) -> None:
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


def run_fingerprint(train, train_records: list[dict]) -> dict:
    """What a checkpoint must share with this run (``train``: TrainSettings) to be continued: the settings the
    trajectory depends on and the train data (the records of the train maps), as read back from a state file
    (tuples as lists)."""
    settings = {k: v for k, v in as_section(train).items() if k not in RESUME_NEUTRAL_KEYS}
    run = {"train": settings, "data": train_records}
    return json.loads(json.dumps(run))


def changed_settings(saved_run: dict | None, run: dict) -> list[str]:
    """The ``train`` keys whose values differ between a checkpoint's fingerprint and this run's, and "the train
    data" when the train maps differ."""
    before = saved_run or {"train": {}, "data": []}
    changed = sorted(k for k in set(run["train"]) | set(before["train"]) if run["train"].get(k) != before["train"].get(k))
    return changed + (["the train data"] if run["data"] != before["data"] else [])


def resume_state(last: Path, run: dict, global_batch: int) -> tuple[dict, bool]:
    """The trainer state to start from, and whether it comes from ``last``: a new one at step 0, or the one
    ``last`` holds if its fingerprint is ``run``'s (else ValueError naming the changed settings)."""
    if not (last / STATE_FILE).is_file():
        return {"global_step": 0, "consumed_samples": 0, "global_batch_size": global_batch, "run": run}, False
    state = json.loads((last / STATE_FILE).read_text())
    if state.get("run") != run:
        changed = changed_settings(state.get("run"), run)
        raise ValueError(f"{last} was trained with other settings (changed: {', '.join(changed) or 'unknown'}); "
                         f"move or delete {last.parent} to train anew")
    return state, True


def restore_weights(last: Path, model) -> None:
    """The model weights of our own checkpoint ``last`` (written by this run's settings: paddle.load)."""
    import paddle

    model.set_state_dict(paddle.load(str(last / "model_state.pdparams")))


def restore_optimizer(last: Path, optimizer, scaler) -> None:
    """The optimizer's and the loss scaler's state from ``last``, where it holds them."""
    import paddle

    if scaler is not None and (last / "scaler.pdparams").is_file():
        scaler.load_state_dict(paddle.load(str(last / "scaler.pdparams")))
    if (last / "model_state.pdopt").is_file():
        optimizer.set_state_dict(paddle.load(str(last / "model_state.pdopt")))
