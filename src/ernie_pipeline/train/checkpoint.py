"""Checkpoints: what one holds, which one a link of the chain starts from, saving and restoring.

A checkpoint folder (``model_<step>/``, ``model_last/``) loads with paddlenlp's ``from_pretrained`` and also
holds the optimizer (``model_state.pdopt``; not in ``model_0``), the loss scaler (``scaler.pdparams``, AMP
only), ``trainer_state.json`` (the step, the samples consumed and the run's fingerprint: the trajectory's
settings, :func:`ernie_pipeline.train.chain.trajectory`, plus the train data's sample maps) and the rows the
link logged (``train_log.jsonl``, ``valid_log.jsonl``: the steps since the checkpoint it started from).
A link continues from ``model_last`` (written every ``checkpoint_steps`` and when SLURM stops a job) only
when its fingerprint is the link's and its step lies inside the link.
"""

from __future__ import annotations

import json
from pathlib import Path

from ernie_pipeline.io.atomic import atomic_path
from ernie_pipeline.io.safe_pickle import UnsafePickleError, load_paddle_state
from ernie_pipeline.train.chain import trajectory

STATE_FILE = "trainer_state.json"
# what a train sample map's record holds that does not change its content: the samples asked for (the map
# holds every epoch it started, so a larger max_steps gives the same map unless it needs another epoch)
MAP_SIZE_KEYS = ("num_samples",)


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


def save_checkpoint(path: Path, model, tokenizer, optimizer, scaler, state: dict, logs: dict | None = None) -> None:
    """Write a checkpoint folder atomically (``optimizer`` None: model_0); ``logs``: file name -> text."""
    import paddle

    with atomic_path(path, is_dir=True) as tmp:
        save_model(model, tmp)
        tokenizer.save_pretrained(str(tmp))
        # The '##X' Chinese tokens are a data-preparation device, not part of the released vocabulary.
        (tmp / "added_tokens.json").unlink(missing_ok=True)
        if optimizer is not None:
            paddle.save(optimizer.state_dict(), str(tmp / "model_state.pdopt"))
        if scaler is not None:
            paddle.save(scaler.state_dict(), str(tmp / "scaler.pdparams"))
        for name, text in (logs or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
        (tmp / STATE_FILE).write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")


def run_fingerprint(train, train_records: list[dict]) -> dict:
    """What a checkpoint must share with a link (``train``: TrainSettings) for the link to continue it: the
    trajectory's settings and the train data (the records of the train maps, without the sample count), as
    read back from a state file (tuples as lists)."""
    data = [{k: v for k, v in record.items() if k not in MAP_SIZE_KEYS} for record in train_records]
    return json.loads(json.dumps({"train": trajectory(train), "data": data}))


def initial_state(train) -> dict:
    """model_0's trainer state: step 0, the trajectory (no data: the initial weights do not read any)."""
    return {"global_step": 0, "consumed_samples": 0, "global_batch_size": train.global_batch_size,
            "run": json.loads(json.dumps({"train": trajectory(train)}))}


def changed_settings(saved_run: dict | None, run: dict) -> list[str]:
    """The ``train`` keys whose values differ between a checkpoint's fingerprint and this run's, and "the train
    data" when the train maps differ."""
    before = saved_run or {"train": {}, "data": []}
    changed = sorted(k for k in set(run["train"]) | set(before["train"]) if run["train"].get(k) != before["train"].get(k))
    return changed + (["the train data"] if before.get("data") != run["data"] else [])


def read_state(folder: Path) -> dict | None:
    path = Path(folder) / STATE_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def link_start(previous: Path, last: Path, end: int, run: dict) -> tuple[Path, dict]:
    """The checkpoint a link to step ``end`` starts from, and its state: ``last`` (model_last) where a
    retried job left it inside the link with this run's fingerprint, else ``previous`` (the chain's checkpoint
    before the link, which must be of this run: ValueError naming what changed)."""
    state = read_state(previous)
    if state is None:
        raise FileNotFoundError(f"{previous} holds no {STATE_FILE}: not a checkpoint of this workflow")
    saved = state.get("run") or {}
    if saved.get("train") != run["train"] or state["global_step"] and saved.get("data") != run["data"]:
        # model_0 reads no data: only its settings count
        changed = ", ".join(changed_settings(saved, run if state["global_step"] else {**run, "data": saved.get("data")}))
        hint = (" (a larger train.max_steps that needs another epoch of the train split reorders every sample: "
                "retrain the chain with `snakemake --forcerun init_model pretrain`)" if "the train data" in changed
                else "")
        raise ValueError(f"{previous} was trained with other settings (changed: {changed}){hint}")
    if state["global_step"] >= end:
        raise ValueError(f"{previous} holds step {state['global_step']}, not before the link's end {end}")
    resumed = read_state(last)
    if resumed and resumed.get("run") == run and state["global_step"] < resumed["global_step"] < end:
        return last, resumed
    return previous, state


def restore_weights(folder: Path, model) -> None:
    """The model weights of our own checkpoint ``folder`` (written by this workflow: paddle.load)."""
    import paddle

    model.set_state_dict(paddle.load(str(folder / "model_state.pdparams")))


def restore_optimizer(folder: Path, optimizer, scaler) -> None:
    """The optimizer's and the loss scaler's state from ``folder``, where it holds them (not model_0)."""
    import paddle

    if scaler is not None and (folder / "scaler.pdparams").is_file():
        scaler.load_state_dict(paddle.load(str(folder / "scaler.pdparams")))
    if (folder / "model_state.pdopt").is_file():
        optimizer.set_state_dict(paddle.load(str(folder / "model_state.pdopt")))
