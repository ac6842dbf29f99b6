"""The pretrain stage's artifacts (from the tiny workflow run) and a direct short run."""

import json
import math

import numpy as np


def test_checkpoints_load_with_paddlenlp_classes(artifacts):
    from paddlenlp.transformers import ErnieForPretraining, ErnieTokenizer

    out = artifacts["pretrain"]
    cfg = artifacts["config"]["train"]
    assert sorted(p.name for p in out.glob("model_*")) == ["model_3", "model_6", "model_last"]
    for folder in ("model_last", "model_6"):
        model = ErnieForPretraining.from_pretrained(str(out / folder))
        tokenizer = ErnieTokenizer.from_pretrained(str(out / folder))
        assert model.config.num_hidden_layers == cfg["model_overrides"]["num_hidden_layers"]
        assert model.config.vocab_size == len(tokenizer.vocab)
        assert not (out / folder / "added_tokens.json").exists()
        state = json.loads((out / folder / "trainer_state.json").read_text())
        assert state["global_step"] == 6 and state["consumed_samples"] == 6 * cfg["global_batch_size"]
        assert (out / folder / "model_state.pdopt").is_file()
    # model_last and model_6 hold the same weights
    import paddle

    a = paddle.load(str(out / "model_last" / "model_state.pdparams"))
    b = paddle.load(str(out / "model_6" / "model_state.pdparams"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def test_visualdl_log_and_summary(artifacts):
    from visualdl import LogReader

    out = artifacts["pretrain"]
    logs = list((out / "visualdl").glob("vdlrecords.*.log"))
    assert len(logs) == 1
    reader = LogReader(file_path=str(logs[0]))
    tags = set(reader.get_tags().get("scalar", []))
    assert {"train/loss", "train/lm_loss", "train/sop_loss", "train/learning_rate", "valid/loss", "test/loss"} <= tags
    losses = [r.value for r in reader.get_data("scalar", "train/loss")]
    assert len(losses) == 6 and all(math.isfinite(v) for v in losses)
    assert 5 < losses[0] < 15  # random init over a ~23k vocabulary: about ln(23000) + ln(2)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 6 and summary["test"]["loss"] > 0 and summary["tokens_per_second"] > 0
