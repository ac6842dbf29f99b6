"""The Hugging Face export (ernie_pipeline.export.hf): weights that do not read (unit tier), the tokenizer against
paddlenlp's ErnieTokenizer on real text, and transformers loading an exported checkpoint of the tiny run with outputs
equal to Paddle's (in .venv-torch, which has torch)."""

import json
import subprocess

import numpy as np
import pytest

from conftest import REPO, require, run_snakemake

CONFIG = {"vocab_size": 20, "hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 16,
          "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
          "max_position_embeddings": 12, "type_vocab_size": 4, "initializer_range": 0.02, "pad_token_id": 0,
          "task_type_vocab_size": 3, "use_task_id": False, "layer_norm_eps": 1e-5, "pool_act": "tanh"}


def _paddle_state(config=CONFIG) -> dict[str, np.ndarray]:
    """The parameter names and shapes of paddlenlp's ErnieForPretraining (a Linear weight [in, out]), each
    filled with distinct numbers; the decoder tied to the word embeddings as paddlenlp ties it."""
    h, v, i = config["hidden_size"], config["vocab_size"], config["intermediate_size"]
    shapes = {"ernie.embeddings.word_embeddings.weight": (v, h),
              "ernie.embeddings.position_embeddings.weight": (config["max_position_embeddings"], h),
              "ernie.embeddings.token_type_embeddings.weight": (config["type_vocab_size"], h),
              "ernie.embeddings.layer_norm.weight": (h,), "ernie.embeddings.layer_norm.bias": (h,)}
    if config["use_task_id"]:
        shapes["ernie.embeddings.task_type_embeddings.weight"] = (config["task_type_vocab_size"], h)
    for layer in range(config["num_hidden_layers"]):
        for name, shape in (("self_attn.q_proj", (h, h)), ("self_attn.k_proj", (h, h)), ("self_attn.v_proj", (h, h)),
                            ("self_attn.out_proj", (h, h)), ("linear1", (h, i)), ("linear2", (i, h)),
                            ("norm1", None), ("norm2", None)):
            out = shape[1] if shape else h
            shapes[f"ernie.encoder.layers.{layer}.{name}.weight"] = shape or (h,)
            shapes[f"ernie.encoder.layers.{layer}.{name}.bias"] = (out,)
    shapes.update({"ernie.pooler.dense.weight": (h, h), "ernie.pooler.dense.bias": (h,),
                   "cls.predictions.transform.weight": (h, h), "cls.predictions.transform.bias": (h,),
                   "cls.predictions.layer_norm.weight": (h,), "cls.predictions.layer_norm.bias": (h,),
                   "cls.predictions.decoder_bias": (v,), "cls.seq_relationship.weight": (h, 2),
                   "cls.seq_relationship.bias": (2,)})
    rng = np.random.default_rng(0)
    state = {name: rng.normal(size=shape).astype(np.float32) for name, shape in shapes.items()}
    state["cls.predictions.decoder.weight"] = state["ernie.embeddings.word_embeddings.weight"]
    state["cls.predictions.decoder.bias"] = state["cls.predictions.decoder_bias"]
    return state


def test_weights_that_do_not_read_or_differ_from_their_record_are_refused_naming_the_file(tmp_path):
    import json
    import pickle

    from ernie_pipeline.export.hf import export
    from ernie_pipeline.train.checkpoint import STATE_FILE, CheckpointError, file_digest

    folder = tmp_path / "model_3"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(CONFIG))
    data = pickle.dumps(_paddle_state(), protocol=4)
    for cut in (0, len(data) // 3):
        (folder / "model_state.pdparams").write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=rf"{folder}/model_state.pdparams does not read as a state dict"):
            export(folder, tmp_path / "hf")
    (folder / "model_state.pdparams").write_bytes(data)
    (folder / STATE_FILE).write_text(json.dumps({"global_step": 3, "files": {"model_state.pdparams": {
        "bytes": len(data), "sha256": file_digest(folder / "model_state.pdparams")}}}))
    (folder / "model_state.pdparams").write_bytes(data[:-1] + b"x")
    with pytest.raises(CheckpointError, match=r"model_3/model_state.pdparams is not the file its checkpoint recorded"):
        export(folder, tmp_path / "hf")
    assert not (tmp_path / "hf").exists()


def test_the_tokenizer_gives_ernie_tokenizers_ids_on_real_text(artifacts, inews_docs):
    """tokenizer.json against paddlenlp's ErnieTokenizer on the tiny run's vocabulary: real news text (with
    its symbols: ℃ ￥ ± © ① ...), Japanese, Korean, special tokens inside text, accents, pairs."""
    from paddlenlp.transformers import ErnieTokenizer

    from ernie_pipeline.train.hf_format import build_tokenizer

    vocab_dir = artifacts["vocab_dir"]
    reference = ErnieTokenizer.from_pretrained(str(vocab_dir))
    ours = build_tokenizer(vocab_dir / "vocab.txt")
    lines = [line for doc in inews_docs[-1500:] for line in doc["content"].splitlines() if line.strip()]
    crafted = ["温度25℃，价格￥100，±3% ©2024 ™ ①② ㎡ ♥", "カタカナとひらがなの文", "한국어 문장입니다", "[SEP]前后[CLS]x[MASK]y",
               "Émile's café — naïve résumé", "emoji 😀 ok", "a\u00adb x²+y² µm Ø", "ﬁ ligature ＦＵＬＬ"]
    assert any("℃" in line or "￥" in line for line in lines)  # symbols occur in the real text too
    differing = [text for text in lines + crafted if ours.encode(text).ids != reference(text)["input_ids"]]
    assert len(lines) > 1000 and differing == []
    pair = ours.encode(crafted[0], crafted[1])
    expected = reference(crafted[0], text_pair=crafted[1])
    assert pair.ids == expected["input_ids"] and pair.type_ids == expected["token_type_ids"]


@pytest.mark.torch
def test_transformers_loads_the_export_with_paddles_outputs(artifacts, inews_docs, tmp_path):
    """`snakemake results/hf/model_6` on the tiny run; in .venv-torch, transformers' Auto classes load it
    without missing or unexpected keys, and on 50 real sentences (a padded batch, with the attention mask)
    give Paddle's hidden states, MLM and SOP logits to 1e-4 with the same MLM argmax everywhere."""
    import shutil

    import paddle
    from paddlenlp.transformers import ErnieForPretraining, ErnieTokenizer

    python = REPO / ".venv-torch" / "bin" / "python"
    require(python.is_file(), "needs .venv-torch: `make torch-env` (`make test` builds it)")
    workdir = tmp_path / "w"
    shutil.copytree(artifacts["workdir"], workdir, symlinks=True)
    run_snakemake(workdir, "results/hf/model_6")
    folder = workdir / "results/hf/model_6"
    # (Snakemake marks a directory output with a hidden .snakemake_timestamp)
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == ["README.md", "config.json", "model.safetensors",
                                                         "special_tokens_map.json", "tokenizer.json",
                                                         "tokenizer_config.json", "vocab.txt"]
    assert (folder / "model.safetensors").stat().st_mode & 0o777 == 0o644
    assert "pass `attention_mask`" in (folder / "README.md").read_text().lower()

    checkpoint = artifacts["pretrain"] / "model_6"
    tokenizer, model = ErnieTokenizer.from_pretrained(str(checkpoint)), ErnieForPretraining.from_pretrained(str(checkpoint))
    model.eval()
    sentences = [s for doc in inews_docs[2000:2100] for s in doc["content"].split("。") if 5 < len(s) < 60][:50]
    batch = tokenizer(sentences[:25], text_pair=sentences[25:50], padding=True, return_attention_mask=True)
    inputs = {k: np.array(batch[k], dtype=np.int64) for k in ("input_ids", "token_type_ids", "attention_mask")}
    with paddle.no_grad():
        hidden, pooled = model.ernie(*(paddle.to_tensor(inputs[k]) for k in ("input_ids", "token_type_ids")),
                                     attention_mask=paddle.to_tensor(inputs["attention_mask"]))
        mlm, sop = model.cls(hidden, pooled)
    np.savez(tmp_path / "inputs.npz", **inputs)
    (tmp_path / "texts.json").write_text(json.dumps(sentences, ensure_ascii=False), encoding="utf-8")
    done = subprocess.run([str(python), str(REPO / "tests/tools/compare_hf.py"), str(folder), str(tmp_path / "inputs.npz"),
                           str(tmp_path / "texts.json"), str(tmp_path / "out.npz")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    out = np.load(tmp_path / "out.npz")
    report = json.loads(str(out["report"]))
    assert report["pretraining"] == {"missing_keys": [], "unexpected_keys": []}
    assert report["pretraining_class"] == "ErnieForPreTraining" and report["masked_lm"]["missing_keys"] == []
    assert report["sequence_classification"]["missing_keys"] == ["classifier.bias", "classifier.weight"]
    assert report["model_input_names"] == ["input_ids", "token_type_ids", "attention_mask"]
    real = inputs["attention_mask"].astype(bool)  # padding positions are not compared
    for name, ours, theirs in (("hidden", hidden, out["hidden"]), ("mlm", mlm, out["mlm"]),
                               ("masked_lm", mlm, out["masked_lm"])):
        assert np.abs(ours.numpy() - theirs)[real].max() <= 1e-4, name
    assert (mlm.numpy().argmax(-1) == out["mlm"].argmax(-1))[real].all()
    assert np.abs(sop.numpy() - out["sop"]).max() <= 1e-4 and (sop.numpy().argmax(-1) == out["sop"].argmax(-1)).all()
    for k, sentence in enumerate(sentences):
        assert list(out[f"ids_{k}"]) == tokenizer(sentence)["input_ids"]
    assert report["pair_token_type_ids"] == tokenizer(sentences[0], text_pair=sentences[1])["token_type_ids"]
