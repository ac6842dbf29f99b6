"""The torch side of the Hugging Face export test (runs in .venv-torch, which has torch and transformers;
Paddle never shares its process): load an exported folder with transformers' Auto classes and write what
they compute, for the Paddle side to compare.

    python compare_hf.py EXPORTED_DIR INPUTS.npz TEXTS.json OUT.npz

INPUTS.npz: ``input_ids``, ``token_type_ids``, ``attention_mask`` (a padded batch, as Paddle ran it);
TEXTS.json: sentences to tokenise. OUT.npz gets ``hidden``, ``mlm``, ``sop`` (AutoModelForPreTraining on the
batch), ``masked_lm`` (AutoModelForMaskedLM's logits), ``ids_<k>`` (AutoTokenizer's ids of text k) and a JSON
``report``: missing / unexpected keys of each load, the tokenizer class, its model input names.
"""

import json
import sys

import numpy as np
import torch
from transformers import (AutoModelForMaskedLM, AutoModelForPreTraining, AutoModelForSequenceClassification,
                          AutoTokenizer)


def main(folder: str, inputs_path: str, texts_path: str, out_path: str) -> None:
    inputs = {k: torch.from_numpy(v) for k, v in np.load(inputs_path).items()}
    texts = json.loads(open(texts_path, encoding="utf-8").read())
    report, out = {}, {}
    model, info = AutoModelForPreTraining.from_pretrained(folder, output_loading_info=True)
    report["pretraining"] = {k: sorted(v) for k, v in info.items() if k in ("missing_keys", "unexpected_keys")}
    report["pretraining_class"] = type(model).__name__
    model.eval()
    with torch.no_grad():
        result = model(**inputs, output_hidden_states=True)
    out.update(hidden=result.hidden_states[-1].numpy(), mlm=result.prediction_logits.numpy(),
               sop=result.seq_relationship_logits.numpy())
    masked_lm, info = AutoModelForMaskedLM.from_pretrained(folder, output_loading_info=True)
    report["masked_lm"] = {k: sorted(v) for k, v in info.items() if k in ("missing_keys", "unexpected_keys")}
    masked_lm.eval()
    with torch.no_grad():
        out["masked_lm"] = masked_lm(**inputs).logits.numpy()
    _, info = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3, output_loading_info=True)
    report["sequence_classification"] = {k: sorted(v) for k, v in info.items()
                                         if k in ("missing_keys", "unexpected_keys")}
    tokenizer = AutoTokenizer.from_pretrained(folder)
    report["tokenizer_class"] = type(tokenizer).__name__
    report["model_input_names"] = list(tokenizer.model_input_names)
    encoded = tokenizer(texts[0], texts[1])
    report["pair_token_type_ids"] = encoded["token_type_ids"]
    for k, text in enumerate(texts):
        out[f"ids_{k}"] = np.array(tokenizer(text)["input_ids"], dtype=np.int64)
    np.savez(out_path, report=np.array(json.dumps(report)), **out)


if __name__ == "__main__":
    main(*sys.argv[1:5])
