# The commands of README.md: `make run`, `make test` and `make bench`. All build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.test-installed
BENCH_STAMP := $(VENV)/.bench-installed
PIP := $(BIN)/pip install --disable-pip-version-check --progress-bar on

.PHONY: run test lint bench bench-stream bench-xapi efficacy chaos install clean

# `make run` needs only the runtime dependencies; pip's own lines show the progress.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@echo "Installing SkillGap's runtime dependencies into $(VENV) (the first time takes a few minutes)..."
	$(PIP) -e .
	touch $(STAMP)

# The tests' extras (pytest, Open edX's LTI consumer as a real platform, an OpenAPI validator).
$(TEST_STAMP): $(STAMP)
	@echo "Installing the test dependencies into $(VENV)..."
	$(PIP) -e '.[test]'
	touch $(TEST_STAMP)

install: $(STAMP)

# exec: SIGTERM sent to make reaches `skillgap run` itself, which stops everything it started.
run: $(STAMP)
	exec $(BIN)/skillgap run

# ruff's lint rules and formatting (pyproject.toml); CI runs it before the tests.
lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Never installs system packages: the browser test (tests/lti/test_lti_views_browser.py) is skipped
# with the command that enables it when no Chromium is found; .ci/run installs one.
test: $(TEST_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# pyBKT's wheel on PyPI is pure Python: rebuild it from source so its C++ core (E_step) is
# compiled; bench.engine refuses to run against the fallback.
$(BENCH_STAMP): $(TEST_STAMP)
	$(PIP) -e '.[bench]'
	$(PIP) --force-reinstall --no-deps \
		--no-build-isolation --no-binary pyBKT --no-cache-dir 'pyBKT==1.4.3'
	touch $(BENCH_STAMP)

# The engine against pyBKT (issue 3's figures).
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.engine $(BENCH_ARGS)

# The stream pipeline against Redis's ceiling, freshness and a crash run (prints name: value lines).
bench-stream: $(STAMP)
	$(BIN)/python -m bench.stream

# Minutes each policy needs to bring simulated learners to target (prints name: value lines).
efficacy: $(STAMP)
	$(BIN)/python -m bench.efficacy $(EFFICACY_ARGS)

# xAPI intake throughput through gunicorn with a worker consuming (prints name: value lines).
bench-xapi: $(STAMP)
	$(BIN)/python -m bench.xapi

# Faults on a Redis of its own: worker SIGKILLs, Redis restart, sidecar SIGTERM, retention, refit and replay.
chaos: $(STAMP)
	$(BIN)/python -m bench.chaos $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache .hypothesis
