"""Fine-tune one checkpoint on one task at one grid point (one job of the evaluation grid), as upstream's CLUE
scripts do: paddlenlp ``ErnieForSequenceClassification`` from the checkpoint's weights (its pretraining heads
dropped, a new classifier), the checkpoint's tokenizer, AdamW (no decay on bias and norm weights) with linear
warmup and decay, a cross-entropy loss. Seeded: the classifier's initial weights, the order of the examples
in every epoch and dropout all follow the point's seed, so a rerun gives the same scores (on CPU, bit for bit).

The result (one small JSON): the dev scores after every epoch, and the dev and test scores of the final
model (accuracy, macro-F1), the majority-class accuracy of dev and test, how many classes the final model
predicts on each (1: it learnt nothing but the majority), with the throughput of the training steps.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

import ernie_pipeline  # noqa: F401  (system zlib before paddle)
from ernie_pipeline.evaluate.grid import EvalSettings, GridPoint
from ernie_pipeline.corpus.tasks import Example, TaskSettings, read_task
from ernie_pipeline.io.atomic import atomic_write
from ernie_pipeline.vocab.constants import is_cjk


def encode(tokenizer, examples: list[Example], max_seq_len: int) -> list[tuple[list[int], list[int], int]]:
    """(input ids, token type ids, label) of each example: ``[CLS] a [SEP]`` or ``[CLS] a [SEP] b [SEP]``,
    truncated to ``max_seq_len`` tokens (the longer sentence of a pair first). Each text is tokenised from a prefix
    that holds the tokens truncation keeps (:func:`_prefix`): the same ids as the whole text, a fraction of the work
    on long documents."""
    encoded = []
    for example in examples:
        first, pair = example.texts[0], example.texts[1] if len(example.texts) > 1 else None
        features = _features(tokenizer, first, pair, max_seq_len)
        encoded.append((features["input_ids"], features["token_type_ids"], example.label))
    return encoded


def _features(tokenizer, first: str, pair: str | None, max_seq_len: int) -> dict:
    if pair is None:
        for prefix in _prefixes(first, max_seq_len):
            features = tokenizer(prefix, max_length=max_seq_len, truncation=True)
            # truncated (or the whole text): the prefix's tokens are the text's first ones, so these are its ids
            if prefix is first or len(features["input_ids"]) == max_seq_len:
                return features
    # a pair's truncation takes from the longer side: each side needs as many tokens as the other could keep
    texts = [next(p for p in _prefixes(text, max_seq_len)
                  if p is text or len(tokenizer.tokenize(p)) >= max_seq_len) for text in (first, pair)]
    return tokenizer(texts[0], text_pair=texts[1], max_length=max_seq_len, truncation=True)


def _prefixes(text: str, max_seq_len: int):
    """Prefixes of ``text`` ending right after a CJK character, of about 2, 4, 8 ... x ``max_seq_len`` characters,
    then the text itself. paddlenlp's BasicTokenizer makes every CJK character a token of its own, so a prefix
    ending there tokenises to exactly the first tokens of the whole text."""
    cut = 2 * max_seq_len
    while cut < len(text):
        end = next((k + 1 for k in range(cut, len(text)) if is_cjk(text[k])), len(text))
        if end >= len(text):
            break
        yield text[:end]
        cut *= 2
    yield text


def batches(encoded: list, batch_size: int, pad_id: int, order=None):
    """Padded numpy batches (input ids, token types, labels) of ``encoded`` in ``order`` (default: as given)."""
    order = range(len(encoded)) if order is None else order
    indices = list(order)
    for start in range(0, len(indices), batch_size):
        chunk = [encoded[i] for i in indices[start:start + batch_size]]
        width = max(len(ids) for ids, _, _ in chunk)
        ids = np.full((len(chunk), width), pad_id, dtype=np.int64)
        types = np.zeros((len(chunk), width), dtype=np.int64)
        for row, (input_ids, token_types, _) in enumerate(chunk):
            ids[row, :len(input_ids)] = input_ids
            types[row, :len(token_types)] = token_types
        yield ids, types, np.array([label for _, _, label in chunk], dtype=np.int64)


def scores(labels: np.ndarray, predictions: np.ndarray, num_labels: int) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    return {"accuracy": float(accuracy_score(labels, predictions)),
            "macro_f1": float(f1_score(labels, predictions, average="macro", labels=list(range(num_labels)),
                                       zero_division=0))}


def predict(model, encoded: list, batch_size: int, pad_id: int) -> np.ndarray:
    import paddle

    model.eval()
    predictions = []
    with paddle.no_grad():
        for ids, types, _ in batches(encoded, batch_size, pad_id):
            # no attention mask: the model masks its pad token's positions itself
            logits = model(paddle.to_tensor(ids), token_type_ids=paddle.to_tensor(types))
            predictions.append(logits.argmax(axis=-1).numpy())
    model.train()
    return np.concatenate(predictions)


def build(checkpoint: str, num_labels: int, point: GridPoint, settings: EvalSettings, steps: int):
    """The model from ``checkpoint`` (a new classifier drawn from the point's seed), its tokenizer, and AdamW
    with warmup and linear decay over ``steps``."""
    import paddle
    from paddlenlp.transformers import LinearDecayWithWarmup

    paddle.seed(point.seed)
    model, tokenizer = load_classifier(Path(checkpoint), num_labels)
    schedule = LinearDecayWithWarmup(point.learning_rate, steps, settings.warmup_proportion)
    decay = {p.name for n, p in model.named_parameters() if not any(k in n for k in ("bias", "norm"))}
    optimizer = paddle.optimizer.AdamW(learning_rate=schedule, parameters=model.parameters(),
                                       weight_decay=settings.weight_decay, apply_decay_param_fun=lambda n: n in decay)
    return model, tokenizer, schedule, optimizer


def load_classifier(checkpoint: Path, num_labels: int):
    """paddlenlp's ErnieForSequenceClassification with ``checkpoint``'s encoder (its pretraining heads dropped, the
    classifier drawn from Paddle's generator, seeded before) and the checkpoint's ErnieTokenizer. A checkpoint of the
    torch backend (a Hugging Face folder) is mapped onto paddlenlp's parameters first, so that every checkpoint is
    fine-tuned by the same code whichever backend trained it."""
    from paddlenlp.transformers import ErnieConfig, ErnieForSequenceClassification, ErnieTokenizer

    from ernie_pipeline.train.checkpoint import STATE_FILE, verify_checkpoint
    from ernie_pipeline.train.hf_format import (HF_WEIGHTS_FILE, paddle_config_from_hf, paddle_state_from_hf,
                                                read_hf_weights)

    if (checkpoint / STATE_FILE).is_file():
        verify_checkpoint(checkpoint)
    if not (checkpoint / HF_WEIGHTS_FILE).is_file():
        return (ErnieForSequenceClassification.from_pretrained(str(checkpoint), num_labels=num_labels),
                ErnieTokenizer.from_pretrained(str(checkpoint)))
    paddle_config = paddle_config_from_hf(json.loads((checkpoint / "config.json").read_text()))
    weights = paddle_state_from_hf(read_hf_weights(checkpoint / HF_WEIGHTS_FILE), paddle_config)
    model = ErnieForSequenceClassification(ErnieConfig(**paddle_config, num_labels=num_labels))
    encoder = {k: v for k, v in weights.items() if k.startswith("ernie.")}
    missing = sorted(k for k in model.state_dict() if k.startswith("ernie.") and k not in encoder)
    if missing:
        raise ValueError(f"{checkpoint}: the encoder's weights lack {missing[:5]}")
    model.set_state_dict(encoder)
    return model, ErnieTokenizer(vocab_file=str(checkpoint / "vocab.txt"))


def finetune(checkpoint: str, task: TaskSettings, point: GridPoint, settings: EvalSettings) -> dict:
    """Fine-tune ``checkpoint`` on ``task`` with ``point``'s hyper-parameters; its dev and test scores."""
    import paddle

    paddle.set_device(settings.device)
    if settings.device == "cpu":
        paddle.base.core.set_num_threads(settings.threads)
    labels, examples = read_task(task)
    steps = point.epochs * -(-len(examples["train"]) // point.batch_size)
    model, tokenizer, schedule, optimizer = build(checkpoint, len(labels), point, settings, steps)
    pad = tokenizer.pad_token_id
    encoded = {split: encode(tokenizer, rows, task.max_seq_len) for split, rows in examples.items()}
    gold = {split: np.array([label for _, _, label in rows]) for split, rows in encoded.items()}
    order = np.random.RandomState(point.seed)
    curve, trained, seconds = [], 0, 0.0
    for epoch in range(1, point.epochs + 1):
        start = time.perf_counter()
        for ids, types, batch_labels in batches(encoded["train"], point.batch_size, pad,
                                                order.permutation(len(encoded["train"]))):
            logits = model(paddle.to_tensor(ids), token_type_ids=paddle.to_tensor(types))
            loss = paddle.nn.functional.cross_entropy(logits, paddle.to_tensor(batch_labels))
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.clear_grad()
            trained += len(batch_labels)
        seconds += time.perf_counter() - start
        dev = scores(gold["dev"], predict(model, encoded["dev"], point.batch_size, pad), len(labels))
        curve.append({"epoch": epoch, "loss": float(loss), **dev})
    predicted = {split: predict(model, encoded[split], point.batch_size, pad) for split in ("dev", "test")}
    test = scores(gold["test"], predicted["test"], len(labels))
    return {"checkpoint": checkpoint, "point": point.__dict__, "labels": list(labels),
            "examples": {split: len(rows) for split, rows in examples.items()},
            "dev": {k: curve[-1][k] for k in ("accuracy", "macro_f1")}, "test": test, "dev_curve": curve,
            "majority_dev_accuracy": float(np.bincount(gold["dev"]).max() / len(gold["dev"])),
            "majority_test_accuracy": float(np.bincount(gold["test"]).max() / len(gold["test"])),
            "predicted_classes": {split: int(len(np.unique(p))) for split, p in predicted.items()},
            "train_examples_per_second": trained / seconds if seconds else None}


def write_result(result: dict, path: str | Path) -> None:
    with atomic_write(path) as handle:
        json.dump(result, handle, indent=1, sort_keys=True)
        handle.write("\n")
