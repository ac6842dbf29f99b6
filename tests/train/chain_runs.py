"""Running the training chain on the tiny run's data with changed settings, in this venv or another (the torch
backend's), and reading what it logged: shared by the training tests."""

import json
import sys

import numpy as np

from conftest import REPO, require, train_settings

TORCH_PYTHON = REPO / ".venv-torch" / "bin" / "python"


def torch_python() -> str:
    """The torch backend's Python (.venv-torch: torch and transformers, no Paddle)."""
    require(TORCH_PYTHON.is_file(), "needs .venv-torch: `make torch-env` (`make test` builds it)")
    return str(TORCH_PYTHON)


_DRIVER = f"""
import json, sys
sys.path.insert(0, {str(REPO / "src")!r})  # this checkout's package, whichever venv runs it
import ernie_pipeline
from ernie_pipeline.train.build import TrainData
from ernie_pipeline.train.launch import LaunchPlan, launch
from ernie_pipeline.train.loop import init_checkpoint, pretrain
from ernie_pipeline.train.settings import TrainSettings
a, out = json.load(open(sys.argv[1])), sys.argv[2]
data, train = TrainData.from_spec(a["data"]), TrainSettings.from_config(a["train"])
if a["processes"] == 1:  # the whole chain, as its jobs make it
    pretrain(data, train, out, out + "/summary.json")
else:  # one link from model_0 to max_steps, its processes started as the link's job starts them
    init_checkpoint(data.tokenizer, train, out + "/model_0")
    launch(dict(data=data, train=train, output_dir=out, previous=out + "/model_0", end=train.max_steps),
           LaunchPlan(1, a["processes"]))
"""


def _driver_command(artifacts, tmp_path, processes=1, **changes) -> list[str]:
    """A command running the training chain (or one link in ``processes`` gloo processes) on the tiny run's
    data with its train settings changed as given (sample maps built for them under tmp_path), in
    ``changes["python"]`` where given (the torch backend's venv), else this one; append the output folder."""
    from ernie_pipeline.index.index_map import build_index_map
    from ernie_pipeline.train.chain import map_samples
    from ernie_pipeline.settings import as_section
    from ernie_pipeline.train.build import TrainData

    train = train_settings(**changes)
    sample_map = train.sample_map(artifacts["config"]["index"])
    maps = {}
    for split, samples in map_samples(train).items():
        maps[split] = [str(tmp_path / f"{split}.npy")]
        build_index_map(artifacts["prefix"], split, maps[split][0], sample_map, samples)
    data = TrainData([str(artifacts["prefix"])], str(artifacts["vocab_dir"]), maps, sample_map)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"data": data.as_spec(), "train": as_section(train), "processes": processes}))
    return [train.python or sys.executable, "-c", _DRIVER, str(spec)]


def _weights(folder) -> dict:
    """A checkpoint's weights as numpy arrays, of either backend (Paddle's pdparams, or safetensors)."""
    if (folder / "model.safetensors").is_file():
        from safetensors.numpy import load_file

        return load_file(str(folder / "model.safetensors"))
    from ernie_pipeline.io.safe_pickle import load_paddle_state

    return load_paddle_state(folder / "model_state.pdparams")


def backend_settings(backend: str) -> dict:
    """What a chain run on ``backend`` needs: the setting, and for torch its venv's Python."""
    return {"backend": backend, "python": torch_python()} if backend == "torch" else {}


def _same_weights(a, b) -> bool:
    a, b = _weights(a), _weights(b)
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _logged_losses(out) -> dict[int, float]:
    """step -> loss of every logged step."""
    return {r["step"]: r["loss"] for r in _logged_rows(out)}


def _logged_rows(out) -> list[dict]:
    """The rows of train_log.jsonl in ``out``: the run's live log, or a checkpoint's (its link's rows)."""
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


