"""The Snakemake workflow end to end on the tiny config (shared run), and its DAG behaviour."""

import re
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, run_snakemake, validated
from plans import job_dag, planned_jobs, planned_outputs


def _split_samples(config: dict) -> dict[str, int]:
    """The samples per split that training on ``config`` needs (as the workflow plans them)."""
    import copy

    from ernie_pipeline.workflow import planning

    return planning.split_samples(validated(copy.deepcopy(config)))[0]


def test_every_artifact_exists(artifacts):
    results = artifacts["workdir"] / "results"
    expected = [
        "segmented/tiny/part-0000.json.jsonl", "segmented/tiny/part-0001.json.jsonl", "corpus/tiny.jsonl",
        "segmented/tiny/part-0000.json.stats.json", "corpus/tiny.stats.json",
        "vocab/char_counts/tiny/part-0000.json.json", "vocab/heldout/tiny/part-0001.json.jsonl",
        "vocab/coverage/coverage.json", "vocab/coverage/coverage.tsv", "vocab/coverage/coverage.png",
        "vocab/scheme2/pretokenized.txt", "vocab/scheme2/spm.model", "vocab/scheme2/tokenizer/vocab.txt",
        "vocab/scheme2/coverage/coverage.json",
        "vocab/char_dict.pickle", "vocab/eng.model", "vocab/eng.vocab", "vocab/tokenizer/vocab.txt",
        "token_ids/tokenizer_tables.npz", "token_ids/tiny/part-0000.json_ids.npy", "token_ids/tiny/part-0001.json_idx.npz",
        "token_ids/tiny/part-0001.json.stats.json",
        "token_ids/tiny_ids.npy", "token_ids/tiny_idx.npz", "token_ids/tiny.stats.json", "token_ids/tiny.bin",
        "token_ids/tiny.idx",
        *(f"index/tiny_{s}_indexmap.npy{x}" for s in ("train", "valid", "test") for x in ("", ".json")),
        "pretrain/model_0/model_state.pdparams", "pretrain/model_3/trainer_state.json",
        "pretrain/model_6/model_state.pdparams", "pretrain/model_6/vocab.txt", "pretrain/model_6/train_log.jsonl",
        "pretrain/summary.json", "pretrain/training_curve.png",
    ]
    missing = [p for p in expected if not (results / p).is_file()]
    assert not missing
    assert not list(results.rglob(".*.tmp"))
    assert (artifacts["workdir"] / "data/sample/wudao/part-0001.json").is_file()


def test_second_run_has_nothing_to_do(artifacts):
    assert planned_jobs(artifacts["workdir"]) == {}  # the default target: training and the coverage report


# a changed trajectory: the initial weights, every link of the chain (model_3, model_6) and the summary
CHAIN = {"init_model": 1, "train_checkpoint": 2, "pretrain": 1}


def clean_jobs(groups: int, shards: int) -> dict:
    """The clean stage's jobs for ``groups`` datasets of ``shards`` shards in all (default settings, no eval task)."""
    return {"clean_signatures": shards, "clean_candidates": 15 * groups, "clean_duplicates": groups,
            "clean_boilerplate": groups, "clean_decisions": groups}


def _plan_with(workdir, config: dict, *targets: str, outputs_of: str | None = None):
    """The jobs (or, with ``outputs_of``, that rule's planned files) a run with ``config`` would make."""
    (workdir / "changed.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    args = (*targets, "--configfile", str(workdir / "changed.yaml"))
    return planned_outputs(workdir, *args, rule=outputs_of) if outputs_of else planned_jobs(workdir, *args)


def _with(config: dict, section: str, **changes) -> dict:
    return {**config, section: {**config[section], **changes}}


def test_changed_parameter_reruns_exactly_its_stage_and_dependents(artifacts):
    workdir = artifacts["workdir"]
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    assert _plan_with(workdir, _with(config, "vocab", min_char_count=6), "pretrain") == {
        "merge_vocab": 1, "tokenizer_tables": 1, "token_ids_shard": 2, "merge_token_ids": 1, "index_map": 3, **CHAIN}
    # another held-out slice: every shard's counts, then everything built on the vocabulary
    assert _plan_with(workdir, _with(config, "vocab", heldout_fraction=0.1)) == {
        "char_counts": 2, "char_dict": 1, "merge_vocab": 1, "scheme2_text": 1, "scheme2_vocab": 1, "vocab_coverage": 2,
        "tokenizer_tables": 1, "token_ids_shard": 2, "merge_token_ids": 1, "index_map": 3, **CHAIN}
    assert _plan_with(workdir, _with(config, "train", max_lr=0.002), "pretrain") == CHAIN
    # more steps: the schedule follows from max_steps (decay_steps null), so every link; a train map of 9 steps
    # (valid and test hold one pass whatever the run reads)
    more = _with(config, "train", max_steps=9)
    assert _plan_with(workdir, more, "pretrain") == {"index_map": 1, **CHAIN, "train_checkpoint": 3}
    assert _plan_with(workdir, more, "pretrain", outputs_of="index_map") == [
        "results/index/tiny_train_indexmap.npy", "results/index/tiny_train_indexmap.npy.json"]
    # settings that do not change the weights make no checkpoint stale (test_iters: the summary's test loss)
    neutral = _with(config, "train", logging_freq=2, eval_freq=2, eval_iters=3, threads=1, num_workers=2,
                    nproc_per_node=2, checkpoint_steps=1, steps_per_job=6, recompute=True)
    assert _plan_with(workdir, neutral, "pretrain") == {}
    assert _plan_with(workdir, _with(config, "train", test_iters=2), "pretrain") == {"pretrain": 1}


def test_raising_max_steps_with_the_schedule_in_steps_trains_only_the_new_links(artifacts, tmp_path):
    """decay_steps and warmup_steps given: the chain's checkpoints do not depend on max_steps, so a larger one
    plans only its new links (and the summary), up to the horizon the train map was built for; past it, a
    larger train map, and every link again. --summary lists every checkpoint with its state."""
    import shutil

    from ernie_pipeline.workflow.where import read_summary

    workdir = tmp_path / "w"
    shutil.copytree(artifacts["workdir"], workdir, symlinks=True)
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["train"].update(decay_steps=12, warmup_steps=1)
    _write_config(workdir, config)
    assert planned_jobs(workdir, "pretrain") == {"index_map": 1, **CHAIN}  # a new schedule and horizon
    run_snakemake(workdir, "pretrain")

    assert _plan_with(workdir, _with(config, "train", max_steps=9), "pretrain") == {"train_checkpoint": 1, "pretrain": 1}
    assert _plan_with(workdir, _with(config, "train", max_steps=9), "pretrain", outputs_of="train_checkpoint") == [
        "results/pretrain/model_9"]
    assert _plan_with(workdir, _with(config, "train", max_steps=12), "pretrain") == {"train_checkpoint": 2, "pretrain": 1}
    past_horizon = _plan_with(workdir, _with(config, "train", max_steps=13), "pretrain")
    assert past_horizon == {"index_map": 1, "train_checkpoint": 5, "pretrain": 1}

    (workdir / "changed.yaml").write_text(yaml.safe_dump(_with(config, "train", max_steps=9), allow_unicode=True))
    summary = run_snakemake(workdir, "--summary", "pretrain", "--configfile", str(workdir / "changed.yaml")).stdout
    status = {row["output_file"]: (row["status"], row["plan"]) for row in read_summary(summary)
              if row["rule"] in ("init_model", "train_checkpoint")}
    assert status == {"results/pretrain/model_0": ("ok", "no update"), "results/pretrain/model_3": ("ok", "no update"),
                      "results/pretrain/model_6": ("ok", "no update"),
                      "results/pretrain/model_9": ("missing", "update pending")}
    (workdir / "changed.yaml").write_text(yaml.safe_dump(_with(config, "train", seed=7), allow_unicode=True))
    summary = run_snakemake(workdir, "--summary", "pretrain", "--configfile", str(workdir / "changed.yaml")).stdout
    stale = {row["output_file"]: row["status"] for row in read_summary(summary) if row["rule"] == "train_checkpoint"}
    assert stale["results/pretrain/model_3"] == "params changed", stale  # says why it would be rebuilt


def test_a_checkpoint_is_a_target_of_its_own(tmp_path):
    """snakemake results/pretrain/model_3 trains up to step 3 and nothing more; a step that is not a save point
    has no rule."""
    from conftest import tiny_config

    tiny_config(tmp_path)
    jobs = job_dag(tmp_path, "results/pretrain/model_3")
    assert [job.rule for job in jobs if job.rule in ("init_model", "train_checkpoint", "pretrain")] == [
        "train_checkpoint", "init_model"]
    assert next(job for job in jobs if job.rule == "train_checkpoint").wildcards == {"step": "3"}
    result = run_snakemake(tmp_path, "-n", "results/pretrain/model_4", check=False)
    assert result.returncode != 0 and "No rule to produce results/pretrain/model_4" in result.stdout + result.stderr


@pytest.mark.parametrize("section, key, value", [
    ("index", "split", "7,2,1"), ("index", "short_seq_prob", 0.3), ("train", "seed", 7),
    ("train", "max_seq_len", 96), ("train", "binary_head", False), ("train", "global_batch_size", 12),
    ("tokenize", "max_word_length", 3), ("train", "masked_lm_prob", 0.2),
])
def test_each_index_map_key_rebuilds_exactly_the_affected_maps(section, key, value, artifacts):
    """Every setting that determines a sample map (data, split, lengths, probability, seed, sample count,
    binary_head) rebuilds the maps it changes, and only those; a masking setting rebuilds none. The chain is
    retrained from its initial weights where the setting is one of training's, from model_0 otherwise."""
    workdir = artifacts["workdir"]
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    changed = _with(config, section, **{key: value})
    planned = _plan_with(workdir, changed, "pretrain")
    if key == "global_batch_size":  # only the train split's map holds a count of samples
        maps = 1
    else:
        maps = 0 if key == "masked_lm_prob" else 3
    expected = {**CHAIN, **({"index_map": maps} if maps else {})}
    if section != "train":
        del expected["init_model"]
    if section == "tokenize":
        expected.update(token_ids_shard=2, merge_token_ids=1)
    assert planned == expected


def test_lint_is_clean():
    """snakemake --lint exits non-zero when it prints any lint."""
    result = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_slurm_profile_dry_run_asks_a_gpu_for_every_link_of_the_chain(tmp_path):
    """The default config (300 steps, a checkpoint every 100) as SLURM jobs: each link of the chain and the
    summary's test evaluation get a GPU; with train.steps_per_job 200 the links of steps 1-200 share a job."""
    (tmp_path / "longer_jobs.yaml").write_text("train: {steps_per_job: 200}\n")
    plans = []
    for extra in ([], [str(tmp_path / "longer_jobs.yaml")]):
        result = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "profiles/slurm", "-n", "pretrain",
                                 "--directory", str(tmp_path), "--snakefile", str(REPO / "Snakefile"),
                                 "--configfile", str(REPO / "config.yaml"), *extra],
                                cwd=REPO, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        plans.append(result.stdout)
    plan = plans[0]
    links = [block for block in plan.split("\n\n") if "rule train_checkpoint:" in block]
    assert sorted(re.search(r"output: (\S+)", block).group(1) for block in links) == [
        "results/pretrain/model_100", "results/pretrain/model_200", "results/pretrain/model_300"]
    for block in links + [block for block in plan.split("\n\n") if "rule pretrain:" in block]:
        assert re.search(r"resources:.*gpu=1", block) and "slurm_partition=gpu" in block, block
    assert "group" not in " ".join(links)
    init = next(block for block in plan.split("\n\n") if "rule init_model:" in block)
    assert "slurm_partition=cpu" in init
    segment = plan[plan.index("rule segment_shard:"):]
    assert "slurm_partition=cpu" in segment.split("\n\n")[0]
    # the sample's shards of a stage are one SLURM job (group-components 20 and 50)
    assert plan.count("Group job segment_shards") == 1 and plan.count("Group job token_ids_shards") == 1
    assert plan.count("rule segment_shard:") == plan.count("rule token_ids_shard:") > 1
    grouped = plans[1]
    assert grouped.count("Group job pretrain_steps_1-200") == 1 and grouped.count("Group job pretrain_steps_201-300") == 1


def test_jobs_import_the_workflows_own_package_in_any_environment(tmp_path):
    """rules/common.smk puts the workflow's src/ on the jobs' PYTHONPATH: a copy of the workflow elsewhere runs
    its own package in its jobs, not the one installed in the environment, with no PYTHONPATH given."""
    import os
    import shutil

    from conftest import tiny_config

    copy = tmp_path / "copy"
    for name in subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, check=True, capture_output=True, text=True).stdout.split():
        if (REPO / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, copy / name)
    job = copy / "src/ernie_pipeline/workflow/job.py"
    job.write_text(job.read_text().replace("    logs.to_file(snakemake.log[0])\n",
                                           "    logs.to_file(snakemake.log[0])\n    print('job from', __file__)\n"))
    workdir = tmp_path / "w"
    workdir.mkdir()
    tiny_config(workdir)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(copy / "Snakefile"), "--directory",
                             str(workdir), "--configfile", str(workdir / "config.yaml"), "--cores", "1",
                             "data/sample/english.txt"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"job from {job}" in (workdir / "results/logs/sample_english.log").read_text()


def test_where_lists_every_artifact(artifacts):
    workdir = artifacts["workdir"]
    result = subprocess.run([sys.executable, "-m", "ernie_pipeline.workflow.where", "--snakefile", str(REPO / "Snakefile"),
                             "--directory", str(workdir), "--configfile", str(workdir / "config.yaml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert any(re.match(r"\s+pretrain\s+ok\s+results/pretrain/summary\.json$", line) for line in lines), result.stdout
    assert any(re.match(r"\s+merge_vocab\s+ok\s+results/vocab/tokenizer/vocab\.txt$", line) for line in lines)


def test_data_artifacts_are_byte_identical_across_runs(artifacts, tmp_path):
    """A second run in another folder reproduces every data artifact byte for byte."""
    from conftest import tiny_config

    config = tiny_config(tmp_path)
    targets = [f"results/index/tiny_{s}_indexmap.npy" for s in ("train", "valid", "test")]
    targets += ["results/vocab/coverage/coverage.png", "results/vocab/scheme2/coverage/coverage.png",
                "results/corpus/tiny.jsonl"]
    run_snakemake(tmp_path, *targets)
    first = artifacts["workdir"] / "results"
    compared = 0
    for path in sorted((tmp_path / "results").rglob("*")):
        relative = path.relative_to(tmp_path / "results")
        if path.is_file() and relative.parts[0] not in ("logs", "benchmarks"):
            assert path.read_bytes() == (first / relative).read_bytes(), relative
            compared += 1
    # segmented shards + stats, corpus + stats, shard counts + held-out, vocab files, per-shard ids + idx +
    # stats, merged ids + idx + stats + bin + idx, tokenizer tables, index maps, coverage report (the PNG
    # included); scheme 2's text, model, pieces, vocab.txt and coverage report; the clean stage's signatures
    # (3 per shard), candidate pairs (exact + 14 bands), duplicates (+ stats), boilerplate lines, decisions (+ stats,
    # the PNG)
    clean = 2 * 3 + 15 + 2 + 1 + 3
    assert compared == 2 * 2 + 2 + 2 * 2 + 4 + 2 * 3 + 5 + 1 + 6 + 3 + 4 + 3 + clean
    assert list(config["datasets"]) == ["tiny"]


def test_user_corpus_shards_are_every_raw_file_without_collisions(tmp_path):
    from conftest import tiny_config

    config = tiny_config(tmp_path)
    raw = tmp_path / "raw"
    for name in ("a/part-1.json", "b/part-1.json", "c.json.gz", "notes.txt", ".hidden.json"):
        (raw / name).parent.mkdir(parents=True, exist_ok=True)
        (raw / name).write_bytes(b"[]")
    config["datasets"]["tiny"]["input_dir"] = str(raw)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    planned = planned_jobs(tmp_path, "results/corpus/tiny.jsonl")
    assert planned["segment_shard"] == 3 and "sample_chinese" not in planned
    outputs = set(planned_outputs(tmp_path, "results/corpus/tiny.jsonl", rule="segment_shard"))
    assert {path for path in outputs if path.endswith(".jsonl")} == {"results/segmented/tiny/a/part-1.json.jsonl", "results/segmented/tiny/b/part-1.json.jsonl",
                       "results/segmented/tiny/c.json.gz.jsonl"}


def test_corpus_stats_add_up(artifacts):
    import json

    results = artifacts["workdir"] / "results"
    stats = json.loads((results / "corpus/tiny.stats.json").read_text())
    assert len(stats["shards"]) == 2
    assert stats["totals"]["documents"] + stats["totals"]["empty_documents"] == 240
    assert stats["totals"]["skipped"] == {}
    assert stats["merge"]["documents_read"] == stats["totals"]["documents"]
    written = len((results / "corpus/tiny.jsonl").read_text(encoding="utf-8").splitlines())
    merge = stats["merge"]
    assert merge["documents_written"] == written == merge["documents_read"] - merge["dropped_short"] - merge["removed_by_clean"]


def test_new_raw_file_resegments_only_itself(inews_docs, tmp_path):
    import json

    from conftest import tiny_config

    config = tiny_config(tmp_path)
    raw = tmp_path / "raw"
    raw.mkdir()
    for i in range(2):
        (raw / f"part-{i}.jsonl").write_text("".join(
            json.dumps({"text": d["content"]}, ensure_ascii=False) + "\n" for d in inews_docs[3 * i:3 * i + 3]),
            encoding="utf-8")
    config["datasets"]["tiny"].update(input_dir="raw", format="jsonl")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    run_snakemake(tmp_path, "results/corpus/tiny.jsonl")
    (raw / "part-2.jsonl").write_text(json.dumps({"text": inews_docs[9]["content"]}, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    clean = {"clean_candidates": 15, "clean_duplicates": 1, "clean_boilerplate": 1, "clean_decisions": 1}
    assert planned_jobs(tmp_path, "results/corpus/tiny.jsonl") == {"segment_shard": 1, "clean_signatures": 1, **clean,
                                                                   "corpus_jsonl": 1}
    assert planned_outputs(tmp_path, "results/corpus/tiny.jsonl", rule="segment_shard") == [
        "results/segmented/tiny/part-2.jsonl.jsonl", "results/segmented/tiny/part-2.jsonl.stats.json"]
    config["segment"]["segmenter"] = "jieba"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    assert planned_jobs(tmp_path, "results/corpus/tiny.jsonl") == {"segment_shard": 3, "clean_signatures": 3, **clean,
                                                                   "corpus_jsonl": 1}


def test_new_raw_file_tokenises_only_itself_with_a_fixed_tokenizer(inews_docs, artifacts, tmp_path):
    """With tokenize.tokenizer set (a released vocabulary), a new shard is segmented and tokenised alone and
    the dataset's token files are merged again; nothing else runs."""
    import json
    import shutil

    from conftest import tiny_config

    config = tiny_config(tmp_path)
    shutil.copytree(artifacts["vocab_dir"], tmp_path / "released")
    raw = tmp_path / "raw"
    raw.mkdir()
    for i in range(2):
        (raw / f"part-{i}.jsonl").write_text(json.dumps({"text": inews_docs[i]["content"]}, ensure_ascii=False) + "\n",
                                             encoding="utf-8")
    config["datasets"]["tiny"].update(input_dir="raw", format="jsonl")
    config["tokenize"]["tokenizer"] = "released"
    _write_config(tmp_path, config)
    run_snakemake(tmp_path, "results/token_ids/tiny_ids.npy")
    (raw / "part-2.jsonl").write_text(json.dumps({"text": inews_docs[2]["content"]}, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    target = "results/token_ids/tiny_ids.npy"
    clean = {"clean_signatures": 1, "clean_candidates": 15, "clean_duplicates": 1, "clean_boilerplate": 1,
             "clean_decisions": 1}
    assert planned_jobs(tmp_path, target) == {"segment_shard": 1, **clean, "token_ids_shard": 1, "merge_token_ids": 1}
    assert planned_outputs(tmp_path, target, rule="token_ids_shard")[0] == "results/token_ids/tiny/part-2.jsonl_ids.npy"


def _write_config(workdir, config):
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))


def test_two_datasets_each_get_their_own_chain_of_artifacts(inews_docs, tmp_path):
    """The sample (wudao) plus a clue-format dataset written from short real sample documents."""
    import json

    from conftest import tiny_config
    from ernie_pipeline.segment.sentences import split_sentences

    config = tiny_config(tmp_path)
    short = [d["content"].replace("\n", " ").strip() for d in inews_docs[1000:] if 20 < len(d["content"]) < 150][:36]
    too_long = short[0] * (1_000_000 // len(short[0]) + 1)  # over segment.max_document_chars
    raw = tmp_path / "news_raw"
    (raw / "a").mkdir(parents=True)
    (raw / "a/news-1.txt").write_text("\n".join(short[:18]) + "\n", encoding="utf-8")
    (raw / "news-2.txt").write_bytes("\n".join(short[18:]).encode() + b"\n" + short[1].encode("gb18030") + b"\n"
                                     + too_long.encode() + b"\n")
    config["datasets"]["news"] = {"input_dir": "news_raw", "format": "clue", "on_error": "skip"}
    _write_config(tmp_path, config)

    assert {p for p in planned_outputs(tmp_path, "pretrain", rule="segment_shard") if p.endswith(".jsonl")} == {
        "results/segmented/tiny/part-0000.json.jsonl", "results/segmented/tiny/part-0001.json.jsonl",
        "results/segmented/news/a/news-1.txt.jsonl", "results/segmented/news/news-2.txt.jsonl"}
    # the vocabulary counts both corpora; training (train.dataset: null) uses the first dataset
    char_dict = next(job for job in job_dag(tmp_path, "pretrain") if job.rule == "char_dict")
    # (a job's label names the wildcards it does not share with its dependencies: the shard's are segment_shard's)
    counted = [(job.rule, *job.dependencies) for job in char_dict.dependencies]
    assert sorted((rule, shard.wildcards["dataset"], shard.wildcards["shard"]) for rule, shard in counted) == [
        ("char_counts", "news", "a/news-1.txt"), ("char_counts", "news", "news-2.txt"),
        ("char_counts", "tiny", "part-0000.json"), ("char_counts", "tiny", "part-0001.json")]
    assert planned_jobs(tmp_path, "pretrain") == {"sample_chinese": 1, "segment_shard": 4, "char_counts": 4, "char_dict": 1,
                                  "sample_english": 1, "english_bpe": 1, "merge_vocab": 1, "tokenizer_tables": 1,
                                  "token_ids_shard": 2, "merge_token_ids": 1, "index_map": 3, **CHAIN,
                                  **clean_jobs(1, 2)}
    assert planned_outputs(tmp_path, "pretrain", rule="merge_token_ids")[0] == "results/token_ids/tiny_ids.npy"

    run_snakemake(tmp_path, "results/corpus/news.jsonl")
    results = tmp_path / "results"
    assert not (tmp_path / "data/sample").exists()  # nothing of the other dataset was built
    stats = json.loads((results / "corpus/news.stats.json").read_text())
    assert [s["shard"] for s in stats["shards"]] == ["news_raw/a/news-1.txt", "news_raw/news-2.txt"]
    assert stats["shards"][1]["skipped"] == {"invalid_utf8": 1, "too_long": 1}
    assert stats["shards"][1]["skipped_examples"] == [
        "news_raw/news-2.txt:19: invalid UTF-8 at byte 0 of the line",
        f"news_raw/news-2.txt:20: document of {len(too_long):,} characters is longer than "
        "segment.max_document_chars (1,000,000)"]
    assert stats["totals"]["documents"] == 36 and stats["totals"]["skipped"] == {"invalid_utf8": 1, "too_long": 1}
    lines = (results / "corpus/news.jsonl").read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["text"].replace(" ", "").replace("\n", "") for line in lines) == sorted(
        "".join(split_sentences(d)).replace(" ", "") for d in short)
    assert (results / "segmented/news/a/news-1.txt.stats.json").is_file()


def test_train_dataset_picks_the_dataset_and_must_be_one(tmp_path):
    from conftest import tiny_config

    config = tiny_config(tmp_path)
    config["datasets"]["other"] = dict(config["datasets"]["tiny"])
    config["train"]["dataset"] = "other"
    _write_config(tmp_path, config)
    planned = planned_outputs(tmp_path, "pretrain")
    assert {re.sub(r"^results/(token_ids|index)/(\w+?)_.*", r"\2", p) for p in planned
            if re.match(r"results/(token_ids/\w+_ids\.npy|index/)", p)} == {"other"}

    config["train"]["dataset"] = "inews"
    _write_config(tmp_path, config)
    result = run_snakemake(tmp_path, "-n", "pretrain", check=False)
    assert result.returncode != 0
    assert "config train.dataset: 'inews' is not a dataset (datasets: tiny, other)" in result.stdout + result.stderr

    # the dataset wildcard only matches configured names
    config["train"]["dataset"] = None
    _write_config(tmp_path, config)
    result = run_snakemake(tmp_path, "-n", "results/corpus/inews.jsonl", check=False)
    assert result.returncode != 0 and "No rule to produce results/corpus/inews.jsonl" in result.stdout + result.stderr


def test_tokenizer_by_built_in_name_needs_no_vocabulary_stage(tmp_path):
    """tokenize.tokenizer: a paddlenlp name (downloaded by paddlenlp): no vocabulary is built for the token ids
    or training, and the name reaches both jobs; a path that is not a folder is refused."""
    from conftest import tiny_config

    config = tiny_config(tmp_path)
    config["tokenize"]["tokenizer"] = "ernie-1.0-base-zh"
    _write_config(tmp_path, config)
    # no job of the DAG makes a vocabulary (so neither tokenizer_tables nor pretrain reads one)
    rules = {job.rule for job in job_dag(tmp_path, "pretrain")}
    assert {"tokenizer_tables", "pretrain"} <= rules and not rules & {"merge_vocab", "scheme2_vocab", "char_dict"}
    config["tokenize"]["tokenizer"] = "released/vocab"
    _write_config(tmp_path, config)
    result = run_snakemake(tmp_path, "-n", "pretrain", check=False)
    assert result.returncode != 0
    assert "config tokenize.tokenizer: released/vocab is not a folder" in result.stdout + result.stderr


def test_blend_trains_on_two_datasets_with_their_maps_and_blend_indices(artifacts, tmp_path):
    """train.dataset "1 tiny 3 other": each dataset's train map holds its share (+0.5 %) of the train samples,
    its valid and test maps one pass; a blending index per split says where each sample comes from (valid and
    test: the longest blend whose every share fits in one pass), and training runs on the blend. With a fixed
    tokenizer (tokenize.tokenizer) nothing of the vocabulary stage is needed."""
    import json
    import math
    import shutil

    from conftest import tiny_config

    config = tiny_config(tmp_path)
    shutil.copytree(artifacts["vocab_dir"], tmp_path / "released")
    shutil.copytree(artifacts["workdir"] / "data", tmp_path / "data")
    config["datasets"]["other"] = dict(config["datasets"]["tiny"])
    config["tokenize"]["tokenizer"] = "released"
    config["train"]["dataset"] = "1 tiny 3 other"
    _write_config(tmp_path, config)
    assert planned_jobs(tmp_path, "pretrain") == {"segment_shard": 4, "tokenizer_tables": 1, "token_ids_shard": 4,
                                                  "merge_token_ids": 2, "index_map": 6, "blend_index": 3, **CHAIN,
                                                  **clean_jobs(2, 4)}
    config["train"]["dataset"] = {"tiny": 1, "other": 3}  # the same blend as a mapping
    _write_config(tmp_path, config)
    run_snakemake(tmp_path, "pretrain")
    results = tmp_path / "results"
    totals = _split_samples(config)
    assert totals["valid"] is totals["test"] is None
    for split, total in totals.items():
        blend = json.loads((results / f"index/blend_{split}.npz.json").read_text())
        assert blend["datasets"] == ["tiny", "other"] and blend["weights"] == [0.25, 0.75]
        records = [json.loads((results / f"index/{name}_{split}_indexmap.npy.json").read_text())
                   for name in blend["datasets"]]
        if split == "train":
            assert blend["sizes"] == [math.ceil(total * w * 1.005) for w in (0.25, 0.75)]
            assert [r["num_samples"] for r in records] == blend["sizes"]
        else:
            assert [r["num_samples"] for r in records] == [None, None]
            longest = min(r["rows"] / w for r, w in zip(records, (0.25, 0.75)))
            assert blend["sizes"] == [math.floor(longest * w / 1.005) for w in (0.25, 0.75)]
            assert all(size <= r["rows"] for size, r in zip(blend["sizes"], records))
    summary = json.loads((results / "pretrain/summary.json").read_text())
    assert summary["steps"] == config["train"]["max_steps"] and math.isfinite(summary["test"]["loss"])
    assert planned_jobs(tmp_path, "pretrain") == {}


def test_bad_blend_is_a_clear_error(tmp_path):
    from conftest import tiny_config

    config = tiny_config(tmp_path)
    config["train"]["dataset"] = "1 tiny 3"
    _write_config(tmp_path, config)
    result = run_snakemake(tmp_path, "-n", "pretrain", check=False)
    assert result.returncode != 0
    assert "config train.dataset: '1 tiny 3' is not 'weight dataset weight dataset ...'" in result.stdout + result.stderr


@pytest.mark.parametrize("name", ["a/b", "..", ".hidden", "名字", ""])
def test_dataset_names_are_safe_file_names(name):
    from snakemake.utils import validate

    config = yaml.safe_load((REPO / "tests/config.tiny.yaml").read_text())
    config["datasets"] = {name: config["datasets"]["tiny"]}
    with pytest.raises(Exception, match="does not match"):
        validate(config, str(REPO / "schemas/config.schema.yaml"))


def test_schema_fills_each_datasets_defaults():
    from snakemake.utils import validate

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["datasets"]["more.v2_x-1"] = {"input_dir": "elsewhere"}
    validate(config, str(REPO / "schemas/config.schema.yaml"))
    assert config["datasets"]["more.v2_x-1"] == {"input_dir": "elsewhere", "format": "wudao", "input_key": None,
                                                 "on_error": "fail"}


def test_the_default_target_builds_scheme_2_only_where_asked_for(tmp_path):
    """Scheme 2 tokenises the whole corpus in one job: the default target plans it for vocab.scheme: 2 or
    vocab.compare_schemes only, and the coverage report of each vocabulary it builds."""
    from conftest import tiny_config

    config = tiny_config(tmp_path)
    for scheme, compare, scheme2_jobs, scheme1_jobs, reports in ((1, False, 0, 1, 1), (2, False, 1, 0, 1),
                                                                 (1, True, 1, 1, 2)):
        config["vocab"].update(scheme=scheme, compare_schemes=compare)
        _write_config(tmp_path, config)
        jobs = planned_jobs(tmp_path)
        assert (jobs.get("scheme2_text", 0), jobs.get("scheme2_vocab", 0)) == (scheme2_jobs, scheme2_jobs), jobs
        assert jobs.get("merge_vocab", 0) == scheme1_jobs and jobs["vocab_coverage"] == reports, (scheme, compare, jobs)


def test_vocab_scheme_picks_the_vocabulary_of_token_ids_and_training(tmp_path):
    from conftest import tiny_config

    config = tiny_config(tmp_path)
    for scheme, maker in ((1, "merge_vocab"), (2, "scheme2_vocab")):
        config["vocab"]["scheme"] = scheme
        _write_config(tmp_path, config)
        jobs = {job.rule: job for job in job_dag(tmp_path, "pretrain")}
        for rule in ("tokenizer_tables", "pretrain"):
            vocabularies = {dep.rule for dep in jobs[rule].dependencies} & {"merge_vocab", "scheme2_vocab"}
            assert vocabularies == {maker}, (scheme, rule)


@pytest.mark.parametrize("overrides, message", [
    ({"num_hidden_layers": -1}, "-1 is less than the minimum of 1"),
    ({"num_attention_heads": 0}, "0 is less than the minimum of 1"),
    ({"hidden_sizes": 128}, "Additional properties are not allowed ('hidden_sizes' was unexpected)"),
    ({"vocab_size": 100}, "Additional properties are not allowed ('vocab_size' was unexpected)"),
    ({"hidden_act": "gelu2"}, "'gelu2' is not one of"),
])
def test_model_overrides_are_checked_by_the_schema(overrides, message):
    from snakemake.utils import validate

    config = yaml.safe_load((REPO / "tests/config.tiny.yaml").read_text())
    config["train"]["model_overrides"] = overrides
    with pytest.raises(Exception, match=re.escape(message)):
        validate(config, str(REPO / "schemas/config.schema.yaml"))


def test_the_schemas_model_fields_are_ernieconfigs():
    import inspect

    from paddlenlp.transformers import ErnieConfig

    schema = yaml.safe_load((REPO / "schemas/config.schema.yaml").read_text())
    fields = schema["properties"]["train"]["properties"]["model_overrides"]["properties"]
    assert set(fields) | {"vocab_size"} == set(inspect.signature(ErnieConfig.__init__).parameters) - {"self", "kwargs"}


@pytest.mark.parametrize("train, index_split, message", [
    ({"max_seq_len": 1024}, None, "config train.max_seq_len: 1024 exceeds the model's max_position_embeddings 512"),
    ({"max_seq_len": 256, "model_overrides": {"max_position_embeddings": 128}}, None,
     "config train.max_seq_len: 256 exceeds the model's max_position_embeddings 128 (train.model ernie-tiny-cpu, "
     "train.model_overrides)"),
    ({"model_overrides": {"num_attention_heads": 3}}, None,
     "config train.model_overrides: hidden_size 128 is not a multiple of num_attention_heads 3"),
    ({"micro_batch_size": 3, "global_batch_size": 8}, None,
     "config train.global_batch_size: 8 is not a multiple of train.micro_batch_size 3"),
    ({}, "0,0,0", "config index.split: '0,0,0' needs 1-3 non-negative weights with a positive sum"),
])
def test_settings_across_keys_are_refused_by_a_dry_run(tmp_path, train, index_split, message):
    from conftest import tiny_config

    config = tiny_config(tmp_path)
    config["train"].update(train)
    if index_split:
        config["index"]["split"] = index_split
    _write_config(tmp_path, config)
    result = run_snakemake(tmp_path, "-n", "pretrain", check=False)
    assert result.returncode != 0 and message in result.stdout + result.stderr, result.stderr[-2000:]


def test_a_failed_jobs_error_is_shown_on_the_console(inews_docs, tmp_path):
    """A bad record in on_error: fail mode stops its segment_shard job; the console shows why (file and line),
    without opening the job's log (the profiles' show-failed-logs)."""
    from conftest import tiny_config

    config = tiny_config(tmp_path)
    short = [d["content"].replace("\n", " ").strip() for d in inews_docs[1000:] if 20 < len(d["content"]) < 150][:3]
    (tmp_path / "news_raw").mkdir()
    (tmp_path / "news_raw/news.txt").write_bytes("\n".join(short).encode() + b"\n" + short[0].encode("gb18030") + b"\n")
    config["datasets"]["news"] = {"input_dir": "news_raw", "format": "clue", "on_error": "fail"}
    _write_config(tmp_path, config)
    result = run_snakemake(tmp_path, "results/segmented/news/news.txt.jsonl", check=False)
    assert result.returncode != 0
    assert "news_raw/news.txt:4: invalid UTF-8 at byte 0 of the line" in result.stdout + result.stderr


def test_raw_files_without_documents_flow_through_every_stage(inews_docs, artifacts, tmp_path):
    """on_error: skip, a dataset with an empty file, a truncated archive, a binary and a file of documents all shorter than
    jsonl.min_doc_length beside a good one: token ids, the corpus jsonl, char counts and the stats are built,
    the empty shards counted; the token files hold the good file's documents."""
    import gzip
    import json
    import shutil

    from conftest import tiny_config
    from ernie_pipeline.tokenize.token_files import IdsDataset

    config = tiny_config(tmp_path)
    shutil.copytree(artifacts["vocab_dir"], tmp_path / "released")
    good = [d["content"].replace("\n", " ").strip() for d in inews_docs[2000:] if 20 < len(d["content"]) < 150][:8]
    raw = tmp_path / "news_raw"
    raw.mkdir()
    (raw / "good.txt").write_text("\n".join(good) + "\n", encoding="utf-8")
    (raw / "empty.txt").write_bytes(b"")
    (raw / "short.txt").write_text("你好。\n再见。\n", encoding="utf-8")
    (raw / "broken.txt.gz").write_bytes(gzip.compress("\n".join(good).encode())[:-30])
    (raw / "program.txt").write_bytes(open(sys.executable, "rb").read())  # a binary file with a text suffix
    config["datasets"] = {"news": {"input_dir": "news_raw", "format": "clue", "on_error": "skip"}}
    config["tokenize"]["tokenizer"] = "released"
    _write_config(tmp_path, config)
    shards = ["broken.txt.gz", "empty.txt", "good.txt", "program.txt", "short.txt"]
    run_snakemake(tmp_path, "results/token_ids/news_ids.npy", "results/corpus/news.jsonl",
                  *[f"results/vocab/char_counts/news/{s}.json" for s in shards])
    results = tmp_path / "results"
    stats = json.loads((results / "token_ids/news.stats.json").read_text())
    assert stats["merge"]["shards"] == 5 and stats["merge"]["shards_without_documents"] == 4
    assert stats["merge"]["documents"] == len(good) and stats["merge"]["dropped_short"] == 2
    assert stats["totals"]["skipped"] == {"file_binary": 1, "file_empty": 1, "file_unreadable": 1}
    assert len((results / "corpus/news.jsonl").read_text(encoding="utf-8").splitlines()) == len(good)
    counted = [json.loads((results / f"vocab/char_counts/news/{s}.json").read_text()) for s in shards]
    assert [bool(c) for c in counted] == [False, False, True, False, False]  # short documents are not counted
    assert IdsDataset(results / "token_ids/news").num_docs == len(good)
