"""The workflow's plan from the config (ernie_pipeline.workflow.planning), without Snakemake."""

import copy

import pytest
import yaml

from conftest import TINY_CONFIG, validated
from ernie_pipeline.workflow import planning


@pytest.fixture
def config(tmp_path):
    config = validated(yaml.safe_load(TINY_CONFIG.read_text()))
    config["vocab"]["scheme"] = 1
    config["tokenize"]["tokenizer"] = None
    config["train"]["dataset"] = None
    return config


def _corpus(tmp_path, names):
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n")
    return str(tmp_path)


def test_a_datasets_shards_are_its_raw_files_by_relative_path(config, tmp_path):
    raw = _corpus(tmp_path / "raw", ["b.txt", "a/x.txt.gz", "a/y.txt.zst", ".hidden.txt", "notes.md", "c.json"])
    config["datasets"]["news"] = {"input_dir": raw, "format": "clue", "input_key": None, "on_error": "fail"}
    assert planning.raw_shard_names(config, "news") == ["a/x.txt.gz", "a/y.txt.zst", "b.txt"]
    assert planning.raw_shard_names(config, "tiny") == ["part-0000.json", "part-0001.json"]  # the sample's
    # datasets sorted by name: reordering them in config.yaml changes nothing
    assert planning.all_shards(config)[:3] == [("news", "a/x.txt.gz"), ("news", "a/y.txt.zst"), ("news", "b.txt")]
    reordered = copy.deepcopy(config)
    reordered["datasets"] = dict(reversed(list(config["datasets"].items())))
    assert planning.all_shards(reordered) == planning.all_shards(config)


def test_a_missing_or_empty_input_dir_names_the_config_key(config, tmp_path):
    config["datasets"]["news"] = {"input_dir": str(tmp_path / "nowhere"), "format": "clue"}
    with pytest.raises(ValueError, match=r"config datasets\.news\.input_dir: .*nowhere is not a folder"):
        planning.raw_shard_names(config, "news")
    config["datasets"]["news"]["input_dir"] = _corpus(tmp_path / "raw", ["only.json"])
    with pytest.raises(ValueError, match=r"config datasets\.news\.input_dir: no \.txt/\.txt\.gz/\.txt\.zst files in"):
        planning.raw_shard_names(config, "news")


def test_the_tokenizer_is_the_vocab_stages_folder_a_folder_or_a_built_in_name(config, tmp_path):
    assert planning.tokenizer_source(config) == ("results/vocab/tokenizer", ["results/vocab/tokenizer/vocab.txt"])
    config["vocab"]["scheme"] = 2
    assert planning.vocab_txt(config) == "results/vocab/scheme2/tokenizer/vocab.txt"
    assert planning.tokenizer_source(config)[0] == "results/vocab/scheme2/tokenizer"
    config["tokenize"]["tokenizer"] = "ernie-1.0-base-zh"
    assert planning.tokenizer_source(config) == ("ernie-1.0-base-zh", [])  # a built-in: no file to track
    config["tokenize"]["tokenizer"] = str(tmp_path)
    assert planning.tokenizer_source(config) == (str(tmp_path), [f"{tmp_path}/vocab.txt"])
    config["tokenize"]["tokenizer"] = str(tmp_path / "missing")
    with pytest.raises(ValueError, match=r"config tokenize\.tokenizer: .*missing is not a folder"):
        planning.tokenizer_source(config)


def test_reported_vocabularies(config):
    config["vocab"]["compare_schemes"] = False
    assert planning.reported_vocab_dirs(config) == ["vocab"]
    config["vocab"]["compare_schemes"] = True
    assert planning.reported_vocab_dirs(config) == ["vocab", "vocab/scheme2"]


def test_a_blend_gets_each_datasets_share_of_every_split(config):
    config["datasets"]["news"] = dict(config["datasets"]["tiny"])
    assert planning.train_blend(config) == [("tiny", 1.0)]  # null: the first dataset
    config["train"]["dataset"] = {"tiny": 3, "news": 1}
    blend = planning.train_blend(config)
    assert blend == [("tiny", 0.75), ("news", 0.25)]
    assert planning.train_settings(config).dataset == (("tiny", 0.75), ("news", 0.25))
    total, per_dataset = planning.split_samples(config)
    assert total == {"train": 6 * 8, "valid": None, "test": None}  # max_steps x global batch; one pass
    assert per_dataset["train"]["tiny"] >= 0.75 * 48 and per_dataset["train"]["news"] >= 0.25 * 48
    assert per_dataset["valid"] == per_dataset["test"] == {"tiny": None, "news": None}
    config["train"]["dataset"] = {"elsewhere": 1}
    with pytest.raises(ValueError, match="elsewhere"):
        planning.train_blend(config)


def test_a_training_jobs_inputs_are_read_by_name(config):
    """Each split's maps (one per dataset of the blend, in its order) and blending index come as named inputs."""
    from types import SimpleNamespace

    config["datasets"]["news"] = dict(config["datasets"]["tiny"])
    config["train"]["dataset"] = {"tiny": 3, "news": 1}
    maps = {f"{split}_maps": [f"i/{name}_{split}_indexmap.npy" for name in ("tiny", "news")]
            for split in ("train", "valid", "test")}
    blends = {f"{split}_blend": [f"i/blend_{split}.npz"] for split in ("train", "valid", "test")}
    job_input = SimpleNamespace(ids=["t/tiny_ids.npy", "t/news_ids.npy"], tokenizer=["v/tokenizer/vocab.txt"], **maps,
                                **blends)
    data = planning.train_data(config, job_input)
    assert data.prefixes == ["t/tiny", "t/news"] and data.tokenizer == "v/tokenizer"
    assert data.index_maps["valid"] == ["i/tiny_valid_indexmap.npy", "i/news_valid_indexmap.npy"]
    assert data.blends == {"train": "i/blend_train.npz", "valid": "i/blend_valid.npz", "test": "i/blend_test.npz"}
    alone = SimpleNamespace(ids=["t/tiny_ids.npy"], tokenizer=[], **{k: v[:1] for k, v in maps.items()},
                            **{k: [] for k in blends})
    config["train"]["dataset"] = None
    assert planning.train_data(config, alone).blends is None


def test_settings_across_keys_are_refused_naming_the_key(config):
    planning.sample_map_settings(config)
    for section, key, value, message in [
        ("index", "split", "0,0,0", r"config index\.split: '0,0,0' needs 1-3 non-negative weights"),
        ("train", "max_seq_len", 4096, r"config train\.max_seq_len: 4096 exceeds the model's max_position"),
        ("train", "global_batch_size", 6, r"config train\.global_batch_size: 6 is not a multiple of "
                                          r"train\.micro_batch_size 4"),
        ("train", "model_overrides", {"num_attention_heads": 5}, r"config train\.model_overrides: hidden_size"),
    ]:
        changed = copy.deepcopy(config)
        changed[section][key] = value
        with pytest.raises(ValueError, match=message):
            planning.sample_map_settings(changed)
