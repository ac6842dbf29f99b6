"""What the workflow plans from the config, as plain functions (rules/common.smk wires them into the rules):
the shards of each dataset, settings that cross keys, the training blend and its sample counts, and which
vocabulary and tokenizer the token ids use. Errors are ValueErrors naming the config key; common.smk turns
them into Snakemake's WorkflowError, so a dry run refuses a bad config."""

from __future__ import annotations

import os

from ernie_pipeline.clean.settings import CleanSettings
from ernie_pipeline.corpus.readers import COMPRESSED_SUFFIXES, SUFFIXES
from ernie_pipeline.index.blend import dataset_samples, parse_blend
from ernie_pipeline.index.index_map import SPLIT_NAMES, SampleMapSettings
from ernie_pipeline.tokenize.token_files import prefix_of
from ernie_pipeline.evaluate.grid import EvalSettings
from ernie_pipeline.train.build import TrainData
from ernie_pipeline.train.chain import map_samples, save_points
from ernie_pipeline.train.settings import TrainSettings

# vocab.scheme -> the folder (below results_dir) of that scheme's vocabulary
VOCAB_DIRS = {1: "vocab", 2: "vocab/scheme2"}


def sample_wudao_dir(config: dict) -> str:
    return f"{config['sample']['dir']}/wudao"


def uses_sample_corpus(config: dict, dataset: str) -> bool:
    """True when the dataset's input_dir is the folder the sample rule writes."""
    return os.path.normpath(config["datasets"][dataset]["input_dir"]) == os.path.normpath(sample_wudao_dir(config))


def sample_shard_names(config: dict) -> list[str]:
    return [f"part-{i:04d}.json" for i in range(config["sample"]["num_shards"])]


def raw_shard_names(config: dict, dataset: str) -> list[str]:
    """Shards of a dataset: each raw file below its input_dir (its path relative to that folder, so no two
    inputs share an output), or the sample's fixed shard names."""
    if uses_sample_corpus(config, dataset):
        return sample_shard_names(config)
    input_dir, fmt = config["datasets"][dataset]["input_dir"], config["datasets"][dataset]["format"]
    key = f"config datasets.{dataset}.input_dir"
    if not os.path.isdir(input_dir):
        raise ValueError(f"{key}: {input_dir} is not a folder")
    endings = tuple(s + c for s in SUFFIXES[fmt] for c in ("", *COMPRESSED_SUFFIXES))
    names = sorted(
        os.path.relpath(os.path.join(root, name), input_dir)
        for root, _dirs, files in os.walk(input_dir)
        for name in files
        if name.endswith(endings) and not name.startswith(".")
    )
    if not names:
        raise ValueError(f"{key}: no {'/'.join(endings)} files in {input_dir}")
    return names


def all_shards(config: dict) -> list[tuple[str, str]]:
    """(dataset, shard) of every shard of every dataset, datasets sorted by name, so that reordering the
    datasets in config.yaml changes nothing."""
    return [(name, shard) for name in sorted(config["datasets"]) for shard in raw_shard_names(config, name)]


def clean_settings(config: dict) -> CleanSettings:
    return CleanSettings.from_config(config["clean"])


def benchmark_files(config: dict) -> list[str]:
    """The text decontamination keeps out: every eval task's dev and test file, then clean.contamination_files
    (none when clean.decontaminate is off)."""
    if not config["clean"]["decontaminate"]:
        return []
    tasks = [path for task in (config.get("eval") or {}).get("tasks", {}).values() for path in (task["dev"], task["test"])]
    return tasks + list(config["clean"]["contamination_files"])


def benchmark_tasks(config: dict) -> dict[str, dict]:
    """Each eval task's part that the benchmark's n-gram table reads (its job's params: nothing else reruns it)."""
    from ernie_pipeline.corpus.tasks import TEXT_ONLY_KEYS

    if not config["clean"]["decontaminate"]:
        return {}
    tasks = (config.get("eval") or {}).get("tasks", {})
    return {name: {key: task[key] for key in TEXT_ONLY_KEYS} for name, task in tasks.items()}


def clean_groups(config: dict) -> dict[str, list[str]]:
    """The clean stage's groups (its grouping jobs' wildcard) -> their datasets: one group per dataset, or one
    named ``all`` with every dataset (clean.scope); none when the stage removes nothing."""
    if not clean_settings(config).active(bool(benchmark_files(config))):
        return {}
    names = sorted(config["datasets"])
    return {"all": names} if config["clean"]["scope"] == "all" else {name: [name] for name in names}


def train_blend(config: dict) -> list[tuple[str, float]]:
    """train.dataset as [(dataset, normalised weight)]: one dataset, or a weighted blend."""
    return parse_blend(config["train"]["dataset"], list(config["datasets"]))


def train_settings(config: dict) -> TrainSettings:
    """The pretraining stage's settings, ``train.dataset`` resolved; settings that cross keys are refused here,
    at parse time (a dry run), not when a job runs."""
    train = TrainSettings.from_config(config["train"], train_blend(config))
    tokenizer = config["tokenize"]["tokenizer"]
    if train.backend == "torch" and tokenizer and not os.path.isdir(tokenizer):
        raise ValueError(f"config tokenize.tokenizer: {tokenizer} is a paddlenlp built-in name, which the torch backend "
                         "(no paddlenlp) cannot load: give a folder with its vocab.txt")
    return train


def sample_map_settings(config: dict) -> SampleMapSettings:
    return train_settings(config).sample_map(config["index"])


def split_samples(config: dict) -> tuple[dict[str, int | None], dict[str, dict[str, int | None]]]:
    """Samples per split, and the samples each dataset's map holds per split: all of them, or its share of a
    blend (+0.5 %); None: one pass (valid, test)."""
    train = train_settings(config)
    total = map_samples(train)
    return total, {split: dataset_samples(count, train.dataset) for split, count in total.items()}


def vocab_txt(config: dict) -> str:
    """The vocab.txt that token ids and training use (vocab.scheme)."""
    return f"{config['results_dir']}/{VOCAB_DIRS[config['vocab']['scheme']]}/tokenizer/vocab.txt"


def reported_vocab_dirs(config: dict) -> list[str]:
    """The vocabularies the default target builds and reports: the one in use, or both with compare_schemes."""
    return list(VOCAB_DIRS.values()) if config["vocab"]["compare_schemes"] else [VOCAB_DIRS[config["vocab"]["scheme"]]]


def tokenizer_source(config: dict) -> tuple[str, list[str]]:
    """What token ids and training are tokenised with: tokenize.tokenizer (a folder, or a paddlenlp built-in
    name), or the vocab stage's folder; and the files of it the workflow tracks (none for a built-in name)."""
    own = os.path.dirname(vocab_txt(config))
    tokenizer = config["tokenize"]["tokenizer"] or own
    if config["tokenize"]["tokenizer"] and not os.path.isdir(tokenizer) and "/" in tokenizer:
        raise ValueError(f"config tokenize.tokenizer: {tokenizer} is not a folder (nor a paddlenlp built-in name)")
    return tokenizer, [f"{tokenizer}/vocab.txt"] if os.path.isdir(tokenizer) or tokenizer == own else []


def train_data(config: dict, job_input) -> TrainData:
    """What a training job reads, from its Snakemake input: ``ids`` and ``tokenizer``, and per split its sample maps
    (``train_maps``, ... in the blend's dataset order) and blending index (``train_blend``, ...; empty for one
    dataset)."""
    tokenizer = os.path.dirname(job_input.tokenizer[0]) if job_input.tokenizer else tokenizer_source(config)[0]
    blends = {split: getattr(job_input, f"{split}_blend") for split in SPLIT_NAMES}
    return TrainData(prefixes=[prefix_of(path) for path in job_input.ids], tokenizer=tokenizer,
                     index_maps={split: list(getattr(job_input, f"{split}_maps")) for split in SPLIT_NAMES},
                     sample_map=sample_map_settings(config),
                     blends={split: files[0] for split, files in blends.items()} if all(blends.values()) else None)


def eval_settings(config: dict) -> EvalSettings:
    return EvalSettings.from_config(config["eval"])


def eval_steps(config: dict) -> list[int]:
    """The checkpoints the evaluation fine-tunes (model_0 first); none without tasks."""
    settings = eval_settings(config)
    return settings.checkpoint_steps(save_points(train_settings(config))) if settings.tasks else []
