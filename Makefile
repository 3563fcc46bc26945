# Two entry points for people (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(VENV)/.runtime $@

demo: $(VENV)/.runtime
	$(BIN)/drumbeat demo

test: $(VENV)/.dev
	$(BIN)/python -m pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Re-extract the messages marked in the code and merge them into each language's catalog.
messages: $(VENV)/.dev
	$(BIN)/pybabel -q extract -F babel.cfg -k _ -k N_ -k n_:1,2 --no-wrap --sort-by-file \
		-o $(VENV)/drumbeat.pot bot handlers rituals core integrations
	$(BIN)/pybabel -q update --no-wrap -i $(VENV)/drumbeat.pot -d core/i18n/locale -D drumbeat
