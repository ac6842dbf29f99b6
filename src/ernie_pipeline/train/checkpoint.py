"""Checkpoints: what one holds, which one a link of the chain starts from, saving and restoring.

A checkpoint folder (``model_<step>/``, ``model_last/``) loads with paddlenlp's ``from_pretrained`` and also
holds the optimizer (``model_state.pdopt``; not in ``model_0``), the loss scaler (``scaler.pdparams``, AMP
only), ``trainer_state.json`` (the step, the samples consumed and the run's fingerprint: the trajectory's
settings, :func:`ernie_pipeline.train.chain.trajectory`, plus the train data's sample maps) and the rows the
link logged (``train_log.jsonl``, ``valid_log.jsonl``: the steps since the checkpoint it started from).
A link continues from ``model_last`` (written every ``checkpoint_steps`` and when SLURM stops a job) only
when its fingerprint is the link's, its step lies inside the link and it was trained from the checkpoint the link
starts from as that checkpoint is now (``link_start``: its name and the sha256 of its state file).

Integrity: ``trainer_state.json`` lists every other file of the folder with its size and sha256 (``files``), so
the state file's own sha256 identifies the whole checkpoint. A link verifies the checkpoint it starts from (and
model_last before resuming it), ``python -m ernie_pipeline.workflow.where`` every checkpoint; every restore checks
the weights' names and shapes against the model, naming the file and the tensor.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
from pathlib import Path

from ernie_pipeline.io.atomic import atomic_path
from ernie_pipeline.io.safe_pickle import UnsafePickleError, load_paddle_state
from ernie_pipeline.train.chain import trajectory

log = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"
WEIGHTS_FILE = "model_state.pdparams"
OPTIMIZER_FILE = "model_state.pdopt"
SCALER_FILE = "scaler.pdparams"
# what a train sample map's record holds that does not change its content: the samples asked for (the map
# holds every epoch it started, so a larger max_steps gives the same map unless it needs another epoch)
MAP_SIZE_KEYS = ("num_samples",)


# checkpoint weights are float32 whatever the training precision (O2 trains float16 copies of them)
SAVE_DTYPE = "float32"


class CheckpointError(ValueError):
    """A checkpoint folder that is incomplete, altered, or does not fit the model (names the file)."""


def read_state_dict(path: Path) -> dict:
    """A ``paddle.save``d state dict (weights, optimizer or scaler state) as numpy arrays and plain data, read with
    the restricted unpickler (``paddle.load`` would run any code a crafted file carries); CheckpointError naming
    the file where it is missing or does not read (truncated, empty, not a state dict)."""
    if not path.is_file():
        raise CheckpointError(f"{path} not found")
    try:
        return load_paddle_state(path)
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise CheckpointError(f"{path} does not read as a state dict ({type(err).__name__}: {err}): truncated or "
                              "not a checkpoint's file") from None


def load_weights(path: Path, model, *, allow_unexpected: bool = False) -> dict:
    """The state dict in ``path`` (a ``.pdparams``) as numpy arrays, read with the restricted unpickler, checked
    against ``model``'s parameters: a missing, mis-shaped (or, unless ``allow_unexpected``, unexpected) tensor, or
    a file that does not read (truncated, empty, not a state dict), raises CheckpointError naming the file and the
    tensors. Extra tensors allowed are named in a warning: they are left out."""
    weights = read_state_dict(path)
    ours = model.state_dict()
    mismatched = [f"{k} {list(weights[k].shape)} (the model's: {list(v.shape)})" for k, v in ours.items()
                  if k in weights and list(weights[k].shape) != list(v.shape)]
    missing = [k for k in ours if k not in weights]
    unexpected = [k for k in weights if k not in ours]
    problems = [f"{label}: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}" for label, names in
                (("mis-shaped", mismatched), ("missing", missing), ("unexpected", [] if allow_unexpected else unexpected))
                if names]
    if problems:
        raise CheckpointError(f"{path} does not fit the model ({len(ours)} tensors): {'; '.join(problems)}")
    if unexpected:
        log.warning("%s holds %d tensors the model does not have, left out: %s", path, len(unexpected),
                    ", ".join(unexpected))
        for key in unexpected:
            del weights[key]
    return weights


def pretrained_weights(folder: Path, model) -> dict:
    """The weights of a pretrained folder (``model_state.pdparams``), checked against ``model``'s names and shapes;
    tensors the model lacks (a fine-tuned head, ...) are named in a warning and left out."""
    weights_file = folder / WEIGHTS_FILE
    if not weights_file.is_file():
        raise FileNotFoundError(f"config train.continue_training: {weights_file} not found")
    try:
        return load_weights(weights_file, model, allow_unexpected=True)
    except (UnsafePickleError, CheckpointError) as err:
        raise type(err)(f"config train.continue_training: {err}") from None


def save_model(model, directory: Path) -> None:
    """``model.save_pretrained`` with the weights' dtype in config.json: under O2 paddlenlp writes the dtype of
    the float16 parameters while Paddle's save hook writes them as float32, and ``from_pretrained`` would
    build a float16 model (LayerNorm included) from float32 weights."""
    model.save_pretrained(str(directory))
    config_path = Path(directory) / "config.json"
    config = json.loads(config_path.read_text())
    config["dtype"] = SAVE_DTYPE
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def file_digest(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def save_checkpoint(path: Path, model, tokenizer, optimizer, scaler, state: dict, *, logs: dict | None = None) -> None:
    """Write a checkpoint folder atomically (``optimizer`` None: model_0); ``logs``: file name -> text. The state
    file, written last, lists every other file but the logs with its size and sha256."""
    import paddle

    with atomic_path(path, is_dir=True) as tmp:
        save_model(model, tmp)
        tokenizer.save_pretrained(str(tmp))
        # The '##X' Chinese tokens are a data-preparation device, not part of the released vocabulary.
        (tmp / "added_tokens.json").unlink(missing_ok=True)
        if optimizer is not None:
            paddle.save(optimizer.state_dict(), str(tmp / OPTIMIZER_FILE))
        if scaler is not None:
            paddle.save(scaler.state_dict(), str(tmp / SCALER_FILE))
        for name, text in (logs or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
        # the logs carry timings, so they are left out: the same training gives the same state file
        files = {f.name: {"bytes": f.stat().st_size, "sha256": file_digest(f)} for f in sorted(tmp.iterdir())
                 if f.is_file() and f.name != STATE_FILE and f.name not in (logs or {})}
        (tmp / STATE_FILE).write_text(json.dumps({**state, "files": files}, indent=1, sort_keys=True) + "\n")


def verify_checkpoint(folder: Path) -> None:
    """Check every file ``trainer_state.json`` lists against its size and sha256; CheckpointError naming the first
    file that is missing, truncated or altered. A checkpoint written before checksums were recorded is not checked
    (a warning says so)."""
    folder = Path(folder)
    state = read_state(folder)
    if state is None:
        raise CheckpointError(f"{folder} holds no {STATE_FILE}: not a checkpoint of this workflow")
    if "files" not in state:
        log.warning("%s records no checksums (written by an older version): not verified", folder)
        return
    for name, recorded in state["files"].items():
        path = folder / name
        if not path.is_file():
            raise CheckpointError(f"{path} is missing (listed in {folder / STATE_FILE})")
        size = path.stat().st_size
        if size != recorded["bytes"] or file_digest(path) != recorded["sha256"]:
            what = f"{size:,} bytes, {recorded['bytes']:,} recorded" if size != recorded["bytes"] else "sha256 differs"
            raise CheckpointError(f"{path} is not the file its checkpoint recorded ({what} in {folder / STATE_FILE}): "
                                  "truncated or altered; make the checkpoint again (snakemake --forcerun on it)")


def checkpoint_identity(folder: Path) -> dict:
    """What a link started from: the checkpoint's name and the sha256 of its state file (which lists every other
    file's sha256), recorded in the checkpoints the link writes."""
    return {"checkpoint": Path(folder).name, "state_sha256": file_digest(Path(folder) / STATE_FILE)}


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
    """The checkpoint a link to step ``end`` starts from, and its state: ``last`` (model_last) where a retried job
    left it inside the link with this run's fingerprint, trained from ``previous`` as it is now (its identity), and
    intact; else ``previous`` (the chain's checkpoint before the link, verified, which must be of this run:
    ValueError naming what changed). The state carries the identity of ``previous`` (``link_start``), without
    ``previous``'s own file list."""
    verify_checkpoint(previous)
    state = read_state(previous)
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
    origin = checkpoint_identity(previous)
    resumed = read_state(last)
    if (resumed and resumed.get("run") == run and state["global_step"] < resumed["global_step"] < end
            and resumed.get("link_start") == origin and _intact(last)):
        return last, _without_files(resumed)
    if resumed and resumed.get("run") == run and resumed.get("link_start") != origin:
        log.warning("%s was trained from another %s than the one there now: not resumed", last, previous.name)
    return previous, {**_without_files(state), "link_start": origin}


def _without_files(state: dict) -> dict:
    return {k: v for k, v in state.items() if k != "files"}


def _intact(folder: Path) -> bool:
    try:
        verify_checkpoint(folder)
    except CheckpointError as err:
        log.warning("not resuming %s: %s", folder, err)
        return False
    return True


def restore_weights(folder: Path, model) -> None:
    """The model weights of checkpoint ``folder``, checked against the model's names and shapes."""
    model.set_state_dict(load_weights(Path(folder) / WEIGHTS_FILE, model))


def restore_optimizer(folder: Path, optimizer, scaler, step: int) -> None:
    """The optimizer's and the loss scaler's state from ``folder`` (a checkpoint of ``step``): every checkpoint but
    model_0 (step 0) must hold the optimizer's, and under AMP the scaler's (a fresh optimizer would train on
    silently from other moments)."""
    folder = Path(folder)
    needed = [(OPTIMIZER_FILE, optimizer)] + ([(SCALER_FILE, scaler)] if scaler is not None else [])
    for name, target in needed:
        path = folder / name
        if not path.is_file():
            if step == 0:
                continue
            raise CheckpointError(f"{path} not found: a checkpoint of step {step} must hold it (a fresh "
                                  f"{'optimizer' if target is optimizer else 'loss scaler'} would change training)")
        state = read_state_dict(path)
        if target is optimizer:
            optimizer.set_state_dict(state)
        else:
            scaler.load_state_dict(state)
