"""Blending datasets: train.dataset parsing, per-dataset sample counts, blending indices, the blended dataset."""

import json

import numpy as np
import pytest

from ernie_pipeline.index.blend import BlendedDataset, build_blend_index, dataset_samples, one_pass_sizes, parse_blend

DATASETS = ["wudao", "clue", "news"]


@pytest.mark.parametrize("value, expected", [
    (None, [("wudao", 1.0)]),
    ("clue", [("clue", 1.0)]),
    ("1.0 wudao 3.0 clue", [("wudao", 0.25), ("clue", 0.75)]),
    ({"news": 2, "wudao": 2}, [("news", 0.5), ("wudao", 0.5)]),
    ([1, "wudao", 1, "clue", 2, "news"], [("wudao", 0.25), ("clue", 0.25), ("news", 0.5)]),
])
def test_parse_blend_upstream_string_or_mapping(value, expected):
    assert parse_blend(value, DATASETS) == expected  # weights that are exact in binary


@pytest.mark.parametrize("value, message", [
    ("1.0 wudao 3.0", "is not 'weight dataset weight dataset ...'"),
    ("1.0 wudao 3.0 books", "'books' is not a dataset"),
    ("x wudao 1 clue", "weight 'x' of 'wudao' is not a number"),
    ("0 wudao 1 clue", "weight 0.0 of 'wudao' must be positive"),
    ("1 wudao 1 wudao", "a dataset appears twice"),
])
def test_parse_blend_errors_name_the_config_key(value, message):
    with pytest.raises(ValueError, match="config train.dataset: .*" + message.replace("(", r"\(").replace(".", r"\.")):
        parse_blend(value, DATASETS)


def test_each_dataset_gets_its_share_plus_a_margin():
    assert dataset_samples(10_000, [("wudao", 1.0)]) == {"wudao": 10_000}
    assert dataset_samples(10_000, [("wudao", 0.25), ("clue", 0.75)]) == {"wudao": 2513, "clue": 7538}
    assert dataset_samples(None, [("wudao", 0.25), ("clue", 0.75)]) == {"wudao": None, "clue": None}


def test_a_one_pass_blend_fits_every_share_in_its_pass(tmp_path):
    """valid and test: the longest blend whose shares (with the margin) fit in each dataset's one-pass map;
    the blending index then asks no dataset for a sample past its map."""
    import numpy as np

    blend = [("wudao", 0.25), ("clue", 0.75)]
    sizes = one_pass_sizes(blend, {"wudao": 1000, "clue": 1200})  # clue is the limit: 1200 / 0.75 = 1600
    assert sizes == {"wudao": 398, "clue": 1194}
    build_blend_index(blend, sizes, tmp_path / "b.npz")
    with np.load(tmp_path / "b.npz") as index:
        for k, rows in enumerate((1000, 1200)):
            assert index["dataset_sample_index"][index["dataset_index"] == k].max() < rows


def test_blend_index_follows_the_weights_and_reads_each_dataset_in_order(tmp_path):
    blend = [("wudao", 0.25), ("clue", 0.75)]
    sizes = dataset_samples(10_000, blend)
    record = build_blend_index(blend, sizes, tmp_path / "blend.npz")
    assert record == json.loads((tmp_path / "blend.npz.json").read_text())
    assert record["size"] == sum(sizes.values()) and record["weights"] == [0.25, 0.75]
    with np.load(tmp_path / "blend.npz") as data:
        which, sample = data["dataset_index"], data["dataset_sample_index"]
    assert which.dtype == np.uint8 and sample.dtype == np.int64
    for k, (name, weight) in enumerate(blend):
        chosen = sample[which == k]
        assert np.array_equal(chosen, np.arange(chosen.size))  # every sample of a dataset, in order, once
        assert chosen.size <= sizes[name]
        # at every prefix of the blend the share of dataset k stays within one sample of its weight
        running = np.cumsum(which == k)
        assert np.abs(running - weight * np.arange(1, which.size + 1)).max() <= 1.0
    build_blend_index(blend, sizes, tmp_path / "again.npz")
    assert (tmp_path / "again.npz").read_bytes() == (tmp_path / "blend.npz").read_bytes()


def test_blended_dataset_takes_each_position_from_its_dataset(tmp_path):
    blend = [("a", 0.5), ("b", 0.5)]
    sizes = {"a": 6, "b": 6}
    build_blend_index(blend, sizes, tmp_path / "blend.npz")
    a = [f"a{i}" for i in range(6)]
    b = [f"b{i}" for i in range(6)]
    blended = BlendedDataset([a, b], tmp_path / "blend.npz")
    assert len(blended) == 12 and sorted(blended[i] for i in range(12)) == sorted(a + b)
    assert [blended[i] for i in range(4)] == ["a0", "b0", "a1", "b1"]
    with pytest.raises(ValueError, match="wants sample 5 of dataset 1, which has 3"):
        BlendedDataset([a, b[:3]], tmp_path / "blend.npz")
