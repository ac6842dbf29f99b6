"""Export a checkpoint of the chain to a Hugging Face transformers folder (``model_type: ernie``), numerically
equal to the Paddle model, without Paddle or torch: the weights are read through the project's restricted
unpickler and written as safetensors.

What makes the export exact (checked against Paddle in ``tests/tools/compare_hf.py``):

* every parameter has one counterpart in transformers' ``ErnieForPreTraining`` (:func:`hf_state_dict`):
  Paddle's ``nn.Linear`` weights are ``[in, out]`` and transformers' ``[out, in]`` (transposed); embeddings,
  LayerNorms and the MLM decoder (tied to the word embeddings in both) are not. The sentence-order head becomes
  the next-sentence head: label 1 = swapped (transformers: "not the next sentence").
* LayerNorm epsilon 1e-12: paddlenlp's ``ErnieModel`` uses it whatever its config says (1e-5 would put hidden
  states off by about 3e-3).
* the tokenizer (``tokenizer.json``, HF ``tokenizers``): paddlenlp's ``BasicTokenizer`` isolates Unicode
  symbols (category S* and a few more) as well as punctuation, which a BERT tokenizer built from vocab.txt
  does not; the pre-tokenizer here adds that rule, so the ids are paddlenlp's ``ErnieTokenizer``'s.
  ``tokenizer_class: PreTrainedTokenizerFast`` (with ``model_input_names``) keeps that pre-tokenizer and
  returns ``token_type_ids``.

A checkpoint it cannot map exactly (an unknown, missing or extra parameter, one whose shape is not the one
``config.json`` gives, a decoder not tied to the word embeddings, an activation transformers' Ernie does not have,
weights that do not read or files that differ from the checksums the chain recorded) is refused, naming what is
wrong.
"""

from __future__ import annotations

import json
import re
import shutil
import unicodedata
from pathlib import Path

import numpy as np

from ernie_pipeline.io.atomic import atomic_path
from ernie_pipeline.train.checkpoint import STATE_FILE, WEIGHTS_FILE, read_state_dict, verify_checkpoint

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


class ExportError(ValueError):
    """A checkpoint that cannot be exported exactly."""


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
    raise ExportError(f"no transformers counterpart for parameter {name!r}")


def hf_state_dict(paddle_state: dict[str, np.ndarray], config: dict) -> dict[str, np.ndarray]:
    """transformers' ErnieForPreTraining state dict (float32, C-contiguous) from Paddle's, each parameter
    mapped once and of the shape ``config`` gives; the decoder must be tied to the word embeddings."""
    state, source = {}, {}
    decoder = {k: paddle_state[k] for k in _DECODER if k in paddle_state}
    embeddings = paddle_state.get("ernie.embeddings.word_embeddings.weight")
    if embeddings is None or "cls.predictions.decoder.weight" not in decoder:
        raise ExportError("the checkpoint has no word embeddings or no MLM decoder (not an ErnieForPretraining)")
    if not np.array_equal(decoder["cls.predictions.decoder.weight"], embeddings):
        raise ExportError("the MLM decoder is not tied to the word embeddings: transformers' Ernie ties them")
    biases = [decoder[k] for k in _DECODER[1:] if k in decoder]
    if not biases or any(not np.array_equal(b, biases[0]) for b in biases):
        raise ExportError("the MLM decoder's bias is missing or held twice with different values")
    for name, value in paddle_state.items():
        if name in _DECODER:
            continue
        target, transposed = _target(name)
        if target in state:
            raise ExportError(f"two parameters map to {target!r}")
        state[target], source[target] = np.ascontiguousarray((value.T if transposed else value).astype(np.float32)), name
    state["cls.predictions.decoder.weight"] = state["ernie.embeddings.word_embeddings.weight"]
    state["cls.predictions.bias"] = np.ascontiguousarray(biases[0].astype(np.float32))
    source["cls.predictions.bias"] = next(k for k in _DECODER[1:] if k in decoder)
    shapes = expected_shapes(config)
    missing = sorted(set(shapes) - set(state))
    if missing:
        raise ExportError(f"the checkpoint lacks {missing[:5]}")
    extra = sorted(source[k] for k in set(state) - set(shapes))
    if extra:
        raise ExportError(f"the checkpoint holds parameters config.json does not give: {extra[:5]}")
    wrong = [f"{source.get(k, k)} {list(paddle_state[source[k]].shape) if k in source else list(v.shape)} "
             f"(config.json gives {list(shapes[k][::-1] if _target(source[k])[1] else shapes[k]) if k in source else list(shapes[k])})"
             for k, v in state.items() if v.shape != shapes[k]]
    if wrong:
        raise ExportError(f"parameters of another shape than config.json gives (Paddle's layout): {', '.join(wrong[:5])}")
    return state


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
        raise ExportError(f"hidden_act {paddle_config.get('hidden_act')!r}: transformers' Ernie has no such activation")
    if paddle_config.get("pool_act", "tanh") != "tanh":
        raise ExportError(f"pool_act {paddle_config['pool_act']!r}: transformers' Ernie pools with tanh")
    keys = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
            "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
            "type_vocab_size", "initializer_range", "pad_token_id", "task_type_vocab_size", "use_task_id")
    return {"architectures": ["ErnieForPreTraining"], "model_type": "ernie",
            **{k: paddle_config[k] for k in keys if k in paddle_config},
            "layer_norm_eps": LAYER_NORM_EPS, "position_embedding_type": "absolute", "torch_dtype": "float32",
            "tokenizer_class": "PreTrainedTokenizerFast"}


def symbol_pattern() -> str:
    """A regex class of the characters paddlenlp's BasicTokenizer isolates that BERT's pre-tokenizer does not:
    its symbols (``_is_symbol``: category S*, and 8 more) that are not punctuation."""
    from paddlenlp.transformers.tokenizer_utils import _is_punctuation, _is_symbol

    ranges, start, previous = [], None, None
    for cp in range(0x110000):
        char = chr(cp)
        if unicodedata.category(char) != "Cs" and _is_symbol(char) and not _is_punctuation(char):
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


def _last_row(path: Path) -> dict:
    lines = path.read_text().splitlines() if path.is_file() else []
    return json.loads(lines[-1]) if lines else {}


def model_card(checkpoint: Path, config: dict) -> str:
    """README.md: what the model is, the losses its link logged last, how to load it, the attention-mask note."""
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    train, valid = _last_row(checkpoint / "train_log.jsonl"), _last_row(checkpoint / "valid_log.jsonl")
    lines = [
        "---", "library_name: transformers", "language: zh", "tags: [ernie, pretraining, paddlenlp-export]", "---", "",
        f"# ERNIE 1.0 style model: {checkpoint.name}", "",
        f"Exported from a PaddleNLP `ErnieForPretraining` checkpoint of this workflow (`{checkpoint}`): "
        f"{config['num_hidden_layers']} layers, hidden size {config['hidden_size']}, vocabulary "
        f"{config['vocab_size']:,}; trained {state['global_step']:,} steps ({state['consumed_samples']:,} samples) "
        "with whole-word / n-gram masking (MLM) and sentence-order prediction (SOP); the data: "
        f"{', '.join(f'{name} ({weight:g})' for name, weight in state.get('run', {}).get('train', {}).get('dataset', []))}.",
        "",
    ]
    if train:
        lines += [f"Last logged losses (step {train['step']}): train {train['loss']:.4f} (MLM {train['lm_loss']:.4f}, "
                  f"SOP {train['sop_loss']:.4f})" + (f"; valid (step {valid['step']}) {valid['loss']:.4f}" if valid else "")
                  + ".", ""]
    lines += [
        "```python",
        "from transformers import AutoModelForMaskedLM, AutoTokenizer",
        "tokenizer = AutoTokenizer.from_pretrained(path)",
        "model = AutoModelForMaskedLM.from_pretrained(path)",
        'batch = tokenizer(["今天天气很好", "北京是中国的首都"], padding=True, return_tensors="pt")',
        "outputs = model(**batch)  # input_ids, token_type_ids and attention_mask",
        "```", "",
        "**Pass `attention_mask`** with padded batches: Paddle's Ernie masks its padding token by itself when no "
        "mask is given; transformers attends to padding unless told. Otherwise the outputs equal the Paddle "
        "model's to float32 rounding (hidden states, MLM and SOP logits). The next-sentence head is the "
        "sentence-order head: label 1 means the two segments were swapped.", "",
        "Tokenizer: paddlenlp `ErnieTokenizer`'s ids (BERT-style normalisation and WordPiece; Unicode symbols "
        "isolated as paddlenlp does).",
    ]
    return "\n".join(lines) + "\n"


def export(checkpoint: str | Path, out_dir: str | Path) -> dict:
    """Write ``checkpoint`` (a model_<step> folder) as a transformers folder ``out_dir``, atomically."""
    from safetensors.numpy import save_file

    checkpoint = Path(checkpoint)
    if (checkpoint / STATE_FILE).is_file():  # a checkpoint of the chain: its files as its link recorded them
        verify_checkpoint(checkpoint)
    paddle_config = json.loads((checkpoint / "config.json").read_text())
    config = hf_config(paddle_config)
    weights = read_state_dict(checkpoint / WEIGHTS_FILE)  # untrusted: the restricted unpickler
    state = hf_state_dict(weights, paddle_config)
    tokenizer_config = json.loads((checkpoint / "tokenizer_config.json").read_text())
    do_lower_case = tokenizer_config.get("do_lower_case", True)
    tokenizer = build_tokenizer(checkpoint / "vocab.txt", do_lower_case)
    with atomic_path(out_dir, is_dir=True) as tmp:
        # the decoder weight is the word embeddings: safetensors stores a shared tensor once under one name
        tensors = {k: v for k, v in state.items() if k != "cls.predictions.decoder.weight"}
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        (tmp / "model.safetensors").chmod(0o644)
        (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        tokenizer.save(str(tmp / "tokenizer.json"))
        (tmp / "tokenizer_config.json").write_text(json.dumps({
            "tokenizer_class": "PreTrainedTokenizerFast", "do_lower_case": do_lower_case, "model_max_length":
            paddle_config.get("max_position_embeddings", 512), "model_input_names":
            ["input_ids", "token_type_ids", "attention_mask"], **SPECIAL_TOKENS}, indent=2) + "\n")
        (tmp / "special_tokens_map.json").write_text(json.dumps(SPECIAL_TOKENS, indent=2) + "\n")
        shutil.copyfile(checkpoint / "vocab.txt", tmp / "vocab.txt")
        (tmp / "README.md").write_text(model_card(checkpoint, paddle_config), encoding="utf-8")
    return {"parameters": len(state), "config": config}
