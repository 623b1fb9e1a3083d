# Two entry points the README promises work on a fresh machine: `make demo` and `make test`.
# The demo needs only the package; the tests add their extras (pytest, hypothesis, linters).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: venv venv-test demo test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

venv: $(VENV)/.installed

venv-test: $(VENV)/.installed-test

demo: venv
	$(BIN)/rollout demo

test: venv-test
	bash .ci/debian-deps
	$(BIN)/python -m pytest -q

lint: venv-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy console backends
	$(BIN)/lint-imports --no-cache

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
