"""The torch backend (train.backend: torch) against the Paddle backend, and through the workflow, on CPU: its
processes run in .venv-torch (torch and transformers, no Paddle)."""

import json
import math
import subprocess

import pytest

from chain_runs import _driver_command, _logged_losses, _logged_rows, _weights, torch_python
from conftest import run_snakemake

pytestmark = pytest.mark.torch
EQUAL_TRAINING = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, max_steps=20, save_steps=100,
                      logging_freq=1, eval_freq=10, checkpoint_steps=100, warmup_rate=0.1)


def test_the_torch_backend_trains_with_paddles_losses_and_rates(artifacts, tmp_path):
    """CPU, float32, dropout 0, the same model_0 (Paddle's, converted), 20 steps of global batch 8 in micro-batches
    of 4 (accumulation): every logged loss within 1e-5 relative of the Paddle backend's, the learning rate equal at
    every step, the valid and test losses too. The torch run's processes have no Paddle to import."""
    paddle_run, torch_run = tmp_path / "paddle", tmp_path / "torch"
    subprocess.run(_driver_command(artifacts, tmp_path, **EQUAL_TRAINING) + [str(paddle_run)], check=True,
                   capture_output=True)
    python = torch_python()
    command = _driver_command(artifacts, tmp_path, backend="torch", python=python,
                              continue_training=str(paddle_run / "model_0"), **EQUAL_TRAINING)
    done = subprocess.run(command + [str(torch_run)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    paddle_rows, torch_rows = _logged_rows(paddle_run), _logged_rows(torch_run)
    assert [r["step"] for r in torch_rows] == [r["step"] for r in paddle_rows] == list(range(1, 21))
    worst = 0.0
    for ours, theirs in zip(torch_rows, paddle_rows):
        assert ours["learning_rate"] == theirs["learning_rate"]
        for key in ("loss", "lm_loss", "sop_loss"):
            worst = max(worst, abs(ours[key] - theirs[key]) / abs(theirs[key]))
    assert worst < 1e-5 and paddle_rows[-1]["loss"] < paddle_rows[0]["loss"], worst
    for name in ("valid_log.jsonl",):
        for ours, theirs in zip(*(map(json.loads, (run / name).read_text().splitlines()) for run in (torch_run,
                                                                                                        paddle_run))):
            assert math.isclose(ours["loss"], theirs["loss"], rel_tol=1e-5)
    tests = [json.loads((run / "summary.json").read_text())["test"] for run in (torch_run, paddle_run)]
    assert math.isclose(tests[0]["loss"], tests[1]["loss"], rel_tol=1e-5)
    assert subprocess.run([python, "-c", "import paddle"], capture_output=True).returncode != 0


def test_a_torch_checkpoint_is_a_hugging_face_folder(artifacts, tmp_path):
    """model_<step>/ of a torch run: model.safetensors, config.json (ErnieForPreTraining, float32), the tokenizer files
    the export writes (their ids are paddlenlp ErnieTokenizer's), the optimizer's state and trainer_state.json
    (backend torch in its fingerprint); transformers' Auto classes load it with every weight used."""
    from paddlenlp.transformers import ErnieTokenizer

    out = tmp_path / "out"
    python = torch_python()
    subprocess.run(_driver_command(artifacts, tmp_path, backend="torch", python=python, max_steps=2, save_steps=2,
                                   eval_freq=100) + [str(out)], check=True, capture_output=True)
    folder = out / "model_2"
    assert {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
            "special_tokens_map.json", "optimizer.pt", "trainer_state.json"} <= {p.name for p in folder.iterdir()}
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["ErnieForPreTraining"] and config["layer_norm_eps"] == 1e-12
    state = json.loads((folder / "trainer_state.json").read_text())
    assert state["run"]["train"]["backend"] == "torch" and state["global_step"] == 2
    sentences = ["北京是中国的首都。", "ERNIE 1.0 在 2019 年发布，温度 25℃。", "今日は晴れです"]
    check = (
        "import json, sys\nfrom transformers import AutoModelForPreTraining, AutoTokenizer\n"
        "model, info = AutoModelForPreTraining.from_pretrained(sys.argv[1], output_loading_info=True)\n"
        "tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])\n"
        "print(json.dumps({'info': {k: list(v) for k, v in info.items() if k != 'error_msgs'}, "
        "'ids': [tokenizer(s)['input_ids'] for s in json.loads(sys.argv[2])]}))\n")
    done = subprocess.run([python, "-c", check, str(folder), json.dumps(sentences)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert not loaded["info"]["missing_keys"] and not loaded["info"]["unexpected_keys"], loaded["info"]
    reference = ErnieTokenizer(vocab_file=str(artifacts["vocab_dir"] / "vocab.txt"))
    assert loaded["ids"] == [reference(s)["input_ids"] for s in sentences]


def test_recompute_compile_and_bf16_on_cpu(artifacts, tmp_path):
    """train.recompute (activation checkpointing, the dropout state replayed) gives the same losses bit for bit with
    dropout on; torch.compile (inductor on CPU) the same losses to 1e-6, the same dropout masks drawn (so both are
    settings that change no checkpoint); bf16 autocast trains on CPU too, its losses within 2 % of float32's over 4
    steps."""
    python = torch_python()
    settings = dict(backend="torch", python=python, max_steps=4, save_steps=100, logging_freq=1, eval_freq=100)
    runs = {}
    for name, changes in (("plain", {}), ("recompute", {"recompute": True}), ("bf16", {"amp": "bf16"}),
                          ("compile", {"compile": True})):
        runs[name] = tmp_path / name
        done = subprocess.run(_driver_command(artifacts, tmp_path, **settings, **changes) + [str(runs[name])],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-4000:]
    plain = _logged_losses(runs["plain"])
    assert _logged_losses(runs["recompute"]) == plain
    compiled = _logged_losses(runs["compile"])
    assert all(math.isclose(compiled[s], plain[s], rel_tol=1e-6) for s in plain), (compiled, plain)
    bf16 = _logged_losses(runs["bf16"])
    assert all(math.isclose(bf16[s], plain[s], rel_tol=0.02) for s in plain), (bf16, plain)
    assert _weights(runs["recompute"] / "model_4").keys() == _weights(runs["plain"] / "model_4").keys()


def test_two_torch_processes_follow_the_one_process_trajectory(artifacts, tmp_path):
    """train.nproc_per_node: 2 on CPU: torchrun starts 2 gloo processes (DDP, no_sync before a step's last
    micro-batch), each taking micro-batch 4 of every global batch of 8: their losses equal one process's accumulating
    the same two micro-batches within 1e-5 relative; each process writes its log under launch_logs/node0/."""
    python = torch_python()
    settings = dict(backend="torch", python=python, max_steps=6, save_steps=100, logging_freq=1, eval_freq=3)
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run(_driver_command(artifacts, tmp_path, **settings) + [str(one)], check=True, capture_output=True)
    done = subprocess.run(_driver_command(artifacts, tmp_path, processes=2, **settings) + [str(two)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    single, parallel = _logged_losses(one), _logged_losses(two)
    assert sorted(parallel) == sorted(single) == list(range(1, 7))
    assert all(math.isclose(parallel[s], single[s], rel_tol=1e-5) for s in single), (parallel, single)
    assert sorted(p.name for p in (two / "launch_logs/node0").glob("workerlog.*")) == ["workerlog.0", "workerlog.1"]
    assert json.loads((two / "model_6/trainer_state.json").read_text())["data_parallel"] == 2


def test_the_torch_backend_in_the_workflow(artifacts, tmp_path):
    """train.backend: torch with train.python naming .venv-torch: model_0, the links and the summary run there, each
    checkpoint a Hugging Face folder. Neutral keys (torch.compile, logging, workers, recompute) plan no training;
    back to Paddle, a torch checkpoint is never continued: every link again. Export and fine-tuning take torch
    checkpoints too (fine-tuning through the same Paddle code, the weights mapped)."""
    import shutil

    import yaml

    from ernie_pipeline.evaluate.finetune import load_classifier
    from plans import planned_jobs

    workdir = tmp_path / "w"
    shutil.copytree(artifacts["workdir"], workdir, symlinks=True)
    shutil.rmtree(workdir / "results/pretrain")
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["train"].update(backend="torch", python=torch_python())
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    run_snakemake(workdir, "pretrain", "results/hf/model_6")
    out = workdir / "results/pretrain"
    assert sorted(p.name for p in out.glob("model_[0-9]*")) == ["model_0", "model_3", "model_6"]
    assert all((out / name / "model.safetensors").is_file() for name in ("model_0", "model_3", "model_6"))
    assert [r["step"] for r in _logged_rows(out)] == list(range(1, 7))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 6 and summary["test"]["loss"] > 0
    assert (workdir / "results/hf/model_6/model.safetensors").read_bytes() == (out / "model_6/model.safetensors").read_bytes()
    assert planned_jobs(workdir, "pretrain") == {}

    def plan(**changes):
        changed = {**config, "train": {**config["train"], **changes}}
        path = workdir / "changed.yaml"
        path.write_text(yaml.safe_dump(changed, allow_unicode=True))
        return planned_jobs(workdir, "pretrain", "--configfile", str(path))

    assert plan(compile=True, logging_freq=2, num_workers=2, recompute=True, eval_freq=2) == {}
    assert plan(backend="paddle", python=None) == {"init_model": 1, "train_checkpoint": 2, "pretrain": 1}
    model, tokenizer = load_classifier(out / "model_6", num_labels=3)
    encoder = {k: v.numpy() for k, v in model.state_dict().items() if k.startswith("ernie.embeddings.word")}
    from safetensors.numpy import load_file

    assert (encoder["ernie.embeddings.word_embeddings.weight"] ==
            load_file(str(out / "model_6/model.safetensors"))["ernie.embeddings.word_embeddings.weight"]).all()
    assert tokenizer("北京")["input_ids"][0] == tokenizer.cls_token_id
