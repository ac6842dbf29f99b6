"""An ERNIE checkpoint in Hugging Face transformers' format (``model_type: ernie``, ``ErnieForPreTraining``): the
format the torch backend trains in and ``export_hf`` writes, and the one-to-one map between its parameters and
paddlenlp's, in both directions, without Paddle or torch (numpy arrays).

What makes the two equal (checked against Paddle in ``tests/tools/compare_hf.py``):

* every parameter has one counterpart (:func:`hf_state_dict`, :func:`paddle_state_from_hf`): Paddle's ``nn.Linear``
  weights are ``[in, out]`` and transformers' ``[out, in]`` (transposed); embeddings, LayerNorms and the MLM decoder
  (tied to the word embeddings in both) are not. The sentence-order head is the next-sentence head: label 1 =
  swapped (transformers: "not the next sentence").
* LayerNorm epsilon 1e-12: paddlenlp's ``ErnieModel`` uses it whatever its config says (1e-5 would put hidden
  states off by about 3e-3).
* the tokenizer (``tokenizer.json``, HF ``tokenizers``): paddlenlp's ``BasicTokenizer`` isolates Unicode
  symbols (category S* and a few more) as well as punctuation, which a BERT tokenizer built from vocab.txt
  does not; the pre-tokenizer here adds that rule, so the ids are paddlenlp's ``ErnieTokenizer``'s.
  ``tokenizer_class: PreTrainedTokenizerFast`` (with ``model_input_names``) keeps that pre-tokenizer and
  returns ``token_type_ids``.

A state dict that cannot be mapped exactly (an unknown, missing or extra parameter, one whose shape is not the one
the config gives, a decoder not tied to the word embeddings, an activation transformers' Ernie does not have) is
refused, naming what is wrong.
"""

from __future__ import annotations

import json
import re
import shutil
import unicodedata
from pathlib import Path

import numpy as np

HF_WEIGHTS_FILE = "model.safetensors"
LAYER_NORM_EPS = 1e-12  # paddlenlp's Ernie, whatever its config says
SPECIAL_TOKENS = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                  "mask_token": "[MASK]"}
HF_ACTIVATIONS = ("gelu", "relu", "tanh", "gelu_new", "silu")  # transformers' ACT2FN names Paddle shares
MAX_CHARS_PER_WORD = 100  # paddlenlp's WordpieceTokenizer

# Paddle name -> (transformers name, transposed), per encoder layer and for the rest
_LAYER = {
    "self_attn.q_proj": ("attention.self.query", True), "self_attn.k_proj": ("attention.self.key", True),
    "self_attn.v_proj": ("attention.self.value", True), "self_attn.out_proj": ("attention.output.dense", True),
    "norm1": ("attention.output.LayerNorm", False), "linear1": ("intermediate.dense", True),
    "linear2": ("output.dense", True), "norm2": ("output.LayerNorm", False),
}
_OTHERS = {
    "ernie.embeddings.word_embeddings": ("ernie.embeddings.word_embeddings", False),
    "ernie.embeddings.position_embeddings": ("ernie.embeddings.position_embeddings", False),
    "ernie.embeddings.token_type_embeddings": ("ernie.embeddings.token_type_embeddings", False),
    "ernie.embeddings.task_type_embeddings": ("ernie.embeddings.task_type_embeddings", False),
    "ernie.embeddings.layer_norm": ("ernie.embeddings.LayerNorm", False),
    "ernie.pooler.dense": ("ernie.pooler.dense", True),
    "cls.predictions.transform": ("cls.predictions.transform.dense", True),
    "cls.predictions.layer_norm": ("cls.predictions.transform.LayerNorm", False),
    "cls.seq_relationship": ("cls.seq_relationship", True),
}
_LAYER_NAME = re.compile(r"^ernie\.encoder\.layers\.(\d+)\.(.+)\.(weight|bias)$")
# the MLM decoder: its weight is the word embeddings (checked), its bias the one vector both names hold
_DECODER = ("cls.predictions.decoder.weight", "cls.predictions.decoder.bias", "cls.predictions.decoder_bias")


class HFFormatError(ValueError):
    """A state dict or config that cannot be mapped exactly between paddlenlp's and transformers' ERNIE."""


def _target(name: str) -> tuple[str, bool]:
    """The transformers name of Paddle parameter ``name`` and whether it is transposed."""
    found = _LAYER_NAME.match(name)
    if found:
        layer, module, kind = found.groups()
        if module in _LAYER:
            target, transposed = _LAYER[module]
            return f"ernie.encoder.layer.{layer}.{target}.{kind}", transposed and kind == "weight"
    module, _, kind = name.rpartition(".")
    if module in _OTHERS and kind in ("weight", "bias"):
        target, transposed = _OTHERS[module]
        return f"{target}.{kind}", transposed and kind == "weight"
    raise HFFormatError(f"no transformers counterpart for parameter {name!r}")


def hf_state_dict(paddle_state: dict[str, np.ndarray], config: dict) -> dict[str, np.ndarray]:
    """transformers' ErnieForPreTraining state dict (float32, C-contiguous) from Paddle's, each parameter
    mapped once and of the shape ``config`` gives; the decoder must be tied to the word embeddings."""
    state, source = {}, {}
    decoder = {k: paddle_state[k] for k in _DECODER if k in paddle_state}
    embeddings = paddle_state.get("ernie.embeddings.word_embeddings.weight")
    if embeddings is None or "cls.predictions.decoder.weight" not in decoder:
        raise HFFormatError("the checkpoint has no word embeddings or no MLM decoder (not an ErnieForPretraining)")
    if not np.array_equal(decoder["cls.predictions.decoder.weight"], embeddings):
        raise HFFormatError("the MLM decoder is not tied to the word embeddings: transformers' Ernie ties them")
    biases = [decoder[k] for k in _DECODER[1:] if k in decoder]
    if not biases or any(not np.array_equal(b, biases[0]) for b in biases):
        raise HFFormatError("the MLM decoder's bias is missing or held twice with different values")
    for name, value in paddle_state.items():
        if name in _DECODER:
            continue
        target, transposed = _target(name)
        if target in state:
            raise HFFormatError(f"two parameters map to {target!r}")
        state[target], source[target] = np.ascontiguousarray((value.T if transposed else value).astype(np.float32)), name
    state["cls.predictions.decoder.weight"] = state["ernie.embeddings.word_embeddings.weight"]
    state["cls.predictions.bias"] = np.ascontiguousarray(biases[0].astype(np.float32))
    source["cls.predictions.bias"] = next(k for k in _DECODER[1:] if k in decoder)
    shapes = expected_shapes(config)
    missing = sorted(set(shapes) - set(state))
    if missing:
        raise HFFormatError(f"the checkpoint lacks {missing[:5]}")
    extra = sorted(source[k] for k in set(state) - set(shapes))
    if extra:
        raise HFFormatError(f"the checkpoint holds parameters config.json does not give: {extra[:5]}")
    wrong = [f"{source.get(k, k)} {list(paddle_state[source[k]].shape) if k in source else list(v.shape)} "
             f"(config.json gives {list(shapes[k][::-1] if _target(source[k])[1] else shapes[k]) if k in source else list(shapes[k])})"
             for k, v in state.items() if v.shape != shapes[k]]
    if wrong:
        raise HFFormatError(f"parameters of another shape than config.json gives (Paddle's layout): {', '.join(wrong[:5])}")
    return state


def paddle_state_from_hf(hf_state: dict[str, np.ndarray], paddle_config: dict) -> dict[str, np.ndarray]:
    """paddlenlp's ErnieForPretraining state dict (float32) from transformers' (as a Hugging Face folder stores it:
    the decoder weight once, as the word embeddings), each parameter checked against ``paddle_config``'s shapes; the
    inverse of :func:`hf_state_dict`."""
    shapes = expected_shapes(paddle_config)
    hf_state = {k: v for k, v in hf_state.items() if k not in ("cls.predictions.decoder.weight",
                                                               "cls.predictions.decoder.bias")}
    missing = sorted(k for k in shapes if k not in hf_state and k != "cls.predictions.decoder.weight")
    extra = sorted(k for k in hf_state if k not in shapes)
    if missing or extra:
        raise HFFormatError(f"the weights do not fit the config (missing: {missing[:5]}, unknown: {extra[:5]})")
    wrong = [f"{k} {list(v.shape)} (the config gives {list(shapes[k])})" for k, v in hf_state.items()
             if tuple(v.shape) != tuple(shapes[k])]
    if wrong:
        raise HFFormatError(f"parameters of another shape than the config gives: {', '.join(wrong[:5])}")
    state = {}
    for name in paddle_names(paddle_config):
        target, transposed = _target(name)
        value = hf_state[target]
        state[name] = np.ascontiguousarray((value.T if transposed else value).astype(np.float32))
    bias = np.ascontiguousarray(hf_state["cls.predictions.bias"].astype(np.float32))
    embeddings = state["ernie.embeddings.word_embeddings.weight"]
    return {**state, "cls.predictions.decoder.weight": embeddings, "cls.predictions.decoder.bias": bias,
            "cls.predictions.decoder_bias": bias}


def paddle_names(paddle_config: dict) -> list[str]:
    """paddlenlp's ErnieForPretraining parameters for ``paddle_config`` that have a counterpart of their own in
    transformers' (all but the MLM decoder's, tied to the word embeddings and its bias)."""
    names = [f"ernie.embeddings.{e}.weight" for e in ("word_embeddings", "position_embeddings", "token_type_embeddings")]
    if paddle_config.get("use_task_id"):
        names.append("ernie.embeddings.task_type_embeddings.weight")
    names += ["ernie.embeddings.layer_norm.weight", "ernie.embeddings.layer_norm.bias"]
    for layer in range(paddle_config["num_hidden_layers"]):
        names += [f"ernie.encoder.layers.{layer}.{module}.{kind}" for module in _LAYER for kind in ("weight", "bias")]
    return names + [f"{module}.{kind}" for module in ("ernie.pooler.dense", "cls.predictions.transform",
                                                       "cls.predictions.layer_norm", "cls.seq_relationship")
                    for kind in ("weight", "bias")]


def hf_to_paddle_names(paddle_config: dict) -> dict[str, str]:
    """transformers' parameter name -> paddlenlp's, for every parameter (the MLM bias: paddlenlp's decoder_bias)."""
    return {**{_target(name)[0]: name for name in paddle_names(paddle_config)},
            "cls.predictions.bias": "cls.predictions.decoder_bias"}


def expected_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Every parameter of transformers' ErnieForPreTraining for ``config`` (the decoder bias once), with its shape
    (transformers' layout: Linear weights [out, in])."""
    hidden, inner, vocab = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    shapes = {"ernie.embeddings.word_embeddings.weight": (vocab, hidden),
              "ernie.embeddings.position_embeddings.weight": (config["max_position_embeddings"], hidden),
              "ernie.embeddings.token_type_embeddings.weight": (config["type_vocab_size"], hidden)}
    if config.get("use_task_id"):
        shapes["ernie.embeddings.task_type_embeddings.weight"] = (config.get("task_type_vocab_size", 3), hidden)
    shapes |= {"ernie.embeddings.LayerNorm.weight": (hidden,), "ernie.embeddings.LayerNorm.bias": (hidden,)}
    layer = {"attention.self.query": (hidden, hidden), "attention.self.key": (hidden, hidden),
             "attention.self.value": (hidden, hidden), "attention.output.dense": (hidden, hidden),
             "attention.output.LayerNorm": (hidden,), "intermediate.dense": (inner, hidden),
             "output.dense": (hidden, inner), "output.LayerNorm": (hidden,)}
    assert set(layer) == {target for target, _ in _LAYER.values()}
    for k in range(config["num_hidden_layers"]):
        for module, weight in layer.items():
            shapes[f"ernie.encoder.layer.{k}.{module}.weight"] = weight
            shapes[f"ernie.encoder.layer.{k}.{module}.bias"] = weight[:1]
    for module, weight in (("ernie.pooler.dense", (hidden, hidden)), ("cls.predictions.transform.dense", (hidden, hidden)),
                           ("cls.predictions.transform.LayerNorm", (hidden,)), ("cls.seq_relationship", (2, hidden))):
        shapes[f"{module}.weight"], shapes[f"{module}.bias"] = weight, weight[:1]
    return shapes | {"cls.predictions.decoder.weight": (vocab, hidden), "cls.predictions.bias": (vocab,)}


def expected_names(config: dict) -> list[str]:
    """Every parameter of transformers' ErnieForPreTraining for ``config`` (the decoder bias once)."""
    return list(expected_shapes(config))


def hf_config(paddle_config: dict) -> dict:
    """transformers' ErnieConfig (config.json) for a paddlenlp ErnieConfig."""
    if paddle_config.get("hidden_act") not in HF_ACTIVATIONS:
        raise HFFormatError(f"hidden_act {paddle_config.get('hidden_act')!r}: transformers' Ernie has no such activation")
    if paddle_config.get("pool_act", "tanh") != "tanh":
        raise HFFormatError(f"pool_act {paddle_config['pool_act']!r}: transformers' Ernie pools with tanh")
    keys = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
            "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
            "type_vocab_size", "initializer_range", "pad_token_id", "task_type_vocab_size", "use_task_id")
    return {"architectures": ["ErnieForPreTraining"], "model_type": "ernie",
            **{k: paddle_config[k] for k in keys if k in paddle_config},
            "layer_norm_eps": LAYER_NORM_EPS, "position_embedding_type": "absolute", "torch_dtype": "float32",
            "tokenizer_class": "PreTrainedTokenizerFast"}


def paddle_config_from_hf(config: dict) -> dict:
    """paddlenlp's ErnieConfig fields from transformers' config.json (as :func:`hf_config` writes it)."""
    keys = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
            "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
            "type_vocab_size", "initializer_range", "pad_token_id", "task_type_vocab_size", "use_task_id")
    return {k: config[k] for k in keys if k in config}


def read_hf_weights(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a ``model.safetensors`` as numpy arrays (safetensors runs no code); an error naming the file
    where it does not read (truncated, not safetensors)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from ernie_pipeline.train.checkpoint import CheckpointError

    if not Path(path).is_file():
        raise CheckpointError(f"{path} not found")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} does not read as safetensors ({err}): truncated or not a weights file") from None


def is_symbol(char: str) -> bool:
    """paddlenlp's ``_is_symbol`` (category S*, and 8 more), restated without paddlenlp (tested equal on every code
    point)."""
    return unicodedata.category(char).startswith("S") or ord(char) in _EXTRA_SYMBOLS


def is_punctuation(char: str) -> bool:
    """paddlenlp's (BERT's) ``_is_punctuation``: every non-letter, non-digit ASCII character and category P*."""
    cp = ord(char)
    return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126 or unicodedata.category(
        char).startswith("P")


_EXTRA_SYMBOLS = frozenset((0x00AD, 0x00B2, 0x00BA, 0x3007, 0x00B5, 0x00D8, 0x014B, 0x01B1))


def symbol_pattern() -> str:
    """A regex class of the characters paddlenlp's BasicTokenizer isolates that BERT's pre-tokenizer does not:
    its symbols (``_is_symbol``: category S*, and 8 more) that are not punctuation."""
    ranges, start, previous = [], None, None
    for cp in range(0x110000):
        char = chr(cp)
        if unicodedata.category(char) != "Cs" and is_symbol(char) and not is_punctuation(char):
            if start is None or cp != previous + 1:
                if start is not None:
                    ranges.append((start, previous))
                start = cp
            previous = cp
    ranges.append((start, previous))
    return "[" + "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
                         for a, b in ranges) + "]"


def build_tokenizer(vocab_file: Path, do_lower_case: bool = True):
    """A ``tokenizers.Tokenizer`` giving paddlenlp ErnieTokenizer's ids for ``vocab_file``."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = {}
    for line in vocab_file.read_text(encoding="utf-8").splitlines():
        vocab.setdefault(line.rstrip("\n"), len(vocab))
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=MAX_CHARS_PER_WORD))
    tokenizer.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                                      lowercase=do_lower_case)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.BertPreTokenizer(),
        pre_tokenizers.Split(Regex(symbol_pattern()), behavior="isolated"),
    ])
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False)
                                  for token in SPECIAL_TOKENS.values()])
    return tokenizer


def write_tokenizer_files(folder: Path, vocab_file: Path, do_lower_case: bool, max_length: int) -> None:
    """The tokenizer files of a Hugging Face folder: ``tokenizer.json`` (paddlenlp ErnieTokenizer's ids),
    ``tokenizer_config.json``, ``special_tokens_map.json`` and ``vocab.txt``."""
    build_tokenizer(vocab_file, do_lower_case).save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "do_lower_case": do_lower_case, "model_max_length": max_length,
        "model_input_names": ["input_ids", "token_type_ids", "attention_mask"], **SPECIAL_TOKENS}, indent=2) + "\n")
    (folder / "special_tokens_map.json").write_text(json.dumps(SPECIAL_TOKENS, indent=2) + "\n")
    if Path(vocab_file).resolve() != (folder / "vocab.txt").resolve():
        shutil.copyfile(vocab_file, folder / "vocab.txt")
