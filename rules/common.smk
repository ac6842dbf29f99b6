# Path helpers and input functions shared by the stage rules.
import os
import re
import sys

# The workflow's own package, importable whether or not it was pip-installed into this env.
sys.path.insert(0, os.path.join(workflow.basedir, "src"))

from ernie_pipeline.data.blend import dataset_samples, parse_blend
from ernie_pipeline.workflow import job_resources
from ernie_pipeline.data.index_map import SPLIT_NAMES, num_samples, parse_split
from ernie_pipeline.train.models import check_train_settings
from ernie_pipeline.corpus.readers import COMPRESSED_SUFFIXES, SUFFIXES

RESULTS = config["results_dir"]
DATASETS = config["datasets"]  # name -> {input_dir, format, input_key, on_error}, in config order
SAMPLE_DIR = config["sample"]["dir"]
SAMPLE_WUDAO_DIR = f"{SAMPLE_DIR}/wudao"
CPU_ENV = "../envs/ernie-cpu.yaml"
TRAIN_ENV = "../envs/ernie-gpu.yaml" if config["train"]["device"] == "gpu" else CPU_ENV


def dataset_setting(key):
    """Input function: one setting of the job's dataset (for params)."""
    return lambda wildcards: DATASETS[wildcards.dataset][key]


def uses_sample_corpus(dataset):
    """True when the dataset's input_dir is the folder the sample rule writes."""
    return os.path.normpath(DATASETS[dataset]["input_dir"]) == os.path.normpath(SAMPLE_WUDAO_DIR)


def sample_shard_names():
    return [f"part-{i:04d}.json" for i in range(config["sample"]["num_shards"])]


def raw_shard_names(dataset):
    """Shards of a dataset: each raw file below its input_dir (its path relative to that folder,
    so no two inputs share an output), or the sample's fixed shard names."""
    if uses_sample_corpus(dataset):
        return sample_shard_names()
    input_dir, fmt = DATASETS[dataset]["input_dir"], DATASETS[dataset]["format"]
    key = f"config datasets.{dataset}.input_dir"
    if not os.path.isdir(input_dir):
        raise WorkflowError(f"{key}: {input_dir} is not a folder")
    endings = tuple(s + c for s in SUFFIXES[fmt] for c in ("", *COMPRESSED_SUFFIXES))
    names = sorted(
        os.path.relpath(os.path.join(root, name), input_dir)
        for root, _dirs, files in os.walk(input_dir)
        for name in files
        if name.endswith(endings) and not name.startswith(".")
    )
    if not names:
        raise WorkflowError(f"{key}: no {'/'.join(endings)} files in {input_dir}")
    return names


def raw_shard(wildcards):
    return os.path.join(DATASETS[wildcards.dataset]["input_dir"], wildcards.shard)


def segmented_shards(wildcards):
    return expand(
        f"{RESULTS}/segmented/{{dataset}}/{{shard}}.jsonl",
        dataset=wildcards.dataset,
        shard=raw_shard_names(wildcards.dataset),
    )


def segmented_stats(wildcards):
    return [path.removesuffix(".jsonl") + ".stats.json" for path in segmented_shards(wildcards)]


def shard_token_files(kind):
    """Input function: the per-shard token files of the job's dataset (kind: ids, idx or stats)."""
    pattern = {"ids": "{shard}_ids.npy", "idx": "{shard}_idx.npz", "stats": "{shard}.stats.json"}[kind]
    return lambda wildcards: expand(
        f"{RESULTS}/token_ids/{{dataset}}/{pattern}",
        dataset=wildcards.dataset,
        shard=raw_shard_names(wildcards.dataset),
    )


def all_shards():
    """(dataset, shard) of every shard of every dataset, datasets sorted by name, so that reordering
    the datasets in config.yaml changes nothing."""
    return [(name, shard) for name in sorted(DATASETS) for shard in raw_shard_names(name)]


def every_shard(pattern):
    """``pattern`` (with {dataset} and {shard}) for each of all_shards()."""
    return [pattern.format(dataset=name, shard=shard) for name, shard in all_shards()]


def english_text():
    return config["vocab"]["english_text"]


def check_settings():
    """Settings that cross keys, refused at parse time (a dry run), not when a job runs."""
    try:
        check_train_settings(config["train"])
        parse_split(config["index"]["split"])
    except ValueError as err:
        raise WorkflowError(str(err))


check_settings()


def train_blend():
    """train.dataset as [(dataset, normalised weight)]: one dataset, or a weighted blend."""
    try:
        return parse_blend(config["train"]["dataset"], list(DATASETS))
    except ValueError as err:
        raise WorkflowError(str(err))


# vocab.scheme picks the vocabulary the token ids (and training) use; the default target builds and reports
# that one, or both with vocab.compare_schemes (scheme 2 reads the whole corpus in one job)
VOCAB_DIRS = {1: "vocab", 2: "vocab/scheme2"}
VOCAB_TXT = f"{RESULTS}/{VOCAB_DIRS[config['vocab']['scheme']]}/tokenizer/vocab.txt"
REPORTED_VOCAB_DIRS = (
    list(VOCAB_DIRS.values()) if config["vocab"]["compare_schemes"] else [VOCAB_DIRS[config["vocab"]["scheme"]]]
)
VOCAB_DIRS = list(VOCAB_DIRS.values())
# What token ids and training are tokenised with: tokenize.tokenizer, or the vocab stage's folder.
TOKENIZER = config["tokenize"]["tokenizer"] or os.path.dirname(VOCAB_TXT)
if config["tokenize"]["tokenizer"] and not os.path.isdir(TOKENIZER) and "/" in TOKENIZER:
    raise WorkflowError(f"config tokenize.tokenizer: {TOKENIZER} is not a folder (nor a paddlenlp built-in name)")
TOKENIZER_FILES = (
    [f"{TOKENIZER}/vocab.txt"] if os.path.isdir(TOKENIZER) or TOKENIZER == os.path.dirname(VOCAB_TXT) else []
)


def tokenizer_source(wildcards, input):
    """Param function: the tokenizer folder (from the job's vocab.txt input) or the built-in name."""
    return os.path.dirname(input.tokenizer[0]) if input.tokenizer else TOKENIZER


TRAIN_BLEND = train_blend()
TRAIN_DATASETS = [name for name, _ in TRAIN_BLEND]
# samples each dataset's map holds per split: all of them, or its share of a blend (+0.5 %)
TOTAL_SAMPLES = num_samples(config["train"])
SAMPLES = {split: dataset_samples(total, TRAIN_BLEND) for split, total in TOTAL_SAMPLES.items()}


def dataset_split_samples(wildcards):
    """Param function: samples of the job's dataset and split (a dataset training does not read: as if alone)."""
    return SAMPLES[wildcards.split].get(wildcards.dataset, TOTAL_SAMPLES[wildcards.split])


# Resource callables: what the heavy jobs ask SLURM for, from their inputs' sizes (ernie_pipeline.workflow.job_resources)
SEGMENT_SPEED_KEY = "jieba" if config["segment"]["segmenter"] == "jieba" else config["segment"]["engine"]


def segment_minutes(wildcards, input):
    return job_resources.segment_shard_minutes(
        input.size_mb, SEGMENT_SPEED_KEY, input.raw.endswith(COMPRESSED_SUFFIXES)
    )


def merge_mem_mb(wildcards, input):
    return job_resources.merge_mem_mb(input.size_mb, config["tokenize"]["merge_bucket_mb"])


def merge_minutes(wildcards, input):
    return job_resources.merge_minutes(input.size_mb)


def index_map_mem_mb(wildcards, input):
    share = parse_split(config["index"]["split"])[SPLIT_NAMES.index(wildcards.split)]
    return job_resources.index_map_mem_mb(dataset_split_samples(wildcards), os.path.getsize(input.idx) / 1e6, share)


def scheme2_vocab_mem_mb(wildcards, input):
    return job_resources.scheme2_vocab_mem_mb(input.size_mb)
