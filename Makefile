# The commands of README.md: `make run`, `make test` and `make bench`. All build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: run test bench bench-stream bench-xapi efficacy install clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# exec: SIGTERM sent to make reaches `skillgap run` itself, which stops everything it started.
run: $(STAMP)
	exec $(BIN)/skillgap run

# The LTI tool's page test renders in Debian's headless Chromium; install it when missing (root).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test (tests/lti/test_lti_views_browser.py)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: $(STAMP) browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# pyBKT's wheel on PyPI is pure Python: rebuild it from source so its C++ core (E_step) is
# compiled; bench.engine refuses to run against the fallback.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(BIN)/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps \
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

clean:
	rm -rf $(VENV) data .pytest_cache .hypothesis
