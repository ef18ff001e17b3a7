PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-deep mutation install browser migrate bench audit lock clean

# Every dependency comes from the lock, checked against its hashes; then aims itself. A locked
# pip first: the one a new venv brings (23.2 with Python 3.11) resolves a dependency with extras
# (WeasyPrint's fonttools[woff]) to the newest release, not the locked one, and then refuses it.
$(STAMP): pyproject.toml requirements-pip.lock requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements-pip.lock
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/aims migrate

run: install
	$(BIN)/aims dev

# Browser tests drive Debian's Chromium (Playwright's own download is not used); PDFs are made
# by WeasyPrint (Pango, fonts) and checked by rasterising them with poppler's pdftoppm.
SYSTEM_PACKAGES := chromium poppler-utils libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core
browser:
	@(test -x /usr/bin/chromium && test -x /usr/bin/pdftoppm && test -e /usr/share/fonts/truetype/dejavu) || \
		(apt-get update -qq && apt-get install -y -qq $(SYSTEM_PACKAGES))

test: install browser audit
	$(BIN)/pytest -q

# Known vulnerabilities in the locked dependencies (skipped, with the reason, when offline).
audit: install
	$(BIN)/python tools/audit_dependencies.py requirements-pip.lock requirements-dev.lock

# Re-pin after changing pyproject.toml: the image's lock (runtime) and make's (runtime + test).
LOCK_OPTIONS := --generate-hashes --universal --python-version 3.11 --no-header --quiet
PIP_VERSION := 26.3
lock:
	$(PYTHON) -m venv .venv-lock && .venv-lock/bin/pip install --quiet uv==0.13.9
	echo "pip==$(PIP_VERSION)" | .venv-lock/bin/uv pip compile - $(LOCK_OPTIONS) -o requirements-pip.lock
	.venv-lock/bin/uv pip compile pyproject.toml $(LOCK_OPTIONS) -o requirements.lock
	.venv-lock/bin/uv pip compile pyproject.toml --extra test $(LOCK_OPTIONS) -o requirements-dev.lock

# The property tests with 20x more examples (and a longer API fuzzing run).
test-deep: install browser
	HYPOTHESIS_PROFILE=deep FUZZ_MAX_TIME=600 $(BIN)/pytest -q

# Mutation testing of aims/domain with the pure tests; prints the kill rate.
mutation: install
	rm -rf mutants
	HYPOTHESIS_PROFILE=mutation $(BIN)/mutmut run --max-children 2 || true
	$(BIN)/python -m tests.mutation_report

bench: install
	$(BIN)/python bench/lifecycle.py

clean:
	rm -rf $(VENV) .venv-lock .aims .pytest_cache mutants
