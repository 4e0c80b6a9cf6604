# One place for the commands developers and CI run. `make check` is the test command.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
BOARD  ?=
PORT   ?= 8765

.PHONY: setup dev check lint test bench demo clean

# The product (what `make demo` needs) ...
$(BIN)/mc: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

# ... and the tools to check it (what `make check` needs).
$(VENV)/.dev: $(BIN)/mc
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup: $(BIN)/mc
dev: $(VENV)/.dev

# ruff + mypy + the whole test suite: what CI runs.
check: dev lint test

lint: dev
	$(BIN)/ruff format --check mc tests
	$(BIN)/ruff check mc tests
	$(BIN)/mypy

test: dev
	$(BIN)/pytest -q

bench: dev
	$(BIN)/python tests/bench/bench_board_core.py
	$(BIN)/python tests/bench/bench_mirror.py
	$(BIN)/python tests/bench/bench_queue.py
	$(BIN)/python tests/bench/bench_pipeline.py
	$(BIN)/python tests/bench/bench_recovery.py
	$(BIN)/python tests/bench/bench_web.py
	$(BIN)/python tests/bench/bench_browser.py

# The demo: a board of its own (in ~/.local/state/mc/demo, or BOARD=DIR) run by the
# built-in demo agent, the web board on http://127.0.0.1:$(PORT) (open the login link
# it prints). Ctrl-C stops it.
demo: setup
	$(BIN)/mc demo $(BOARD) --port $(PORT)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
