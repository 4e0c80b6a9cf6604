# One place for the commands developers and CI run. `make check` is the test command.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
BOARD  ?= demo-board

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

# A board with a few projects, shown in the terminal.
demo: setup
	@test -d $(BOARD) || ( $(BIN)/mc init $(BOARD) && \
	  $(BIN)/mc -b $(BOARD) project new "Build a CLI tool" -a coder --due "$$(date -d '+7 days' +%F)" && \
	  $(BIN)/mc -b $(BOARD) project new "Research vacation logistics" -a researcher && \
	  $(BIN)/mc -b $(BOARD) project new "Write the launch post" -a writer --queue )
	$(BIN)/mc -b $(BOARD) board

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
