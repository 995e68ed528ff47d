# make test: creates .venv if missing, installs mpasync with its dev extras, runs ruff, mypy and pytest.
# make demo: the main job, on the embedded emulator (installs only the runtime dependencies).
# make pytest: the tests alone (no ruff, no mypy), e.g. on another interpreter in its own
# venv: `make pytest PYTHON=python3.10 VENV=.venv-3.10` (what .ci/run does).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check
# Two stamps: the package with its runtime dependencies (all `make demo` needs), and the
# dev/bench extras on top (for `make test`). Either order works and nothing is installed
# twice: the extras step installs only the extras' own requirements, read from the
# installed package's metadata, never the package again.
RUNTIME := $(VENV)/.runtime
STAMP := $(VENV)/.installed
EXTRAS := dev bench

.PHONY: test pytest demo bench soak lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME): $(BIN)/python pyproject.toml
	$(PIP) install -e .
	touch $@

$(STAMP): $(RUNTIME)
	$(BIN)/python tools/extras.py $(EXTRAS) > $(VENV)/extras.txt
	$(PIP) install -r $(VENV)/extras.txt
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check mpasync tests benchmarks examples tools
	$(BIN)/ruff format --check mpasync tests benchmarks examples tools

typecheck: $(STAMP)
	$(BIN)/mypy --strict mpasync

test: lint typecheck pytest

pytest: $(STAMP)
	$(BIN)/python -m pytest -q

demo: $(RUNTIME)
	$(BIN)/mpasync demo

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

soak: $(STAMP)
	$(BIN)/python -m pytest -q -s -m soak tests/reliability tests/sim

clean:
	rm -rf $(VENV) .venv-3.* build dist .mypy_cache .ruff_cache .pytest_cache
