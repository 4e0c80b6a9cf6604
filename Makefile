# One place for the commands developers and CI run. `make check` is the test command.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
BOARD  ?= mc-demo

.PHONY: setup check lint test bench demo clean

$(BIN)/mc: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup: $(BIN)/mc

# ruff + mypy + the whole test suite: what CI runs.
check: setup lint test

lint: setup
	$(BIN)/ruff format --check mc tests
	$(BIN)/ruff check mc tests
	$(BIN)/mypy

test: setup
	$(BIN)/pytest -q

bench: setup
	$(BIN)/python tests/bench/bench_board_core.py
	$(BIN)/python tests/bench/bench_mirror.py
	$(BIN)/python tests/bench/bench_queue.py
	$(BIN)/python tests/bench/bench_pipeline.py
	$(BIN)/python tests/bench/bench_recovery.py
	$(BIN)/python tests/bench/bench_web.py
	$(BIN)/python tests/bench/bench_browser.py

# The demo: a board of its own run by the built-in demo agent, the web board at
# http://127.0.0.1:8765 (open the login link it prints). Ctrl-C stops it.
demo: setup
	$(BIN)/mc demo $(BOARD)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
