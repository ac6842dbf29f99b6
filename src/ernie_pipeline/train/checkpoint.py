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

from ernie_pipeline.io.safe_pickle import UnsafePickleError, load_paddle_state
from ernie_pipeline.train.chain import trajectory

log = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"
WEIGHTS_FILE = "model_state.pdparams"  # the Paddle backend's files
OPTIMIZER_FILE = "model_state.pdopt"
SCALER_FILE = "scaler.pdparams"
# what a train sample map's record holds that does not change its content: the samples asked for (the map
# holds every epoch it started, so a larger max_steps gives the same map unless it needs another epoch)
MAP_SIZE_KEYS = ("num_samples",)

# checkpoint weights are float32 whatever the training precision (O2 and bf16 train on lower-precision copies)
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


def check_weights(weights: dict, expected: dict[str, list[int]], path: Path, *, allow_unexpected: bool = False,
                  optional: frozenset[str] = frozenset()) -> dict:
    """``weights`` (name -> array) read from ``path`` against the model's names and shapes (``expected``: name ->
    shape): a missing (unless ``optional``: tied weights a file stores once), mis-shaped or (unless
    ``allow_unexpected``) unexpected tensor raises CheckpointError naming the file and the tensors. Extra tensors
    allowed are named in a warning and left out."""
    mismatched = [f"{k} {list(weights[k].shape)} (the model's: {list(shape)})" for k, shape in expected.items()
                  if k in weights and list(weights[k].shape) != list(shape)]
    missing = [k for k in expected if k not in weights and k not in optional]
    unexpected = [k for k in weights if k not in expected]
    problems = [f"{label}: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}" for label, names in
                (("mis-shaped", mismatched), ("missing", missing), ("unexpected", [] if allow_unexpected else unexpected))
                if names]
    if problems:
        raise CheckpointError(f"{path} does not fit the model ({len(expected)} tensors): {'; '.join(problems)}")
    if unexpected:
        log.warning("%s holds %d tensors the model does not have, left out: %s", path, len(unexpected),
                    ", ".join(unexpected))
        weights = {k: v for k, v in weights.items() if k in expected}
    return weights


def file_digest(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def write_state(folder: Path, state: dict, logs: dict | None = None) -> None:
    """The last files of a checkpoint being written in ``folder``: the link's ``logs`` (file name -> text), then the
    state file, which lists every other file but the logs with its size and sha256 (the logs carry timings: left
    out, the same training gives the same state file)."""
    for name, text in (logs or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
    files = {f.name: {"bytes": f.stat().st_size, "sha256": file_digest(f)} for f in sorted(folder.iterdir())
             if f.is_file() and f.name != STATE_FILE and f.name not in (logs or {})}
    (folder / STATE_FILE).write_text(json.dumps({**state, "files": files}, indent=1, sort_keys=True) + "\n")


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
