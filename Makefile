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

$(STAMP): requirements.lock pyproject.toml setup.py src/ernie_pipeline/segment/_gru_kernels.cpp src/ernie_pipeline/tokenize/_wordpiece.cpp src/ernie_pipeline/clean/_signatures.cpp
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

# Everything, as CI runs it: lint, then every test tier (workflow, training, SLURM, the torch venv's included).
test: setup torch-env lint
	ERNIE_TEST_REQUIRE_ALL=1 $(BIN)/python -m pytest --durations=25

# The unit tier for the edit loop (seconds): no Snakemake runs, no training, no SLURM, no megatron venv.
test-fast: setup
	$(BIN)/python -m pytest -q -m "not (slow or workflow or train or slurm or torch)"

lint: setup
	$(BIN)/python -m snakefmt --check Snakefile rules/
	$(BIN)/python -m ruff check .
	$(BIN)/python -m snakemake --lint

rulegraph: setup
	$(BIN)/python -m snakemake --rulegraph dot all | dot -Tpng -o docs/rulegraph.png

clean-results:
	rm -rf results .snakemake

# The torch backend's venv (no Paddle: torch and transformers need other pins than paddlenlp), also the torch side of
# the tests: megatron-core's IndexedDataset reader for tests/tools/read_megatron.py, transformers for
# tests/tools/compare_hf.py, the torch backend's training. `make test` builds it; `make setup` does not.
TORCH_VENV := .venv-torch
TORCH_STAMP := $(TORCH_VENV)/.installed-from-lock

.PHONY: torch-env
torch-env: $(TORCH_STAMP)

$(TORCH_STAMP): requirements-torch.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 needed, found {sys.version.split()[0]} (set PYTHON=...)"'
	test -x $(TORCH_VENV)/bin/python || $(PYTHON) -m venv $(TORCH_VENV)
	$(TORCH_VENV)/bin/python -m pip --disable-pip-version-check install --quiet -r requirements-torch.lock
	$(TORCH_VENV)/bin/python -m pip --disable-pip-version-check check
	$(TORCH_VENV)/bin/python -W ignore -c 'from megatron.core.datasets.indexed_dataset import IndexedDataset; import transformers, visualdl'
	touch $@
