"""Masking and SOP over real samples of the tiny run's data."""

from dataclasses import replace

import numpy as np
import pytest

from conftest import train_settings
from ernie_pipeline.index.dataset import ErnieDataset
from ernie_pipeline.index.index_map import SampleMapSettings, build_index_map
from ernie_pipeline.tokenize.token_files import IdsDataset
from ernie_pipeline.index.masking import Vocab, collate
from ernie_pipeline.tokenize.tokenizer import load_tokenizer

MAX_SEQ_LEN = 128
MASKING = train_settings(max_seq_len=MAX_SEQ_LEN).masking  # upstream's masking defaults


@pytest.fixture(scope="module")
def dataset(artifacts, tmp_path_factory):
    path = tmp_path_factory.mktemp("maps") / "train.npy"
    settings = SampleMapSettings(split="1", short_seq_prob=0.1, max_seq_len=MAX_SEQ_LEN, seed=5, binary_head=True)
    build_index_map(artifacts["prefix"], "train", path, settings, samples=10_000)
    tokenizer = load_tokenizer(artifacts["vocab_dir"])
    vocab = Vocab.from_tokenizer(tokenizer)
    return ErnieDataset(IdsDataset(artifacts["prefix"]), np.load(path), vocab, MASKING, seed=5)


def test_masking_statistics(dataset):
    vocab = dataset.vocab
    masked = total = swapped = 0
    n = 10_000
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
    for idx in range(10_000):
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
    from ernie_pipeline.index import masking

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
    first, second = [dataset[i] for i in range(20) if len(dataset[i]["masked_positions"])][:2]
    batch = collate([first, second])
    m = len(first["masked_positions"]) + len(second["masked_positions"])
    assert batch["masked_positions"].shape[0] % 8 == 0 and batch["masked_positions"].shape[0] >= m
    assert (batch["masked_labels"][m:] == -1).all() and batch["input_ids"].shape == (2, MAX_SEQ_LEN)
    assert batch["masked_positions"][len(first["masked_positions"])] == MAX_SEQ_LEN + second["masked_positions"][0]


@pytest.mark.parametrize("options, drawn, masked_3", [
    ({}, [6 / 11, 3 / 11, 2 / 11], (0.08, 0.2)),                        # weights 1/n
    ({"favor_longer_ngram": True}, [2 / 11, 3 / 11, 6 / 11], (0.3, 0.5)),
    ({"geometric_dist": True}, [0.2, 0.16, 0.64], (0.38, 0.58)),        # geometric(p=0.2), capped at 3
], ids=["one_over_n", "favor_longer", "geometric"])
def test_ngram_sizes_follow_the_configured_distribution(options, drawn, masked_3, dataset):
    """10,000 real 128-token stretches: the drawn n-gram sizes match the configured distribution; the masked
    ones never exceed max_ngrams words, and the share of 3-word n-grams follows the option (below the drawn
    share: longer n-grams are shortened or skipped more often, over the budget or overlapping a masked one)."""
    from ernie_pipeline.index.masking import masked_lm_predictions

    vocab, ids = dataset.vocab, dataset.data.ids
    settings = replace(train_settings(masked_lm_prob=0.15, max_ngrams=3).masking, **options)
    sizes = []
    for i in range(10_000):
        start = i * 126 % (ids.size - 126)
        tokens = [vocab.cls_id] + np.asarray(ids[start : start + 126]).tolist() + [vocab.sep_id]
        masked_lm_predictions(tokens, vocab, 0.15 * 128, np.random.RandomState(i), settings, ngram_sizes=sizes)
    drawn_counts = np.bincount([d for d, _ in sizes], minlength=4)[1:]
    assert np.allclose(drawn_counts / len(sizes), drawn, atol=0.012), drawn_counts / len(sizes)
    used = np.bincount([u for _, u in sizes], minlength=4)
    assert used[0] == 0 and len(used) == 4
    assert masked_3[0] < used[3] / used.sum() < masked_3[1], used / used.sum()


def test_samples_are_the_same_in_another_process_and_with_workers(dataset, artifacts):
    """Sample i depends only on (data, map, seed, i): a fresh process, and a DataLoader with 2 workers,
    give exactly the samples of this process."""
    import subprocess
    import sys
    import tempfile

    from ernie_pipeline.train.paddle_backend import micro_batches

    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/map.npy", dataset.index_map)
        code = (
            "import sys, numpy as np; import ernie_pipeline\n"
            "from ernie_pipeline.index.dataset import ErnieDataset\nfrom ernie_pipeline.tokenize.token_files import IdsDataset\n"
            "from ernie_pipeline.index.masking import MaskingSettings, Vocab\n"
            "from ernie_pipeline.tokenize.tokenizer import load_tokenizer\n"
            "vocab = Vocab.from_tokenizer(load_tokenizer(sys.argv[2]))\n"
            f"ds = ErnieDataset(IdsDataset(sys.argv[1]), np.load(sys.argv[3]), vocab, {MASKING!r}, seed=5)\n"
            "np.savez(sys.argv[4], *[ds[i]['input_ids'] for i in (0, 17, 3999, 9999)])\n")
        subprocess.run([sys.executable, "-c", code, str(artifacts["prefix"]), str(artifacts["vocab_dir"]),
                        f"{tmp}/map.npy", f"{tmp}/out.npz"], check=True, capture_output=True)
        theirs = np.load(f"{tmp}/out.npz")
        for k, i in enumerate((0, 17, 3999, 9999)):
            assert np.array_equal(theirs[f"arr_{k}"], dataset[i]["input_ids"])
    plain = [b[0].numpy() for _, b in zip(range(6), micro_batches(dataset, 8, 16, 0))]
    workers = [b[0].numpy() for _, b in zip(range(6), micro_batches(dataset, 8, 16, 2))]
    assert all(np.array_equal(a, b) for a, b in zip(plain, workers)) and len(plain) == 6
    assert np.array_equal(plain[0][0], dataset[16]["input_ids"])  # resumed at 16 consumed samples
