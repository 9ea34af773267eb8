# The README's two commands: `make figures` and `make test`. Both do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.gflab-installed
export JAX_ENABLE_X64 := 1
export MPLBACKEND := Agg

.PHONY: setup figures figures-fast test test-all lint bench clean

$(STAMP): pyproject.toml requirements/build.lock requirements/core.lock requirements/test.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/build.lock
	$(PY) -m pip install -q -r requirements/core.lock -r requirements/test.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

figures: $(STAMP)
	$(VENV)/bin/gflab figures --out figures/out

figures-fast: $(STAMP)
	$(VENV)/bin/gflab figures --out figures/out --fast

test: $(STAMP)
	$(PY) -m pytest -q

test-all: $(STAMP)
	$(PY) -m pytest -q -m "slow or not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench: $(STAMP)
	$(VENV)/bin/gflab bench

clean:
	rm -rf $(VENV) figures/out .gflab-cache
