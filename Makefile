# loket: the two commands are `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LOCK   := requirements/lock.txt
# Re-install when the lock or a distribution's metadata changes.
STAMP  := $(VENV)/.installed-$(shell cat $(LOCK) pyproject.toml plugins/*/pyproject.toml 2>/dev/null | cksum | cut -d" " -f1)
LOCAL  := -e '.[dev]' -e plugins/stripe_plugin -e plugins/doku_plugin -e plugins/twilio_plugin
TESTS  := tests plugins/stripe_plugin/tests plugins/doku_plugin/tests plugins/twilio_plugin/tests
HOST   ?= 127.0.0.1
PORT   ?= 8000
PIP    := $(BIN)/pip install -q --disable-pip-version-check

.PHONY: run test test-sqlite test-postgres install lock lock-upgrade clean

# Exactly what the lock pins (hash-checked, nothing resolved here), then loket and the two
# plugins themselves without dependencies, then a check that the metadata agrees with the lock.
$(STAMP):
	$(PYTHON) -m venv $(VENV)
	$(PIP) --require-hashes --no-deps -r $(LOCK)
	$(PIP) --no-deps --no-build-isolation $(LOCAL)
	$(BIN)/python requirements/check.py
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

# `make lock` pins what the metadata added and keeps every other pin; `make lock-upgrade`
# moves every pin to the newest version the ranges admit (commit it on its own).
COMPILE = $(BIN)/uv pip compile requirements/lock.in --universal --python-version 3.11 \
	  --generate-hashes --no-emit-package loket --no-emit-package loket-stripe \
	  --no-emit-package loket-doku --no-emit-package loket-twilio -o $(LOCK)
lock:
	$(COMPILE)

lock-upgrade:
	$(COMPILE) --upgrade

run: export LOKET_BASE_URL ?= http://$(HOST):$(PORT)
run: $(STAMP)
	mkdir -p var
	$(BIN)/loket db upgrade
	$(BIN)/loket demo
	$(BIN)/loket worker & worker=$$!; trap "kill $$worker 2>/dev/null" EXIT INT TERM; \
	  $(BIN)/loket serve --host $(HOST) --port $(PORT)

test: $(STAMP) test-sqlite test-postgres

test-sqlite: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 $(TESTS)

test-postgres: $(STAMP)
	@if $(BIN)/python -c "import sys; sys.path.insert(0, 'tests'); from db_support import pg_available; sys.exit(0 if pg_available() else 1)"; then \
	  LOKET_TEST_DB=postgresql $(BIN)/python -m pytest -q -n 2 $(TESTS); \
	else \
	  echo "!!!!! PostgreSQL is not reachable on 127.0.0.1:5432: the PostgreSQL run is SKIPPED !!!!!"; \
	fi

clean:
	rm -rf $(VENV) var .pytest_cache
