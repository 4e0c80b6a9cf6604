# One place for the commands developers and CI run. `make check` is the test command.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
BOARD  ?=
PORT   ?= 8765

AGENTS  = $(VENV)/agents

.PHONY: setup dev agent-clis check lint test bench demo clean

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

# The real agent CLIs the tests drive (offline, against local stand-ins of their model
# APIs), pinned: their flags and output formats move between versions. And the MCP
# Inspector's CLI, a real MCP client for the assistant's board.
# aider in a venv of its own; OpenClaw needs Node >= 24.16, which npm's `node` provides.
$(AGENTS)/.installed: Makefile
	npm install --prefix $(AGENTS) --no-audit --no-fund --loglevel=error \
	  @anthropic-ai/claude-code@2.1.197 @openai/codex@0.171.0 @google/gemini-cli@0.61.0 \
	  @modelcontextprotocol/inspector@2.12.0
	$(PYTHON) -m venv $(AGENTS)/aider
	$(AGENTS)/aider/bin/pip install -q aider-chat==0.86.2
	npm install --prefix $(AGENTS)/node24 --no-audit --no-fund --loglevel=error node@24
	PATH=$(CURDIR)/$(AGENTS)/node24/node_modules/.bin:$$PATH npm install \
	  --prefix $(AGENTS)/openclaw --no-audit --no-fund --loglevel=error openclaw@2026.9.6
	touch $@

setup: $(BIN)/mc
dev: $(VENV)/.dev
agent-clis: $(AGENTS)/.installed

# ruff + mypy + the whole test suite: what CI runs.
check: dev agent-clis lint test

lint: dev
	$(BIN)/ruff format --check mc tests
	$(BIN)/ruff check mc tests
	$(BIN)/mypy

test: dev agent-clis
	$(BIN)/pytest -q

bench: dev
	$(BIN)/python tests/bench/bench_board_core.py
	$(BIN)/python tests/bench/bench_mirror.py
	$(BIN)/python tests/bench/bench_queue.py
	$(BIN)/python tests/bench/bench_pipeline.py
	$(BIN)/python tests/bench/bench_recovery.py
	$(BIN)/python tests/bench/bench_web.py
	$(BIN)/python tests/bench/bench_browser.py
	$(BIN)/python tests/bench/bench_db_restart.py
	$(BIN)/python tests/bench/bench_mcp.py
	$(BIN)/python tests/bench/bench_notify.py
	$(BIN)/python tests/bench/bench_board_scale.py
	$(BIN)/python tests/bench/bench_time_travel.py
	$(BIN)/python tests/bench/bench_integrate.py
	$(BIN)/python tests/bench/bench_diff_viewer.py

# The demo: a board of its own (in ~/.local/state/mc/demo, or BOARD=DIR) run by the
# built-in demo agent, the web board on http://127.0.0.1:$(PORT) (open the login link
# it prints). Ctrl-C stops it.
demo: setup
	$(BIN)/mc demo $(BOARD) --port $(PORT)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
