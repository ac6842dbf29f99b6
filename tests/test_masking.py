"""Masking and SOP over real samples of the tiny run's data."""

import numpy as np
import pytest

from ernie_pipeline.dataset import ErnieDataset
from ernie_pipeline.index_map import build_index_map
from ernie_pipeline.indexed import IdsDataset
from ernie_pipeline.masking import Vocab, collate
from ernie_pipeline.token_ids import load_tokenizer

MAX_SEQ_LEN = 128


@pytest.fixture(scope="module")
def dataset(artifacts, tmp_path_factory):
    path = tmp_path_factory.mktemp("maps") / "train.npy"
    build_index_map(artifacts["prefix"], "train", path, split="1", max_seq_len=MAX_SEQ_LEN, seed=5, samples=4000)
    tokenizer = load_tokenizer(artifacts["vocab_dir"])
    vocab = Vocab.from_tokenizer(tokenizer)
    return ErnieDataset(IdsDataset(artifacts["prefix"]), np.load(path), vocab, MAX_SEQ_LEN, seed=5)


def test_masking_statistics(dataset):
    vocab = dataset.vocab
    masked = total = swapped = 0
    n = 4000
    for idx in range(n):
        s = dataset[idx]
        length = int((s["attention_mask"][0, 0] == 0).sum())
        ids = s["input_ids"][:length]
        assert ids[0] == vocab.cls_id and ids[-1] == vocab.sep_id
        assert (s["input_ids"] < vocab.size).all()  # ## ids mapped back to base characters
        assert all(0 <= label < vocab.size for label in s["masked_labels"])
        assert 0 not in s["masked_positions"] and length - 1 not in s["masked_positions"]
        assert not {vocab.cls_id, vocab.sep_id} & set(s["masked_labels"])  # specials are never masked
        masked += len(s["masked_positions"])
        total += length
        swapped += s["sop_label"]
    assert abs(masked / total - 0.15) < 0.015
    assert abs(swapped / n - 0.5) < 0.03


def test_whole_words_are_never_partly_masked(dataset):
    checked = 0
    for idx in range(500):
        s = dataset[idx]
        length = int((s["attention_mask"][0, 0] == 0).sum())
        masked = set(s["masked_positions"])
        # '##' marks are mapped away in the sample, so the word spans come from the unmasked tokens
        for span in _word_spans(dataset, idx, length):
            hit = [p in masked for p in span]
            assert all(hit) or not any(hit)
            checked += len(span) > 1 and any(hit)
    assert checked > 50


def _word_spans(dataset, idx, length):
    """Word spans of sample idx: the same A/B split and truncation draws as the dataset makes."""
    from ernie_pipeline import masking

    start, end, target = (int(x) for x in dataset.index_map[idx])
    sentences = [np.asarray(dataset.data[i]) for i in range(start, end)]
    rng = np.random.RandomState((dataset.seed + idx) % 2**32)
    a, b, _ = masking.a_and_b_segments(sentences, rng)
    masking.truncate_segments(a, b, target, rng)
    tokens = [dataset.vocab.cls_id] + a + [dataset.vocab.sep_id] + (b + [dataset.vocab.sep_id] if b else [])
    assert len(tokens) == length
    spans = []
    for i, t in enumerate(tokens):
        if t in (dataset.vocab.cls_id, dataset.vocab.sep_id):
            continue
        if spans and dataset.vocab.is_continuation[t]:
            spans[-1].append(i)
        else:
            spans.append([i])
    return spans


def test_same_index_same_sample(dataset):
    for idx in (0, 17, 3999):
        a, b = dataset[idx], dataset[idx]
        assert all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)
    assert not np.array_equal(dataset[1]["input_ids"], dataset[2]["input_ids"])


def test_collate_flattens_positions(dataset):
    batch = collate([dataset[0], dataset[1]])
    m = len(dataset[0]["masked_positions"]) + len(dataset[1]["masked_positions"])
    assert batch["masked_positions"].shape[0] % 8 == 0 and batch["masked_positions"].shape[0] >= m
    assert (batch["masked_labels"][m:] == -1).all() and batch["input_ids"].shape == (2, MAX_SEQ_LEN)
    assert batch["masked_positions"][len(dataset[0]["masked_positions"])] >= MAX_SEQ_LEN
