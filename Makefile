# The two commands of the README:
#   make run    create the environment, fetch the sample dataset, open JupyterLab on notebooks/
#   make test   create the environment, lint, run the unit tests and execute every notebook
# Everything else here is a step of those two, or housekeeping.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The test suite never needs the network for model weights: it uses the offline model.
TEST_MODEL_NAME ?= efficientnet_lite0
# Tests write their dataset copy, Milvus Lite file, caches and outputs here, not into your data/.
TEST_DATA_DIR ?= $(CURDIR)/data/test-run
NOTEBOOK_PORT ?= 8888
# The offline bundle for a room without internet (docs/WORKSHOP.md): built here, installed from here by default.
BUNDLE ?= $(CURDIR)/data/offline-bundle
TIMING_MODEL ?= efficientnet_lite0

.PHONY: run test install install-test data lint unit notebooks benchmarks clean-notebooks clean \
        check reset bundle install-offline timings

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -e ".[lab]"
	touch $@

$(BIN)/.installed-test: $(BIN)/.installed
	$(BIN)/python -m pip install -e ".[lab,test]"
	touch $@

install: $(BIN)/.installed
install-test: $(BIN)/.installed-test

data: install
	$(BIN)/python -c "from helpers import data; print('Sample dataset ready in', data.download_dataset())"

# JupyterLab refuses to start as root (containers, some cloud machines) unless told it is fine.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

# JupyterLab, with the Milvus Lite database served to every notebook (tools/serve_lab.py): `milvus-lite server` on
# 127.0.0.1 starts before JupyterLab, every kernel gets MILVUS_URI, and it stops with JupyterLab. So several
# notebooks can be open at once; with MILVUS_URI set (your own server) nothing is served.
run: data
	$(BIN)/python tools/serve_lab.py -- --ip=127.0.0.1 --port=$(NOTEBOOK_PORT) --notebook-dir=notebooks $(ALLOW_ROOT)

lint: install-test
	$(BIN)/ruff check helpers tests benchmarks tools notebooks solutions

# Unit tests (tests/), then nbval runs every notebook top to bottom on the real sample dataset, then the
# solutions (solutions/), which reuse the dataset, caches and collection the notebooks left in TEST_DATA_DIR.
# OPENAI_API_KEY and the Milvus settings are set empty (not just unset: a .env file would refill them),
# so that the test suite never spends a real key nor writes to your own Milvus.
test: lint
	env -u OPENAI_BASE_URL OPENAI_API_KEY= MILVUS_URI= MILVUS_TOKEN= \
	    MODEL_NAME=$(TEST_MODEL_NAME) TUTORIAL_DATA_DIR=$(TEST_DATA_DIR) OUTPUT_DIR=$(TEST_DATA_DIR)/outputs \
	    $(BIN)/pytest tests notebooks solutions --nbval-lax --nbval-current-env \
	    --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

benchmarks: install-test
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

# Rewrite the Colab badges and setup cells from helpers/config.py (REPO_URL, REPO_REF) and the exercises quoted
# in the solutions, then strip outputs and execution counts, except the small text outputs of
# `# NBVAL_CHECK_OUTPUT` cells.
clean-notebooks: install
	$(BIN)/python tools/sync_notebook_headers.py
	$(BIN)/python tools/clean_notebooks.py notebooks/*.ipynb solutions/*.ipynb

clean:
	rm -rf $(VENV) $(TEST_DATA_DIR)

# ---- the workshop kit (docs/WORKSHOP.md) ----------------------------------------------------------------------
# check and reset use .venv as it is when there is one: they never reinstall (a room's Wi-Fi would not cope).

# Pre-flight check of this laptop: versions, dataset, model, Milvus Lite, disk, OpenAI key (never shown).
check:
	@test -x $(BIN)/python || $(MAKE) install
	$(BIN)/python -m helpers.checks

# Back to a clean state: Milvus Lite database, embedding cache, ONNX exports, figures and comics go;
# the dataset and any offline bundle stay. `make reset DRY_RUN=1` only lists what would go.
reset:
	@test -x $(BIN)/python || $(MAKE) install
	$(BIN)/python -m helpers.reset $(if $(DRY_RUN),--dry-run)

# Build the offline bundle in $(BUNDLE) (about 3.5 GB on Linux); BUNDLE_ARGS="--tar" also writes one .tar.
bundle: install
	$(BIN)/python tools/make_bundle.py $(BUNDLE) $(BUNDLE_ARGS)

# Install from a bundle (folder or .tar) with no network: packages into .venv, then dataset, vectors and collection.
install-offline:
	$(PYTHON) tools/install_bundle.py packages $(BUNDLE) --venv $(VENV)
	touch $(BIN)/.installed
	$(BIN)/python tools/install_bundle.py data $(BUNDLE)

# Time every notebook as a learner runs it (first run and re-run) into docs/timings/; run it on a quiet machine.
timings: install
	$(BIN)/python tools/time_notebooks.py --model $(TIMING_MODEL)
