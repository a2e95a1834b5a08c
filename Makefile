# The two commands of README.md: `make run` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# exec: SIGTERM sent to make reaches `skillgap run` itself, which stops everything it started.
run: $(STAMP)
	exec $(BIN)/skillgap run

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# xAPI intake throughput through gunicorn with a worker consuming (prints name: value lines).
bench: $(STAMP)
	$(BIN)/python -m lti_tool.bench

clean:
	rm -rf $(VENV) data .pytest_cache .hypothesis
