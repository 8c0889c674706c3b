# One entry point for set-up, checks, tests, the demo and the benchmarks.
# PYTHON defaults to the newest supported interpreter found (3.13 first); override with
# `make test PYTHON=python3.11 VENV=.venv-3.11` to test another one side by side.
PYTHON ?= $(shell scripts/find-python)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv check test demo clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "no supported Python found" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

check: venv
	$(PY) -m ruff check .
	$(PY) -m mypy

test: venv
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

demo: venv
	$(PY) -m devtools.demo
