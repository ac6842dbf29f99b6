# Two commands (see README):  make demo   |   make test
# Both first make sure .venv exists, matches requirements.lock and has the C++ kernels built
# (idempotent: nothing happens when the stamp is newer than the lock and the kernel sources).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-from-lock
PIP := $(BIN)/python -m pip --disable-pip-version-check
CORES ?= 2

.PHONY: setup demo test test-fast lint rulegraph clean-results

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml setup.py src/ernie_pipeline/segment/_gru_kernels.cpp src/ernie_pipeline/tokenize/_wordpiece.cpp
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 needed, found {sys.version.split()[0]} (set PYTHON=...)"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet $$(grep -E '^(setuptools|wheel)==' requirements.lock)
	# LAC 2.1.2 is an sdist whose setup.py needs pkg_resources: build it against the pinned setuptools.
	$(PIP) install --quiet --no-build-isolation -r requirements.lock
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	$(PIP) check
	touch $@

demo: setup
	$(BIN)/python -m snakemake --profile profiles/default --cores $(CORES) all
	$(BIN)/python -m ernie_pipeline.workflow.where
	@echo; echo "Evaluation (results/eval/report.md):"; cat results/eval/report.md

# Everything, as CI runs it: lint, then every test tier (workflow, training, SLURM, megatron included).
test: setup megatron-env lint
	ERNIE_TEST_REQUIRE_ALL=1 $(BIN)/python -m pytest

# The unit tier for the edit loop (seconds): no Snakemake runs, no training, no SLURM, no megatron venv.
test-fast: setup
	$(BIN)/python -m pytest -q -m "not (slow or workflow or train or slurm or megatron)"

lint: setup
	$(BIN)/python -m snakefmt --check Snakefile rules/
	$(BIN)/python -m ruff check .
	$(BIN)/python -m snakemake --lint

rulegraph: setup
	$(BIN)/python -m snakemake --rulegraph dot all | dot -Tpng -o docs/rulegraph.png

clean-results:
	rm -rf results .snakemake

# The torch side of the tests, in its own venv (torch must not share a process with Paddle): megatron-core's
# IndexedDataset reader for tests/tools/read_megatron.py, transformers for tests/tools/compare_hf.py. `make test` builds it; `make setup` does not.
MEGATRON_VENV := .venv-megatron
MEGATRON_STAMP := $(MEGATRON_VENV)/.installed-from-lock

.PHONY: megatron-env
megatron-env: $(MEGATRON_STAMP)

$(MEGATRON_STAMP): requirements-megatron.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 needed, found {sys.version.split()[0]} (set PYTHON=...)"'
	test -x $(MEGATRON_VENV)/bin/python || $(PYTHON) -m venv $(MEGATRON_VENV)
	$(MEGATRON_VENV)/bin/python -m pip --disable-pip-version-check install --quiet -r requirements-megatron.lock
	$(MEGATRON_VENV)/bin/python -m pip --disable-pip-version-check check
	$(MEGATRON_VENV)/bin/python -W ignore -c 'from megatron.core.datasets.indexed_dataset import IndexedDataset; import transformers'
	touch $@
