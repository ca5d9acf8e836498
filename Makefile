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

.PHONY: help install run serve migrate worker test test-domain lint fmt clean

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

run: install ## Migrate the embedded default (SQLite under var/) and serve API + jobs on http://localhost:8000
	$(BIN)/tenure migrate up
	$(BIN)/tenure serve

serve: install ## Serve without migrating
	$(BIN)/tenure serve

migrate: install ## Bring the configured database to the latest migration
	$(BIN)/tenure migrate up

worker: install ## Run the SAQ worker (needs TENURE_QUEUE_BACKEND=saq and TENURE_REDIS_URL)
	$(BIN)/tenure worker

test: install ## Lint, import contracts, types, unit, integration and e2e tests on real PostgreSQL + Redis
	@bash scripts/test.sh

test-domain: install ## Only the business-rule tests: pure, no services, seconds
	$(BIN)/pytest tests/unit/domain -q

lint: install ## ruff (lint + format check), import-linter contracts, mypy
	@bash scripts/test.sh --static-only

fmt: install ## Format and auto-fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: ## Remove the virtualenvs and caches (keeps var/)
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage
