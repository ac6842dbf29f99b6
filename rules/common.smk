# Wiring: the config's plan (ernie_pipeline.workflow.planning) as the names and input functions the stage
# rules use. Planning errors become WorkflowErrors, so a dry run refuses a bad config.
import os
import re
import sys

# The workflow's own package, importable whether or not it was pip-installed into this env: here, and in every
# job's script (they import it first: ernie_pipeline.workflow.job).
PACKAGE_DIR = os.path.join(workflow.basedir, "src")
sys.path.insert(0, PACKAGE_DIR)
# (set, not read from the user: not a variable for an envvars directive)
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [PACKAGE_DIR, os.environ.get("PYTHONPATH")])))

from ernie_pipeline.corpus.readers import COMPRESSED_SUFFIXES
from ernie_pipeline.index.index_map import SPLIT_NAMES, parse_split
from ernie_pipeline.settings import as_section
from ernie_pipeline.train import chain as training_chain
from ernie_pipeline.workflow import job_resources, planning


def planned(function, *args):
    """``planning.<function>(config, *args)``, its ValueError as a WorkflowError."""
    try:
        return function(config, *args)
    except ValueError as err:
        raise WorkflowError(str(err))


RESULTS = config["results_dir"]
DATASETS = config["datasets"]  # name -> {input_dir, format, input_key, on_error}, in config order
SAMPLE_DIR = config["sample"]["dir"]
SAMPLE_WUDAO_DIR = planning.sample_wudao_dir(config)
CPU_ENV = "../envs/ernie-cpu.yaml"
TRAIN_ENV = (
    "../envs/ernie-torch.yaml"
    if config["train"]["backend"] == "torch"
    else "../envs/ernie-gpu.yaml" if config["train"]["device"] == "gpu" else CPU_ENV
)
# the stages' settings objects, as the plain dicts a job's params carry (scripts rebuild the objects)
SAMPLE_MAP = as_section(planned(planning.sample_map_settings))


def dataset_setting(key):
    """Input function: one setting of the job's dataset (for params)."""
    return lambda wildcards: DATASETS[wildcards.dataset][key]


def sample_shard_names():
    return planning.sample_shard_names(config)


def raw_shard_names(dataset):
    return planned(planning.raw_shard_names, dataset)


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
    return planned(planning.all_shards)


def every_shard(pattern):
    """``pattern`` (with {dataset} and {shard}) for each of all_shards()."""
    return [pattern.format(dataset=name, shard=shard) for name, shard in all_shards()]


def english_text():
    return config["vocab"]["english_text"]


# The clean stage (ernie_pipeline.clean): its groups (a dataset each, or all of them) and the files they read.
CLEAN = planned(planning.clean_settings)
CLEAN_GROUPS = planned(planning.clean_groups)  # group -> datasets; empty: the stage removes nothing, never runs
BENCHMARK_FILES = planning.benchmark_files(config)
DECONTAMINATE = bool(BENCHMARK_FILES)
BENCHMARK_TASKS = planning.benchmark_tasks(config)
CLEAN_KEYS = CLEAN.candidate_keys
SIGNATURE_FILES = {
    kind: f"{RESULTS}/clean/signatures/{{dataset}}/{{shard}}.{kind}.{ext}"
    for kind, ext in (("docs", "npz"), ("minhash", "npy"), ("bands", "npy"))
}
CONTAMINATION_FILE = f"{RESULTS}/clean/contamination/{{dataset}}/{{shard}}.npz"


def clean_group_of(dataset):
    return next(group for group, names in CLEAN_GROUPS.items() if dataset in names)


def group_shard_list(wildcards):
    """Param function: (dataset, shard) of every shard of the job's group, in the order of its inputs."""
    return [[name, shard] for name, shard in all_shards() if name in CLEAN_GROUPS[wildcards.group]]


def group_files(pattern, needed=True):
    """Input function: ``pattern`` (with {dataset} and {shard}) for every shard of the job's group."""
    if not needed:
        return lambda wildcards: []
    return lambda wildcards: [pattern.format(dataset=d, shard=s) for d, s in group_shard_list(wildcards)]


def clean_decisions(wildcards):
    """Input function: the clean stage's decisions for the job's dataset (none when the stage is off)."""
    if not CLEAN_GROUPS:
        return []
    return f"{RESULTS}/clean/{clean_group_of(wildcards.dataset)}/decisions.npz"


# vocab.scheme picks the vocabulary the token ids (and training) use; the default target builds and reports
# that one, or both with vocab.compare_schemes (scheme 2 reads the whole corpus in one job)
VOCAB_DIRS = list(planning.VOCAB_DIRS.values())
REPORTED_VOCAB_DIRS = planning.reported_vocab_dirs(config)
TOKENIZER, TOKENIZER_FILES = planned(planning.tokenizer_source)


def tokenizer_source(wildcards, input):
    """Param function: the tokenizer folder (from the job's vocab.txt input) or the built-in name."""
    return os.path.dirname(input.tokenizer[0]) if input.tokenizer else TOKENIZER


TRAIN_BLEND = planned(planning.train_blend)
TRAIN_DATASETS = [name for name, _ in TRAIN_BLEND]
TOTAL_SAMPLES, SAMPLES = planning.split_samples(config)


def dataset_split_samples(wildcards):
    """Param function: samples of the job's dataset and split (a dataset training does not read: as if alone;
    None: one pass)."""
    return SAMPLES[wildcards.split].get(wildcards.dataset, TOTAL_SAMPLES[wildcards.split])


def one_pass_maps(wildcards):
    """Input function: the maps a valid or test blend is sized from (one pass over each dataset)."""
    if TOTAL_SAMPLES[wildcards.split] is not None:
        return []
    return expand(rules.index_map.output.index_map, dataset=TRAIN_DATASETS, split=wildcards.split)


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


def listed(paths):
    """A named input as a list: Snakemake gives a single path as a string."""
    return [paths] if isinstance(paths, str) else list(paths)


def _largest_mb(paths):
    return max([os.path.getsize(p) / 1e6 for p in paths if os.path.exists(p)] or [0])


def clean_signatures_mem_mb(wildcards, input):
    return job_resources.clean_signatures_mem_mb(input.size_mb)


def clean_benchmark_mem_mb(wildcards, input):
    return job_resources.clean_benchmark_mem_mb(input.size_mb)


def clean_contamination_mem_mb(wildcards, input):
    return job_resources.clean_contamination_mem_mb(_largest_mb(listed(input.table)))


def clean_partition_mem_mb(wildcards, input):
    return job_resources.clean_partition_mem_mb(CLEAN.partition_mb, _largest_mb(input.docs))


def clean_duplicates_mem_mb(wildcards, input, attempt):
    pairs_mb = sum(os.path.getsize(p) / 1e6 for p in input.pairs if os.path.exists(p))
    return job_resources.clean_duplicates_mem_mb(pairs_mb, _largest_mb(input.docs), attempt)


def clean_decisions_mem_mb(wildcards, input):
    return job_resources.clean_decisions_mem_mb(_largest_mb(listed(input.duplicates)), _largest_mb(input.docs))


# The training chain (ernie_pipeline.train.chain): model_0, then a checkpoint per save point.
PRETRAIN = f"{RESULTS}/pretrain"
TRAIN_SETTINGS = planned(planning.train_settings)
TRAJECTORY = training_chain.trajectory(TRAIN_SETTINGS)  # the params of every checkpoint: what its weights depend on
SAVE_POINTS = training_chain.save_points(TRAIN_SETTINGS)


def train_inputs(wildcards):
    """What the training jobs read (the sample maps do not grow with max_steps up to the run's horizon, nor
    with the evaluation cadence: see ernie_pipeline.index.index_map)."""
    return {
        "ids": expand(rules.merge_token_ids.output.ids, dataset=TRAIN_DATASETS),
        "idx": expand(rules.merge_token_ids.output.idx, dataset=TRAIN_DATASETS),
        "tokenizer": TOKENIZER_FILES,
        **{
            f"{split}_maps": expand(rules.index_map.output.index_map, dataset=TRAIN_DATASETS, split=split)
            for split in SPLIT_NAMES
        },
        **{
            f"{split}_blend": expand(rules.blend_index.output.blend, split=split) if len(TRAIN_BLEND) > 1 else []
            for split in SPLIT_NAMES
        },
    }


def previous_checkpoint(wildcards):
    return f"{PRETRAIN}/model_{training_chain.previous_save_point(TRAIN_SETTINGS, int(wildcards.step))}"


def train_job_group(wildcards):
    return training_chain.job_group(TRAIN_SETTINGS, int(wildcards.step))


# The evaluation grid (ernie_pipeline.evaluate.grid): which checkpoints, tasks and grid points.
EVAL = planned(planning.eval_settings)
EVAL_STEPS = planned(planning.eval_steps)


def eval_task_files(wildcards):
    task = EVAL.tasks[wildcards.task]
    return [task.train, task.dev, task.test]
