# One entry point for set-up, checks, tests, the demo and the benchmarks.
# PYTHON defaults to the newest supported interpreter found (3.13 first); override with
# `make test PYTHON=python3.11 VENV=.venv-3.11` to test another one side by side.
PYTHON ?= $(shell scripts/find-python)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOCAL_STAMP := $(VENV)/.installed-local

.PHONY: venv check test demo serve clean bench

venv: $(STAMP)

# The worker's bundled azure-functions that cannot decode CloudEvents, for the test that holds
# the Event Grid trigger to it (tests/test_cloudevents_decoder.py); never installed.
LEGACY_FUNCTIONS := azure-functions==1.24.0
LEGACY_DIR := $(VENV)/legacy-wheels

$(STAMP): requirements.txt requirements-local.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "no supported Python found" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip download --quiet --no-deps -d $(LEGACY_DIR) "$(LEGACY_FUNCTIONS)"
	@touch $(STAMP)

check: venv
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -c "from pathlib import Path; from pycep import BicepParser; \
	  [print('parsed', p) or BicepParser().parse(file_path=p) for p in sorted(Path('infra').rglob('*.bicep'))]"
	$(VENV)/bin/checkov --config-file infra/checkov.yaml --directory infra

test: venv
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# The local stack needs only the app's packages, the devtools' and the CLI (requirements-local.txt,
# plus this project installed for the quantum-cancel command), not the lint and scan toolchain.
$(LOCAL_STAMP): requirements.txt requirements-local.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "no supported Python found" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-local.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(LOCAL_STAMP)

demo: $(LOCAL_STAMP)
	$(PY) -m devtools.demo

# The simulator with running jobs on two targets and devtools.host, until Ctrl-C; prints the
# quantum-cancel and curl commands to paste. Other ports: make serve SERVE_ARGS='--port 7072'.
serve: $(LOCAL_STAMP)
	$(PY) -m devtools.serve $(SERVE_ARGS)

# Performance benchmarks (about 10 minutes); `make bench BENCH_ARGS=--quick` for a short run.
bench: venv
	$(PY) -m bench $(BENCH_ARGS)

# Full-size reliability suites (fault matrix, crashes, fuzzing, secrets, 200-job load), then
# the table of figures the tests recorded, also written into docs/reliability.md (commit, date
# and every figure of this run, passed or not). `make test` runs the same suites at bounded sizes.
.PHONY: reliability
reliability: venv
	@mkdir -p .pytest_cache/reliability
	RELIABILITY_SCALE=full RELIABILITY_REPORT=.pytest_cache/reliability/last-full.json \
		$(PY) -m pytest tests/reliability -p no:cacheprovider -q -o timeout=900; \
		status=$$?; \
		$(PY) -m tests.support.reliability_report --write docs/reliability.md \
			.pytest_cache/reliability/last-full.json \
		&& exit $$status
