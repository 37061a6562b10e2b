# The three jobs of edge-actors. Each creates .venv when it is missing and installs
# what it needs into it; nothing is installed outside the repository.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: run test bench lint typecheck installed mutation clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): setup.cfg pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[local,stream,otel,vision-agents,ray,uvloop,dev]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m transport.demo $(ARGS)

test: $(STAMP) lint typecheck installed
	$(PY) -m pytest $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check actors messages transport tests benchmarks
	$(PY) -m ruff format --check actors messages transport tests benchmarks

typecheck: $(STAMP)
	$(PY) -m mypy --strict actors messages transport

# The wheel as users get it: built from a clean copy, installed (not editable) with the
# `local` extra into a fresh virtualenv, run from outside the checkout (.ci/installed).
installed: $(STAMP)
	PY=$(abspath $(PY)) bash .ci/installed

bench: $(STAMP)
	$(PY) -m benchmarks $(ARGS)

# The contract's mutation check (pyproject.toml [tool.mutmut]); about an hour on 2 cores.
mutation: $(STAMP)
	$(PY) -m pip install --quiet -e '.[mutation]'
	$(PY) -m mutmut run --max-children 2
	$(PY) -m mutmut results

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis *.egg-info mutants
