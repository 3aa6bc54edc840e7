# Vivid: everyday commands. `make run` starts everything; `make test` runs the test suite.
#
# The virtualenv is created on first use and (re)installed only when pyproject.toml is newer
# than the stamp file, so repeated runs start at once.

PYTHON ?= python3
VENV ?= .venv
VENV_PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
PYTEST_ARGS ?=
TEST_WORKERS ?= auto
SERVE_ARGS ?=

# Playwright drives a browser that is already installed (Debian's chromium) instead of
# downloading its own: the end-to-end tests read VIVID_CHROMIUM.
ifndef VIVID_CHROMIUM
VIVID_CHROMIUM := $(firstword $(wildcard /usr/bin/chromium /usr/bin/chromium-browser))
endif
ifneq ($(VIVID_CHROMIUM),)
export VIVID_CHROMIUM
endif
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.DEFAULT_GOAL := help
.PHONY: help install messages run test lint format migrate demo bench bench-feed clean reset-data

help:
	@echo "make run      start Vivid (web, worker, beat, embedded Valkey) on http://127.0.0.1:8000/"
	@echo "make test     run the tests (PYTEST_ARGS='-k feed' to pass arguments to pytest)"
	@echo "make lint     ruff check and ruff format --check"
	@echo "make format   fix what ruff can fix and format the code"
	@echo "make migrate  apply database migrations"
	@echo "make demo     add the small demo data set (make run does on first start)"
	@echo "make bench   run the benchmarks (BENCH=media for one; each prints JSON)"
	@echo "make clean    remove caches and regenerable files in var/ (keeps the database and media)"
	@echo "make reset-data  delete everything in var/: database, media, queues"

$(VENV_PYTHON):
	$(PYTHON) -m venv $(VENV)

# Order-only on the interpreter: recreating the venv must not by itself force a reinstall loop,
# but a missing or older stamp (pyproject.toml changed) does reinstall.
$(STAMP): pyproject.toml | $(VENV_PYTHON)
	$(VENV_PYTHON) -m pip install -e '.[dev]'
	@$(MAKE) --no-print-directory messages
	@touch $(STAMP)

# The translations (locale/*/LC_MESSAGES/*.po) compiled to .mo files, which are not committed.
# Needs GNU gettext's msgfmt; without it the site shows English only.
messages: | $(VENV_PYTHON)
	@if command -v msgfmt >/dev/null 2>&1; then \
		$(VENV_PYTHON) manage.py compilemessages --ignore '.venv' --ignore 'var' --verbosity 0; \
	else \
		echo "warning: msgfmt (GNU gettext) is not installed: the site will show English only"; \
	fi

install: $(STAMP)

run: $(STAMP) messages
	$(VENV_PYTHON) manage.py serve $(SERVE_ARGS)

# The suite runs on every core (pytest-xdist; each process has its own test database and Redis
# prefixes), then the fault suite on its own: it kills and restarts servers and times live
# delivery, which the load of other tests would distort. An empty run fails, unless
# PYTEST_ARGS narrowed it (then one of the two halves may well select nothing).
test: $(STAMP) messages
	$(VENV_PYTHON) -m pytest -n $(TEST_WORKERS) -m "not fault" $(PYTEST_ARGS) || \
		[ $$? -eq 5 -a -n "$(strip $(PYTEST_ARGS))" ]
	$(VENV_PYTHON) -m pytest -m fault $(PYTEST_ARGS) || \
		[ $$? -eq 5 -a -n "$(strip $(PYTEST_ARGS))" ]

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrate: $(STAMP)
	$(VENV_PYTHON) manage.py migrate

# Demo data (creators, posts, follows, reactions, comments); `make run` adds it on first start.
demo: $(STAMP)
	$(VENV_PYTHON) manage.py migrate
	$(VENV_PYTHON) manage.py seed --scale small

# The feed benchmark needs PostgreSQL: DATABASE_URL=postgres://... make bench-feed
bench-feed: $(STAMP)
	$(VENV_PYTHON) tests/bench/feed.py $(BENCH_ARGS)

# The benchmarks' own tools (Locust, py-spy: the `bench` extra), installed on first use and
# again when pyproject.toml changes.
$(BENCH_STAMP): pyproject.toml | $(STAMP)
	$(VENV_PYTHON) -m pip install -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

# `make bench` runs every benchmark under tests/bench/; `make bench BENCH=media` runs one.
# Each prints one JSON object. BENCH_ARGS are passed on (e.g. BENCH_ARGS=--stress).
# `make bench BENCH=load` is the capacity figure (docs/capacity.md).
BENCH ?= $(basename $(notdir $(wildcard tests/bench/*.py)))
BENCH_ARGS ?=
bench: $(STAMP) $(BENCH_STAMP)
	@for name in $(filter-out __init__ conftest databases,$(BENCH)); do \
		echo "== tests/bench/$$name.py" >&2; \
		$(VENV_PYTHON) tests/bench/$$name.py $(BENCH_ARGS) || exit 1; \
	done

# var/ holds the embedded database (vivid.sqlite3) and media: clean leaves those alone.
clean:
	rm -rf .pytest_cache .ruff_cache build *.egg-info
	find apps tests -name __pycache__ -type d -prune -exec rm -rf {} +
	rm -rf var/static var/test*.sqlite3* var/celerybeat-schedule* var/valkey/valkey.log

reset-data:
	@if [ -S var/valkey.sock ]; then \
		echo "var/valkey.sock exists: stop 'make run' first (or delete the socket if none runs)"; \
		exit 1; \
	fi
	rm -rf var/* var/.[!.]*
