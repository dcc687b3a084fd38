# Helpline: `make run` serves the demo, `make test` runs everything. Both start from nothing but Python 3.11.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test
REDIS_TEST_URL ?= redis://127.0.0.1:6379/0
PYTEST_ARGS ?=

.PHONY: install run test test-sqlite test-postgres lint chromium dovecot bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	@touch $(STAMP)

run: install
	$(BIN)/helpline migrate
	$(BIN)/helpline demo
	$(BIN)/helpline serve

# Debian's chromium drives the browser tests (never `playwright install`: it cannot download here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@# Visitors write emoji: without a colour emoji font Debian's chromium draws boxes in the screenshots.
	@dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-noto-color-emoji >/dev/null; }
	@chromium --version 2>/dev/null | head -1

# Debian's Dovecot is the real IMAP server the IMAP intake tests start (config in a temp dir, no service).
dovecot:
	@command -v dovecot >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dovecot-imapd >/dev/null; }
	@dovecot --version 2>/dev/null | head -1

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src

test: install chromium dovecot lint test-sqlite test-postgres

test-sqlite: install
	@echo "== Helpline test suite on SQLite =="
	$(BIN)/python -m pytest -m "not scaleout" $(PYTEST_ARGS)

# On PostgreSQL too, with the scale-out tests (two processes, Redis). Required in CI.
test-postgres: install
	@if $(BIN)/python -m helpline.devtools check-services "$(PG_TEST_URL)" "$(REDIS_TEST_URL)"; then \
	  echo "== Helpline test suite on PostgreSQL (+ Redis scale-out) =="; \
	  HELPLINE_TEST_DATABASE_URL="$(PG_TEST_URL)" HELPLINE_TEST_REDIS_URL="$(REDIS_TEST_URL)" $(BIN)/python -m pytest $(PYTEST_ARGS); \
	elif [ "$$CI" = "true" ]; then \
	  echo "ERROR: PostgreSQL and Redis are required in CI (see above)" >&2; exit 1; \
	else \
	  echo "WARNING: PostgreSQL or Redis is not reachable: the PostgreSQL and scale-out runs did NOT happen" >&2; \
	fi

bench: install
	$(BIN)/python bench/api_ingest.py

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache .mypy_cache .ruff_cache
