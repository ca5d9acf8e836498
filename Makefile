# Tenure — the two commands are `make run` and `make test`; both bootstrap from a bare python3.
SHELL := bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat uv.lock pyproject.toml | cksum | cut -d' ' -f1)

export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
export PYTHONPATH := src:.

.PHONY: help install web run serve migrate worker test test-domain lint fmt clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP) ## Create the virtualenv and install the locked dependencies (quick when done before)

# The web app: built with Node.js 20 and npm when missing or stale; never committed; served without Node.
WEB_SOURCES := $(shell find web/src -type f ! -name schema.d.ts 2>/dev/null) web/index.html web/vite.config.ts web/tsconfig.json
PY_SOURCES := $(shell find src -name '*.py' 2>/dev/null)

web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

var/openapi.json: $(PY_SOURCES) | $(STAMP)
	$(BIN)/tenure openapi --output $@

web/src/api/schema.d.ts: var/openapi.json web/node_modules/.installed
	cd web && npx openapi-typescript ../var/openapi.json --output src/api/schema.d.ts --silent

web/dist/index.html: web/src/api/schema.d.ts $(WEB_SOURCES) web/node_modules/.installed
	cd web && npm run --silent build

web: web/dist/index.html ## Build the web app (types from the API's OpenAPI document, then Vite)

run: install web ## Migrate the embedded default (SQLite under var/) and serve the app, API and jobs on http://localhost:8000
	$(BIN)/tenure migrate up
	$(BIN)/tenure serve

serve: install ## Serve without migrating
	$(BIN)/tenure serve

migrate: install ## Bring the configured database to the latest migration
	$(BIN)/tenure migrate up

worker: install ## Run the SAQ worker (needs TENURE_QUEUE_BACKEND=saq and TENURE_REDIS_URL)
	$(BIN)/tenure worker

test: install web ## Lint, contracts, types, unit, integration, e2e (PostgreSQL + Redis) and browser tests
	@bash scripts/test.sh

test-domain: install ## Only the business-rule tests: pure, no services, seconds
	$(BIN)/pytest tests/unit/domain -q

lint: install web ## ruff (lint + format check), import-linter contracts, mypy, the web app's types
	@bash scripts/test.sh --static-only

fmt: install ## Format and auto-fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: ## Remove the virtualenvs and caches (keeps var/)
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage web/node_modules web/dist web/src/api/schema.d.ts var/openapi.json
