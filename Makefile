# loket: the two commands are `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Re-install when a distribution's metadata changes.
STAMP  := $(VENV)/.installed-$(shell cat setup.cfg plugins/*/setup.cfg 2>/dev/null | cksum | cut -d' ' -f1)
PLUGINS := -e plugins/stripe_plugin -e plugins/doku_plugin
TESTS  := tests plugins/stripe_plugin/tests plugins/doku_plugin/tests
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test test-sqlite test-postgres install clean

$(STAMP):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]' $(PLUGINS)
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

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
