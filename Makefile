# loket: the two commands are `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LOCK   := requirements/lock.txt
# Re-install when the lock or a distribution's metadata changes.
STAMP  := $(VENV)/.installed-$(shell cat $(LOCK) pyproject.toml plugins/*/pyproject.toml 2>/dev/null | cksum | cut -d" " -f1)
LOCAL  := -e '.[dev]' -e plugins/stripe_plugin -e plugins/doku_plugin -e plugins/twilio_plugin \
	  -e plugins/revenue_destinations
TESTS  := tests plugins/stripe_plugin/tests plugins/doku_plugin/tests plugins/twilio_plugin/tests \
	  plugins/revenue_destinations/tests
HOST   ?= 127.0.0.1
PORT   ?= 8000
PIP    := $(BIN)/pip install -q --disable-pip-version-check

.PHONY: run test lint test-sqlite test-postgres install lock lock-upgrade clean chaos bench \
	bench-quick

# Exactly what the lock pins (hash-checked, nothing resolved here), then loket and the two
# plugins themselves without dependencies, then a check that the metadata agrees with the lock.
$(STAMP):
	$(PYTHON) -m venv $(VENV)
	$(PIP) --require-hashes --no-deps -r $(LOCK)
	$(PIP) --no-deps --no-build-isolation $(LOCAL)
	rm -rf *.egg-info plugins/*/*.egg-info  # build leftovers that shadow the installed metadata
	$(BIN)/python requirements/check.py
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

# `make lock` pins what the metadata added and keeps every other pin; `make lock-upgrade`
# moves every pin to the newest version the ranges admit (commit it on its own).
COMPILE = $(BIN)/uv pip compile requirements/lock.in --universal --python-version 3.11 \
	  --generate-hashes --no-emit-package loket --no-emit-package loket-stripe \
	  --no-emit-package loket-doku --no-emit-package loket-twilio \
	  --no-emit-package loket-revenue -o $(LOCK)
lock:
	$(COMPILE)

lock-upgrade:
	$(COMPILE) --upgrade

run: export LOKET_BASE_URL ?= http://$(HOST):$(PORT)
# Without LOKET_SECRET_KEY, a random development key is created in var/secret.key on the
# first run and reused (the worker, like gunicorn, refuses to run without the variable).
run: $(STAMP)
	mkdir -p var
	export LOKET_SECRET_KEY="$${LOKET_SECRET_KEY:-$$($(BIN)/loket keys development)}"; \
	  $(BIN)/loket db upgrade && $(BIN)/loket demo && { \
	  echo "Console:  $(LOKET_BASE_URL)/console  (sign in with a key or the consumer token above)"; \
	  echo "API docs: $(LOKET_BASE_URL)/docs"; \
	  $(BIN)/loket worker & worker=$$!; trap "kill $$worker 2>/dev/null" EXIT INT TERM; \
	  $(BIN)/loket serve --host $(HOST) --port $(PORT); }

test: $(STAMP) lint test-sqlite test-postgres

# Lint rules and type checks configured in pyproject.toml ([tool.ruff], [tool.mypy]);
# `ruff format` is configured but not enforced here.
LINTED := loket plugins tests benchmarks tools examples
lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/mypy

test-sqlite: $(STAMP) lint
	LOKET_CHECK_HOOKS=1 $(BIN)/python -m pytest -q -n 2 $(TESTS)

test-postgres: $(STAMP) lint
	@if $(BIN)/python -c "import sys; sys.path.insert(0, 'tests'); from support.db import pg_available; sys.exit(0 if pg_available() else 1)"; then \
	  LOKET_TEST_DB=postgresql $(BIN)/python -m pytest -q -n 2 $(TESTS); \
	else \
	  echo "!!!!! PostgreSQL is not reachable on 127.0.0.1:5432: the PostgreSQL run is SKIPPED !!!!!"; \
	fi

# The chaos run (not part of `make test`; needs PostgreSQL and minutes): PAYMENTS payments
# while API and worker processes are killed with SIGKILL; exits non-zero on any break.
PAYMENTS ?= 10000
chaos: $(STAMP)
	$(BIN)/python tools/chaos.py --payments $(PAYMENTS) --keep-database

# The benchmark suite (needs PostgreSQL; prints a table per workload, loket beside its bare
# baseline, medians of alternated rounds). `make bench ONLY=webhook,checkout` runs some.
ONLY ?=
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run $(if $(ONLY),--only $(ONLY))

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks.run --quick $(if $(ONLY),--only $(ONLY))

clean:
	rm -rf $(VENV) var .pytest_cache

# The gettext catalogs of the pages and of the PDFs: `make catalogs` extracts the messages, merges them into each
# language's .po and compiles the .mo files. Both are committed, so a fresh clone needs no
# build step; a test fails when a .mo is older than its .po.
BABEL := $(BIN)/pybabel
LOCALES := loket/web/locale
# The receipts' and credit notes' labels (loket/core/documents), a catalog of their own.
DOCUMENTS := loket/core/locale
.PHONY: catalogs
catalogs: $(STAMP)
	$(BABEL) extract -F babel.cfg -k N_ -k _ -k gettext -k ngettext:1,2 --no-location \
	  --sort-output --project loket --copyright-holder loket -o $(LOCALES)/loket.pot .
	$(BABEL) update -i $(LOCALES)/loket.pot -d $(LOCALES) -D loket --no-fuzzy-matching --ignore-obsolete
	$(BABEL) compile -d $(LOCALES) -D loket --statistics
	$(BABEL) extract -k N_ -k _ --no-location --sort-output --project loket \
	  --copyright-holder loket -o $(DOCUMENTS)/documents.pot loket/core/documents
	$(BABEL) update -i $(DOCUMENTS)/documents.pot -d $(DOCUMENTS) -D documents --no-fuzzy-matching --ignore-obsolete
	$(BABEL) compile -d $(DOCUMENTS) -D documents --statistics
