import json

import numpy as np
import pytest

from ernie_pipeline.index.index_map import (SampleMapSettings, build_index_map, describe, load_index_map,
                                           split_documents)
from ernie_pipeline.tokenize.token_files import IdsDataset


def _settings(split, max_seq_len=512, seed=1234):
    return SampleMapSettings(split=split, short_seq_prob=0.1, max_seq_len=max_seq_len, seed=seed, binary_head=True)


def test_split_documents():
    assert split_documents("949,50,1", 10000) == [0, 9490, 9990, 10000]
    assert split_documents("8/1/1", 241) == [0, 193, 217, 241]
    assert split_documents("1", 5) == [0, 5, 5, 5]


def test_a_map_holds_whole_epochs_the_same_for_any_count_within_them(artifacts, tmp_path):
    """build_mapping finishes the epoch it is in and shuffles all rows: one pass (None) is the map of every
    count the first epoch reaches (upstream's valid and test maps, where their counts fit), and a count past
    it takes a second epoch."""
    settings = _settings("8,1,1", max_seq_len=64)
    one_pass = build_index_map(artifacts["prefix"], "valid", tmp_path / "pass.npy", settings, samples=None)
    assert one_pass["num_samples"] is None
    for count in (1, 24, one_pass["rows"]):
        record = build_index_map(artifacts["prefix"], "valid", tmp_path / f"{count}.npy", settings, samples=count)
        assert record["rows"] == one_pass["rows"]
        assert np.array_equal(np.load(tmp_path / f"{count}.npy"), np.load(tmp_path / "pass.npy"))
    two = build_index_map(artifacts["prefix"], "valid", tmp_path / "two.npy", settings, samples=one_pass["rows"] + 1)
    assert two["rows"] > one_pass["rows"] + 1


def test_maps_cover_their_split_only(artifacts):
    data = IdsDataset(artifacts["prefix"])
    for split, path in artifacts["index"].items():
        record = json.loads(path.with_name(path.name + ".json").read_text())
        rows = np.load(path)
        assert rows.dtype == np.uint32 and rows.shape == (record["rows"], 3)
        assert record["rows"] >= (record["num_samples"] or 1)
        assert (record["num_samples"] is None) == (split != "train")  # valid, test: one pass
        first, last = data.docs[record["first_doc"]], data.docs[record["end_doc"]]
        assert (rows[:, 0] >= first).all() and (rows[:, 1] <= last).all() and (rows[:, 0] < rows[:, 1]).all()
        assert (rows[:, 1] - rows[:, 0] >= 2).all()  # binary_head: at least two sentences
        assert (rows[:, 2] <= record["max_seq_length"]).all() and (rows[:, 2] >= 2).all()


def test_empty_split_is_a_clear_error(artifacts, tmp_path):
    with pytest.raises(ValueError, match=r"leaves the test split .* empty \(\d+ documents: train=\d+, valid=\d+, test=0\)"):
        build_index_map(artifacts["prefix"], "test", tmp_path / "t.npy", _settings("90,10,0"), samples=10)
    assert not list(tmp_path.iterdir())


def test_stale_map_is_refused(artifacts, tmp_path):
    path = tmp_path / "valid.npy"
    settings = _settings("8,1,1", max_seq_len=64, seed=1)
    build_index_map(artifacts["prefix"], "valid", path, settings, samples=20)
    expected = describe(artifacts["prefix"], "valid", settings, 20)
    assert load_index_map(path, expected).shape[1] == 3
    with pytest.raises(ValueError, match="built for other settings.*seed"):
        load_index_map(path, {**expected, "seed": 2})
    rebuilt = build_index_map(artifacts["prefix"], "valid", tmp_path / "again.npy", settings, samples=20)
    assert np.array_equal(np.load(path), np.load(tmp_path / "again.npy")) and rebuilt["rows"] > 0
