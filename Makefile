# make test: creates .venv if missing, installs mpasync with its dev extras, runs ruff, mypy and pytest.
# make demo: the main job, on the embedded emulator.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo bench soak lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check mpasync tests benchmarks examples
	$(BIN)/ruff format --check mpasync tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy --strict mpasync

test: lint typecheck
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/mpasync demo

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

soak: $(STAMP)
	$(BIN)/python -m pytest -q -m soak tests/reliability

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache .pytest_cache
