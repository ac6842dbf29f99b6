"""The Hugging Face format of an ERNIE checkpoint (ernie_pipeline.train.hf_format): the parameter map in both
directions and its refusals on synthetic weights, paddlenlp's tokenizer rules restated without paddlenlp."""

import numpy as np
import pytest

from ernie_pipeline.train.hf_format import (LAYER_NORM_EPS, HFFormatError, expected_names, hf_config, hf_state_dict,
                                            hf_to_paddle_names, paddle_config_from_hf, paddle_state_from_hf)

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


@pytest.mark.parametrize("use_task_id", [False, True])
def test_every_parameter_maps_once_transposed_where_paddle_keeps_in_out(use_task_id):
    config = {**CONFIG, "use_task_id": use_task_id}
    paddle = _paddle_state(config)
    hf = hf_state_dict(paddle, config)
    assert sorted(hf) == sorted(expected_names(config)) and len(hf) == len(paddle) - 1  # one decoder bias
    # every value lands once: the exported arrays are the Paddle arrays, some transposed
    exported = sorted(tuple(np.sort(v, axis=None)) for k, v in hf.items() if k != "cls.predictions.decoder.weight")
    source = sorted(tuple(np.sort(v, axis=None)) for k, v in paddle.items()
                    if k not in ("cls.predictions.decoder.weight", "cls.predictions.decoder.bias"))
    assert exported == source
    np.testing.assert_array_equal(hf["ernie.encoder.layer.1.attention.self.query.weight"],
                                  paddle["ernie.encoder.layers.1.self_attn.q_proj.weight"].T)
    np.testing.assert_array_equal(hf["ernie.encoder.layer.0.intermediate.dense.weight"],
                                  paddle["ernie.encoder.layers.0.linear1.weight"].T)  # [16, 8]: [out, in]
    assert hf["ernie.encoder.layer.0.output.dense.weight"].shape == (8, 16)
    np.testing.assert_array_equal(hf["cls.seq_relationship.weight"], paddle["cls.seq_relationship.weight"].T)
    np.testing.assert_array_equal(hf["ernie.embeddings.word_embeddings.weight"],
                                  paddle["ernie.embeddings.word_embeddings.weight"])  # embeddings as they are
    np.testing.assert_array_equal(hf["cls.predictions.bias"], paddle["cls.predictions.decoder_bias"])
    assert hf["cls.predictions.decoder.weight"] is hf["ernie.embeddings.word_embeddings.weight"]  # tied
    assert all(v.flags.c_contiguous and v.dtype == np.float32 for v in hf.values())


def test_the_config_says_ernie_with_paddlenlps_layer_norm_epsilon():
    config = hf_config(CONFIG)
    assert config["model_type"] == "ernie" and config["architectures"] == ["ErnieForPreTraining"]
    assert config["layer_norm_eps"] == LAYER_NORM_EPS == 1e-12  # paddlenlp uses it whatever its config says
    assert {k: config[k] for k in ("hidden_size", "num_hidden_layers", "vocab_size", "use_task_id")} == {
        "hidden_size": 8, "num_hidden_layers": 2, "vocab_size": 20, "use_task_id": False}


@pytest.mark.parametrize("change, message", [
    (lambda s: s.update({"ernie.encoder.layers.0.extra.weight": np.zeros(3, np.float32)}),
     "no transformers counterpart for parameter 'ernie.encoder.layers.0.extra.weight'"),
    (lambda s: s.pop("ernie.encoder.layers.1.norm2.bias"), r"lacks \['ernie.encoder.layer.1.output.LayerNorm.bias'\]"),
    (lambda s: s.update({"cls.predictions.decoder.weight": s["cls.predictions.decoder.weight"] + 1}),
     "the MLM decoder is not tied to the word embeddings"),
    (lambda s: s.update({"cls.predictions.decoder.bias": s["cls.predictions.decoder_bias"] + 1}),
     "held twice with different values"),
    (lambda s: s.pop("cls.predictions.decoder.weight"), "no MLM decoder"),
    (lambda s: s.update({"ernie.encoder.layers.0.linear1.weight": s["ernie.encoder.layers.0.linear1.weight"].T}),
     r"another shape than config.json gives \(Paddle's layout\): ernie.encoder.layers.0.linear1.weight \[16, 8\] "
     r"\(config.json gives \[8, 16\]\)"),
    (lambda s: s.update({"ernie.pooler.dense.bias": np.zeros(7, np.float32)}),
     r"ernie.pooler.dense.bias \[7\] \(config.json gives \[8\]\)"),
    (lambda s: s.update({"ernie.embeddings.position_embeddings.weight": np.zeros((13, 8), np.float32)}),
     r"position_embeddings.weight \[13, 8\] \(config.json gives \[12, 8\]\)"),
    (lambda s: s.update({"ernie.encoder.layers.5.norm1.weight": np.zeros(8, np.float32)}),
     r"holds parameters config.json does not give: \['ernie.encoder.layers.5.norm1.weight'\]"),
])
def test_a_checkpoint_it_cannot_map_exactly_is_refused(change, message):
    state = _paddle_state()
    change(state)
    with pytest.raises(HFFormatError, match=message):
        hf_state_dict(state, CONFIG)


def test_an_activation_transformers_lacks_is_refused():
    with pytest.raises(HFFormatError, match="hidden_act 'gelu_fast'"):
        hf_config({**CONFIG, "hidden_act": "gelu_fast"})


def test_the_map_goes_both_ways():
    """transformers' state dict (as a Hugging Face folder stores it: the decoder weight once) back to paddlenlp's
    gives every parameter as it was, the decoder tied again; the config too; each HF name has its paddlenlp name."""
    paddle = _paddle_state()
    hf = hf_state_dict(paddle, CONFIG)
    stored = {k: v for k, v in hf.items() if k != "cls.predictions.decoder.weight"}
    back = paddle_state_from_hf(stored, paddle_config_from_hf(hf_config(CONFIG)))
    assert back.keys() == paddle.keys() and all(np.array_equal(back[k], paddle[k]) for k in paddle)
    assert back["cls.predictions.decoder.weight"] is back["ernie.embeddings.word_embeddings.weight"]
    assert paddle_config_from_hf(hf_config(CONFIG)) == {k: v for k, v in CONFIG.items()
                                                         if k not in ("layer_norm_eps", "pool_act")}
    names = hf_to_paddle_names(CONFIG)
    assert set(names) == set(expected_names(CONFIG)) - {"cls.predictions.decoder.weight"}
    assert names["ernie.encoder.layer.1.attention.output.LayerNorm.weight"] == "ernie.encoder.layers.1.norm1.weight"
    assert names["cls.predictions.bias"] == "cls.predictions.decoder_bias"
    with pytest.raises(HFFormatError, match=r"another shape .*ernie.pooler.dense.bias \[7\] \(the config gives \[8\]\)"):
        paddle_state_from_hf({**stored, "ernie.pooler.dense.bias": np.zeros(7, np.float32)}, CONFIG)
    with pytest.raises(HFFormatError, match=r"missing: \['ernie.pooler.dense.bias'\]"):
        paddle_state_from_hf({k: v for k, v in stored.items() if k != "ernie.pooler.dense.bias"}, CONFIG)


def test_paddlenlps_symbol_and_punctuation_rules_on_every_code_point():
    """The tokenizer.json's pre-tokenizer isolates what paddlenlp's BasicTokenizer isolates: its rules, restated so
    that the torch backend writes the same file without paddlenlp, agree with paddlenlp's on every code point."""
    import ernie_pipeline  # noqa: F401  (system zlib before paddle)
    from paddlenlp.transformers.tokenizer_utils import _is_punctuation, _is_symbol

    from ernie_pipeline.train.hf_format import is_punctuation, is_symbol

    for cp in range(0x110000):
        char = chr(cp)
        assert is_symbol(char) == _is_symbol(char) and is_punctuation(char) == _is_punctuation(char), hex(cp)
