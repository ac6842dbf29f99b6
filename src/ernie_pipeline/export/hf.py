"""Export a checkpoint of the chain to a Hugging Face transformers folder (``model_type: ernie``), numerically
equal to the Paddle model, without Paddle or torch: a Paddle checkpoint's weights are read through the project's
restricted unpickler, mapped one to one (:mod:`ernie_pipeline.train.hf_format`) and written as safetensors; a torch
backend's checkpoint is already in that format, and is copied, its weights checked. Either way the folder also
gets the tokenizer files and a model card.

A checkpoint it cannot map exactly (an unknown, missing or extra parameter, one whose shape is not the one
``config.json`` gives, a decoder not tied to the word embeddings, an activation transformers' Ernie does not have,
weights that do not read or files that differ from the checksums the chain recorded) is refused, naming what is
wrong.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ernie_pipeline.io.atomic import atomic_path
from ernie_pipeline.train.checkpoint import STATE_FILE, WEIGHTS_FILE, read_state_dict, verify_checkpoint
from ernie_pipeline.train.hf_format import (HF_WEIGHTS_FILE, hf_config, hf_state_dict, paddle_config_from_hf,
                                            paddle_state_from_hf, read_hf_weights, write_tokenizer_files)


def _last_row(path: Path) -> dict:
    lines = path.read_text().splitlines() if path.is_file() else []
    return json.loads(lines[-1]) if lines else {}


def _trained_with(state: dict) -> str:
    backend = state.get("run", {}).get("train", {}).get("backend", "paddle")
    return "PyTorch + transformers `ErnieForPreTraining`" if backend == "torch" else "PaddleNLP `ErnieForPretraining`"


def model_card(checkpoint: Path, config: dict) -> str:
    """README.md: what the model is, the losses its link logged last, how to load it, the attention-mask note."""
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    train, valid = _last_row(checkpoint / "train_log.jsonl"), _last_row(checkpoint / "valid_log.jsonl")
    lines = [
        "---", "library_name: transformers", "language: zh", "tags: [ernie, pretraining, paddlenlp-export]", "---", "",
        f"# ERNIE 1.0 style model: {checkpoint.name}", "",
        f"Exported from a {_trained_with(state)} checkpoint of this workflow (`{checkpoint}`): "
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
        "model's to float32 rounding (hidden states, MLM and SOP logits), for a checkpoint trained by either "
        "backend. The next-sentence head is the "
        "sentence-order head: label 1 means the two segments were swapped.", "",
        "Tokenizer: paddlenlp `ErnieTokenizer`'s ids (BERT-style normalisation and WordPiece; Unicode symbols "
        "isolated as paddlenlp does).",
    ]
    return "\n".join(lines) + "\n"


def export(checkpoint: str | Path, out_dir: str | Path) -> dict:
    """Write ``checkpoint`` (a model_<step> folder of either backend) as a transformers folder ``out_dir``,
    atomically."""
    from safetensors.numpy import save_file

    checkpoint = Path(checkpoint)
    if (checkpoint / STATE_FILE).is_file():  # a checkpoint of the chain: its files as its link recorded them
        verify_checkpoint(checkpoint)
    saved_config = json.loads((checkpoint / "config.json").read_text())
    torch_format = (checkpoint / HF_WEIGHTS_FILE).is_file()
    if torch_format:  # the torch backend's: transformers' format already, its every tensor checked
        paddle_config = paddle_config_from_hf(saved_config)
        weights = read_hf_weights(checkpoint / HF_WEIGHTS_FILE)
        parameters = len(paddle_state_from_hf(weights, paddle_config)) - 1  # the decoder bias once
    else:
        paddle_config = saved_config
        state = hf_state_dict(read_state_dict(checkpoint / WEIGHTS_FILE), paddle_config)  # the restricted unpickler
        parameters = len(state)
    config = hf_config(paddle_config)
    do_lower_case = json.loads((checkpoint / "tokenizer_config.json").read_text()).get("do_lower_case", True)
    with atomic_path(out_dir, is_dir=True) as tmp:
        if torch_format:
            shutil.copyfile(checkpoint / HF_WEIGHTS_FILE, tmp / HF_WEIGHTS_FILE)
        else:
            # the decoder weight is the word embeddings: safetensors stores a shared tensor once under one name
            tensors = {k: v for k, v in state.items() if k != "cls.predictions.decoder.weight"}
            save_file(tensors, str(tmp / HF_WEIGHTS_FILE), metadata={"format": "pt"})
        (tmp / HF_WEIGHTS_FILE).chmod(0o644)
        (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        write_tokenizer_files(tmp, checkpoint / "vocab.txt", do_lower_case,
                              paddle_config.get("max_position_embeddings", 512))
        (tmp / "README.md").write_text(model_card(checkpoint, paddle_config), encoding="utf-8")
    return {"parameters": parameters, "config": config}
