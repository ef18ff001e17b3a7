PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install browser migrate bench clean

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

# Browser tests drive Debian's Chromium (Playwright's own download is not used).
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)

test: install browser
	$(BIN)/pytest -q

bench: install
	$(BIN)/python bench/lifecycle.py

clean:
	rm -rf $(VENV) .aims .pytest_cache
