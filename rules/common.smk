# Path helpers and input functions shared by the stage rules.
import os
import sys

# The workflow's own package, importable whether or not it was pip-installed into this env.
sys.path.insert(0, os.path.join(workflow.basedir, "src"))

from ernie_pipeline.index_map import SPLIT_NAMES, num_samples
from ernie_pipeline.readers import COMPRESSED_SUFFIXES, SUFFIXES

RESULTS = config["results_dir"]
CORPUS = config["corpus"]["name"]
SAMPLE_DIR = config["sample"]["dir"]
SAMPLE_WUDAO_DIR = f"{SAMPLE_DIR}/wudao"
CPU_ENV = "../envs/ernie-cpu.yaml"
TRAIN_ENV = "../envs/ernie-gpu.yaml" if config["train"]["device"] == "gpu" else CPU_ENV

RAW_ENDINGS = tuple(s + c for s in SUFFIXES[config["corpus"]["format"]] for c in ("", *COMPRESSED_SUFFIXES))


def uses_sample_corpus():
    """True when corpus.input_dir is the folder the sample rule writes."""
    return os.path.normpath(config["corpus"]["input_dir"]) == os.path.normpath(SAMPLE_WUDAO_DIR)


def sample_shard_names():
    return [f"part-{i:04d}.json" for i in range(config["sample"]["num_shards"])]


def raw_shard_names():
    """Shards of the corpus: each raw file below corpus.input_dir (its path relative to that folder,
    so no two inputs share an output), or the sample's fixed shard names."""
    if uses_sample_corpus():
        return sample_shard_names()
    input_dir = config["corpus"]["input_dir"]
    if not os.path.isdir(input_dir):
        raise WorkflowError(f"config corpus.input_dir: {input_dir} is not a folder")
    names = sorted(
        os.path.relpath(os.path.join(root, name), input_dir)
        for root, _dirs, files in os.walk(input_dir)
        for name in files
        if name.endswith(RAW_ENDINGS) and not name.startswith(".")
    )
    if not names:
        raise WorkflowError(f"config corpus.input_dir: no {'/'.join(RAW_ENDINGS)} files in {input_dir}")
    return names


def raw_shard(wildcards):
    return os.path.join(config["corpus"]["input_dir"], wildcards.shard)


def segmented_shards(wildcards):
    return expand(f"{RESULTS}/segmented/{{corpus}}/{{shard}}.jsonl", corpus=wildcards.corpus,
                  shard=raw_shard_names())


def segmented_stats(wildcards):
    return [path.removesuffix(".jsonl") + ".stats.json" for path in segmented_shards(wildcards)]


def english_text():
    return config["vocab"]["english_text"]


TOKEN_IDS_PREFIX = f"{RESULTS}/token_ids/{CORPUS}"
SAMPLES_PER_SPLIT = num_samples(config["train"])
