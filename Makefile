PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install migrate bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/aims migrate

run: install
	$(BIN)/aims dev

test: install
	$(BIN)/pytest -q

bench: install
	$(BIN)/python bench/lifecycle.py

clean:
	rm -rf $(VENV) .aims .pytest_cache
