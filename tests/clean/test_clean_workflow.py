"""The clean stage in the DAG: what a new raw file, a new benchmark or a changed setting reruns (dry runs), that
it is absent when every option is off, and its statistics and figure in a real run."""

import json
import shutil

import yaml

from conftest import run_snakemake, tiny_config
from plans import planned_jobs

TARGET = "results/token_ids/tiny_ids.npy"
PER_GROUP = {"clean_candidates": 15, "clean_duplicates": 1, "clean_boilerplate": 1, "clean_decisions": 1}


def _write_config(workdir, config):
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))


def _raw_corpus(workdir, inews_docs, shards, folder="raw"):
    raw = workdir / folder
    raw.mkdir(exist_ok=True)
    for i in shards:
        (raw / f"part-{i}.jsonl").write_text("".join(
            json.dumps({"text": d["content"]}, ensure_ascii=False) + "\n" for d in inews_docs[20 * i:20 * i + 20]),
            encoding="utf-8")


def _released_tokenizer_config(workdir, artifacts, inews_docs):
    """Two raw shards, a released tokenizer (a new shard then changes no vocabulary) and one eval task."""
    config = tiny_config(workdir)
    shutil.copytree(artifacts["vocab_dir"], workdir / "released")
    _raw_corpus(workdir, inews_docs, range(2))
    task = workdir / "task.json"
    task.write_text("".join(json.dumps({"sentence": d["content"][:200], "label": i % 2}, ensure_ascii=False) + "\n"
                            for i, d in enumerate(inews_docs[3:40:3])), encoding="utf-8")
    config["datasets"]["tiny"].update(input_dir="raw", format="jsonl")
    config["tokenize"]["tokenizer"] = "released"
    config["eval"] = {"tasks": {"t": {"train": str(task), "dev": str(task), "test": str(task)}}}
    _write_config(workdir, config)
    return config


def test_a_new_raw_file_reruns_its_own_jobs_and_the_groups_not_the_old_shards(inews_docs, artifacts, tmp_path):
    config = _released_tokenizer_config(tmp_path, artifacts, inews_docs)
    run_snakemake(tmp_path, TARGET)
    stats = json.loads((tmp_path / "results/clean/tiny/stats.json").read_text())
    assert stats["datasets"]["tiny"]["totals"]["by_reason"]["contamination"]["documents"] == 13  # the task's
    assert stats["datasets"]["tiny"]["contamination_by_source"] == {"t/dev": 13, "t/test": 13}
    _raw_corpus(tmp_path, inews_docs, [2])
    assert planned_jobs(tmp_path, TARGET) == {"segment_shard": 1, "clean_signatures": 1, "clean_contamination": 1,
                                              "token_ids_shard": 1, **PER_GROUP, "merge_token_ids": 1}
    run_snakemake(tmp_path, TARGET)
    # another benchmark: the contamination jobs and what follows them, no signature, no tokenisation
    config["clean"] = {"contamination_files": ["task.json"]}
    _write_config(tmp_path, config)
    assert planned_jobs(tmp_path, TARGET) == {"clean_benchmark_ngrams": 1, "clean_contamination": 3, **PER_GROUP,
                                              "merge_token_ids": 1}
    # a threshold of the grouping: the grouping jobs from the one it feeds, nothing per shard
    config["clean"] = {"near_threshold": 0.75}
    _write_config(tmp_path, config)
    assert planned_jobs(tmp_path, TARGET) == {"clean_duplicates": 1, "clean_boilerplate": 1, "clean_decisions": 1,
                                              "merge_token_ids": 1}


def test_with_every_option_off_no_clean_job_runs_and_the_merge_reads_no_decisions(tmp_path):
    config = tiny_config(tmp_path)
    config["clean"] = {"exact": False, "near": False, "min_cjk_share": None, "max_repeated_line_share": None,
                       "max_repeated_ngram_share": None, "boilerplate_min_documents": None, "decontaminate": True}
    _write_config(tmp_path, config)  # decontaminate on, but the tiny config has no eval task: nothing to do
    jobs = planned_jobs(tmp_path, TARGET)
    assert not [rule for rule in jobs if rule.startswith("clean")] and jobs["merge_token_ids"] == 1
    config["clean"]["exact"] = True
    _write_config(tmp_path, config)
    jobs = planned_jobs(tmp_path, TARGET)
    assert {rule: n for rule, n in jobs.items() if rule.startswith("clean")} == {
        "clean_signatures": 2, "clean_candidates": 1, "clean_duplicates": 1, "clean_decisions": 1}


def test_scope_all_groups_the_datasets_together(inews_docs, tmp_path):
    config = tiny_config(tmp_path)
    _raw_corpus(tmp_path, inews_docs, range(2), "raw_a")
    _raw_corpus(tmp_path, inews_docs, range(1, 3), "raw_b")  # part-1 in both datasets
    config["datasets"] = {"b": {"input_dir": "raw_b", "format": "jsonl"},
                          "a": {"input_dir": "raw_a", "format": "jsonl"}}
    config["clean"] = {"scope": "all"}
    _write_config(tmp_path, config)
    run_snakemake(tmp_path, "results/corpus/a.jsonl", "results/corpus/b.jsonl")
    stats = json.loads((tmp_path / "results/clean/all/stats.json").read_text())
    # dataset a (first by name) keeps the shared file; b loses all of it, to the filters as a does, the rest as
    # copies of a's documents
    a, b = stats["datasets"]["a"], stats["datasets"]["b"]
    assert a["totals"]["by_reason"]["exact"]["documents"] == 0
    shared_a, shared_b = a["shards"]["part-1.jsonl"], b["shards"]["part-1.jsonl"]
    assert shared_b["removed_documents"] == shared_b["documents"] == shared_a["documents"] > 0
    filtered = ("contamination", "min_chars", "cjk_share", "repeated_lines", "top_ngram", "repeated_ngrams")
    assert [shared_b["by_reason"][r] for r in filtered] == [shared_a["by_reason"][r] for r in filtered]
    assert shared_b["by_reason"]["exact"]["documents"] >= shared_a["documents"] - shared_a["removed_documents"]
    written = {name: len((tmp_path / f"results/corpus/{name}.jsonl").read_text().splitlines()) for name in "ab"}
    assert written == {name: d["totals"]["documents"] - d["totals"]["removed_documents"] for name, d in
                       (("a", a), ("b", b))} and written["b"] > 0
    # a dataset that repeats another whole is refused by name, before any merge
    config["datasets"]["b"]["input_dir"] = "raw_a"
    _write_config(tmp_path, config)
    failed = run_snakemake(tmp_path, "results/corpus/b.jsonl", check=False)
    log = (tmp_path / "results/logs/clean/all/decisions.log").read_text()
    assert failed.returncode and "every one of dataset 'b'" in log, log
    assert not (tmp_path / "results/clean/all/decisions.npz").exists()


def test_the_tiny_run_reports_its_removals(artifacts):
    results = artifacts["results"]
    stats = json.loads((results / "clean/tiny/stats.json").read_text())
    totals = stats["datasets"]["tiny"]["totals"]
    assert totals["removed_documents"] == sum(r["documents"] for r in totals["by_reason"].values())
    assert sum(s["documents"] for s in stats["datasets"]["tiny"]["shards"].values()) == totals["documents"]
    merged = json.loads((results / "token_ids/tiny.stats.json").read_text())
    assert merged["merge"]["removed_by_clean"] == totals["removed_documents"]
    assert (results / "clean/tiny/removals.png").stat().st_size > 10_000
