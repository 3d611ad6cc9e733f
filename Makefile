# chaosbench — everything installs into .venv from constraints.txt (pinned versions).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SCENARIO ?= scenarios/smoke.yaml
SRC    := $(wildcard harness fault_servers reports scenarios tests bench)

.PHONY: demo check test lint typecheck venv lock clean bench chromium

# As root (CI), `make test` first installs Debian's chromium for the browser test of report.html.
IS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo yes)

## demo: build the virtualenv and run the smoke scenario end to end (verdict + report)
demo: $(STAMP)
	$(BIN)/chaosbench run $(SCENARIO)

## check: build the virtualenv, then lint, type-check and run the whole test suite
check: lint typecheck test

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24" 2>&1 \
	  | { grep -v -e 'is ignored: it is neither' || true; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]' 2>&1 \
	  | { grep -v -e 'is ignored: it is neither' -e '^ *$$' || true; }
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) $(if $(IS_ROOT),chromium)
	$(BIN)/pytest

## chromium: install Debian's chromium (tests/integration/reports/test_html_chromium.py opens report.html in it)
## and redis-server (the gateway's Redis cache is tested against a real one)
chromium:
ifeq ($(IS_ROOT),yes)
	(command -v chromium && command -v redis-server) >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium redis-server >/dev/null)
else
	@command -v chromium >/dev/null || echo "chromium: not root, not installing it; the browser test of report.html will be skipped (sudo apt-get install chromium)"
	@command -v redis-server >/dev/null || echo "redis-server: not root, not installing it; the Redis cache tests will be skipped (sudo apt-get install redis-server)"
endif

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b --quick || exit 1; done

## lock: re-resolve the newest allowed versions and rewrite constraints.txt
lock:
	rm -rf /tmp/chaosbench-lock && $(PYTHON) -m venv /tmp/chaosbench-lock
	/tmp/chaosbench-lock/bin/pip install --quiet -e '.[test]'
	( echo "# Pinned versions for a reproducible, fast install (pip install -c constraints.txt)."; \
	  echo "# Regenerate: make lock"; \
	  /tmp/chaosbench-lock/bin/pip freeze --exclude-editable | grep -v '^chaosbench' ) > constraints.txt

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
