"""The stages' settings objects against the schema, the one home of the config's keys and defaults."""

import dataclasses

import pytest
import yaml

from conftest import REPO, TINY_CONFIG, train_settings, validated
from ernie_pipeline.clean.settings import CleanSettings
from ernie_pipeline.index.index_map import SampleMapSettings
from ernie_pipeline.index.masking import MaskingSettings
from ernie_pipeline.evaluate.grid import EvalSettings
from ernie_pipeline.corpus.tasks import TaskSettings
from ernie_pipeline.segment.settings import DatasetSettings, JsonlSettings, SegmentSettings
from ernie_pipeline.settings import as_section, from_section, schema_defaults
from ernie_pipeline.tokenize.settings import TokenizeSettings
from ernie_pipeline.train.settings import TrainSettings
from ernie_pipeline.vocab.settings import VocabSettings
from ernie_pipeline.workflow import planning


def _schema_keys(section):
    return set(yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())["properties"][section]
               ["properties"])


def _fields(cls):
    return {field.name for field in dataclasses.fields(cls)}


def test_each_settings_class_holds_keys_of_its_config_sections_and_no_defaults_of_its_own():
    assert _fields(TrainSettings) == _schema_keys("train")  # all of train, nothing else
    assert _fields(MaskingSettings) <= _schema_keys("train")
    assert _fields(SampleMapSettings) <= _schema_keys("index") | _schema_keys("train")
    assert _fields(SampleMapSettings) >= _schema_keys("index")
    assert _fields(EvalSettings) == _schema_keys("eval")
    task_keys = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())["properties"]["eval"][
        "properties"]["tasks"]["additionalProperties"]["properties"]
    assert _fields(TaskSettings) == set(task_keys)
    assert _fields(SegmentSettings) == _schema_keys("segment")
    assert _fields(JsonlSettings) == _schema_keys("jsonl")
    assert _fields(VocabSettings) == _schema_keys("vocab")
    assert _fields(CleanSettings) == _schema_keys("clean")
    dataset_keys = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())["properties"]["datasets"][
        "additionalProperties"]["properties"]
    assert _fields(DatasetSettings) == set(dataset_keys)
    for cls in (TrainSettings, MaskingSettings, SampleMapSettings, EvalSettings, TaskSettings, SegmentSettings,
                JsonlSettings, VocabSettings, DatasetSettings, CleanSettings):
        assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(cls)), cls


def test_the_token_id_settings_defaults_are_the_schemas():
    # the job functions' defaults (used by tests and benches) must not drift from what users get
    defaults = schema_defaults("tokenize")
    assert _fields(TokenizeSettings) <= set(defaults)
    assert {f.name: f.default for f in dataclasses.fields(TokenizeSettings)} == {
        key: defaults[key] for key in _fields(TokenizeSettings)}


def test_the_shipped_and_the_tiny_config_build_every_stages_settings():
    for path in (REPO / "config.yaml", TINY_CONFIG):
        config = validated(yaml.safe_load(path.read_text()))
        train = planning.train_settings(config)
        assert train.dataset == ((next(iter(config["datasets"])), 1.0),)
        assert planning.sample_map_settings(config) == SampleMapSettings(
            split=str(config["index"]["split"]), short_seq_prob=config["index"]["short_seq_prob"],
            max_seq_len=train.max_seq_len, seed=train.seed, binary_head=train.binary_head)
        assert train.masking.max_ngrams == config["train"]["max_ngrams"]
        evaluation = planning.eval_settings(config)
        assert set(evaluation.tasks) == set(config["eval"]["tasks"])
        assert SegmentSettings.from_config(config["segment"]).engine == config["segment"]["engine"]
        assert JsonlSettings.from_config(config["jsonl"]).min_doc_length == config["jsonl"]["min_doc_length"]
        assert VocabSettings.from_config(config["vocab"]).english_text == config["vocab"]["english_text"]
        for name, section in config["datasets"].items():
            assert DatasetSettings.from_config(name, section).format == section["format"]


def test_settings_are_frozen_and_travel_as_their_config_section():
    train = train_settings(dataset=[["tiny", 0.5], ["news", 0.5]])
    assert train.dataset == (("tiny", 0.5), ("news", 0.5))  # lists from JSON or YAML become tuples
    with pytest.raises(dataclasses.FrozenInstanceError):
        train.seed = 1
    section = as_section(train)
    assert section["dataset"] == [["tiny", 0.5], ["news", 0.5]]
    assert TrainSettings.from_config(section) == train


def test_a_section_with_a_missing_or_unknown_key_is_refused_naming_them():
    section = as_section(train_settings())
    del section["max_lr"]
    section["learning_rate"] = 1e-3
    with pytest.raises(ValueError, match=r"config train: missing train\.max_lr; unknown train\.learning_rate"):
        TrainSettings.from_config(section)
    with pytest.raises(ValueError, match=r"config index: missing index\.max_seq_len, index\.seed"):
        from_section(SampleMapSettings, {"split": "1", "short_seq_prob": 0.1, "binary_head": True}, "index")


def test_settings_are_checked_when_built():
    with pytest.raises(ValueError, match=r"config train\.global_batch_size: 6 is not a multiple"):
        train_settings(global_batch_size=6)
    with pytest.raises(ValueError, match=r"config index\.split: 'x' is not a list of numbers"):
        SampleMapSettings(split="x", short_seq_prob=0.1, max_seq_len=64, seed=1, binary_head=True)
    with pytest.raises(ValueError, match=r"config train\.amp=O1: float16 AMP .* runs on GPUs only"):
        train_settings(amp="O1").check_device()
    train_settings(backend="torch", amp="bf16").check_device()  # autocast in bf16 runs on CPUs too
    train_settings(recompute=True).check_device()  # Paddle 3 replays the dropout state on CPU too
    train_settings(device="gpu", amp="O2", recompute=True).check_device()


@pytest.mark.parametrize("changes, refused", [
    ({"amp": "bf16"}, r"config train\.amp=bf16: the Paddle backend trains in float32, O1 or O2"),
    ({"backend": "torch", "amp": "O2"}, r"config train\.amp=O2: the torch backend keeps float32 weights"),
    ({"compile": True}, r"config train\.compile=True: torch\.compile needs train\.backend: torch"),
    ({"python": "/opt/torch/bin/python"}, r"config train\.python=/opt/torch/bin/python: the Python of the torch"),
])
def test_combinations_a_backend_cannot_do_are_refused_when_the_settings_are_built(changes, refused):
    """Refused at parse time (a dry run), naming the key, not when a training job starts."""
    with pytest.raises(ValueError, match=refused):
        train_settings(**changes)
    train_settings(backend="torch", amp="bf16", compile=True, python="/opt/torch/bin/python")
