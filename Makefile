# The two commands of the README:
#   make run    create the environment, fetch the sample dataset, open JupyterLab on notebooks/
#   make test   create the environment, lint, run the unit tests, execute every notebook and build the site
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
# Every test run gets this environment: OPENAI_API_KEY and the Milvus settings set empty (not just unset: a .env file
# would refill them), so that the test suite never spends a real key nor writes to your own Milvus.
TEST_ENV = env -u OPENAI_BASE_URL OPENAI_API_KEY= MILVUS_URI= MILVUS_TOKEN= \
    MODEL_NAME=$(TEST_MODEL_NAME) TUTORIAL_DATA_DIR=$(TEST_DATA_DIR) OUTPUT_DIR=$(TEST_DATA_DIR)/outputs
NBVAL_ARGS = --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg
# `make unit`: the helpers' tests alone: no notebook runs, Milvus server, browser, nor real dataset and model.
UNIT_TESTS = not server and not browser and not slow
# The notebooks as nbval executed them, outputs included (tools/executed_notebooks.py), and the site built from them.
EXECUTED_DIR ?= $(TEST_DATA_DIR)/executed
SITE_DIR ?= $(CURDIR)/site

.PHONY: run test install install-test data lint unit notebooks benchmarks clean-notebooks clean \
        check reset bundle install-offline timings site

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
# nbval's outputs are saved into EXECUTED_DIR, `make site` builds the site from them (nothing runs twice), and
# tests/test_site.py opens that site in headless chromium (SITE_TESTS=required: it may not skip).
test: lint
	rm -rf $(EXECUTED_DIR)
	$(TEST_ENV) SAVE_EXECUTED_NOTEBOOKS=$(EXECUTED_DIR) \
	    $(BIN)/pytest tests notebooks solutions -m "not site" $(NBVAL_ARGS) -p no:cacheprovider
	$(MAKE) site
	$(TEST_ENV) SITE_DIR=$(SITE_DIR) SITE_TESTS=required $(BIN)/pytest tests/test_site.py -m site -p no:cacheprovider

# The fast lane: the helpers' unit tests on tiny generated data (about 3 minutes; docs/testing.md).
unit: install-test
	$(TEST_ENV) $(BIN)/pytest tests -m "$(UNIT_TESTS)" -p no:cacheprovider

# nbval over notebooks/ then solutions/ alone, saving them executed for `make site`.
notebooks: install-test
	rm -rf $(EXECUTED_DIR)
	$(TEST_ENV) SAVE_EXECUTED_NOTEBOOKS=$(EXECUTED_DIR) \
	    $(BIN)/pytest notebooks solutions $(NBVAL_ARGS) -p no:cacheprovider

# The tutorial as a static site in SITE_DIR (mkdocs.yml, tools/build_site.py): README, docs/ and the notebooks as
# `make test` or `make notebooks` last executed them. Publish the folder to any static host (README).
site: install-test
	$(BIN)/python tools/build_site.py --executed $(EXECUTED_DIR) --site $(SITE_DIR)

benchmarks: install-test
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

# Rewrite the Colab badges and setup cells from helpers/config.py (REPO_URL, REPO_REF) and the exercises quoted
# in the solutions, then strip outputs and execution counts, except the small text outputs of
# `# NBVAL_CHECK_OUTPUT` cells.
clean-notebooks: install
	$(BIN)/python tools/sync_notebook_headers.py
	$(BIN)/python tools/clean_notebooks.py notebooks/*.ipynb solutions/*.ipynb

clean:
	rm -rf $(VENV) $(TEST_DATA_DIR) site

# ---- the workshop kit (docs/WORKSHOP.md) ----------------------------------------------------------------------
# check and reset use .venv as it is when there is one: they never reinstall (a room's Wi-Fi would not cope).

# Pre-flight check of this laptop: versions, dataset, model, Milvus Lite, disk, OpenAI key (never shown).
check:
	@test -x $(BIN)/python || $(MAKE) install
	$(BIN)/python -m helpers.commands.checks

# Back to a clean state: Milvus Lite database, embedding cache, ONNX exports, figures and comics go;
# the dataset and any offline bundle stay. `make reset DRY_RUN=1` only lists what would go.
reset:
	@test -x $(BIN)/python || $(MAKE) install
	$(BIN)/python -m helpers.commands.reset $(if $(DRY_RUN),--dry-run)

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

# ---- Colab's Python (docs/colab.md) ---------------------------------------------------------------------------
# The unit tests (the selection of `make unit`) once more, on the Python version Colab runs (tests/colab_runtime.py),
# in an environment made from scratch every time. The environment lives inside $(VENV), so that `make clean` and
# .gitignore cover it. COLAB_PYTHON=/path/to/python3.13 when it is neither on PATH nor under pyenv.
COLAB_PYTHON_VERSION := $(shell sed -n 's/^PYTHON = "\([0-9.]*\)".*/\1/p' tests/colab_runtime.py)
COLAB_PYTHON ?= $(firstword $(wildcard $(or $(PYENV_ROOT),$(HOME)/.pyenv)/versions/$(COLAB_PYTHON_VERSION)*/bin/python) \
                $(shell command -v python$(COLAB_PYTHON_VERSION)))
COLAB_VENV ?= $(VENV)/colab-python
COLAB_TEST_DATA_DIR ?= $(TEST_DATA_DIR)-colab-python

.PHONY: unit-colab-python
unit-colab-python:
	@test -n "$(COLAB_PYTHON)" || { echo "No Python $(COLAB_PYTHON_VERSION): set COLAB_PYTHON=/path/to/python"; exit 1; }
	rm -rf $(COLAB_VENV) $(COLAB_TEST_DATA_DIR)
	$(COLAB_PYTHON) -m venv $(COLAB_VENV)
	$(COLAB_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(COLAB_VENV)/bin/python -m pip install --quiet --no-compile -e ".[lab,test]"  # no .pyc up front: minutes less
	$(TEST_ENV) TUTORIAL_DATA_DIR=$(COLAB_TEST_DATA_DIR) OUTPUT_DIR=$(COLAB_TEST_DATA_DIR)/outputs \
	    $(COLAB_VENV)/bin/pytest tests -m "$(UNIT_TESTS)" -p no:cacheprovider
