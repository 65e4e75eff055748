# Tessera: `make run` serves the API, `make test` runs the suite. Both create the
# virtualenv on first use. Every target runs from the repository root.

# The newest CPython on the PATH: 3.11's asyncio calls getpid() on every
# get_running_loop() (8-13% of a request's CPU; gone in 3.12). 3.11 is the oldest
# supported, and what CI runs where it is the only one (docs/benchmarks.md, Python).
# A candidate counts only if it runs: pyenv puts shims on the PATH for versions
# it has but has not selected, and those exit 127.
PYTHON ?= $(shell for p in python3.13 python3.12 python3; do \
	$$p -c '' 2>/dev/null && { command -v $$p; break; }; done)
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DEPLOY_TOOLS := $(VENV)/.deploy-tools
# Parallel test workers; each gets its own database and Redis db.
TEST_WORKERS ?= 2

# uv installs exactly what uv.lock pins. It lives in its own small virtualenv, since
# syncing the project's removes whatever the lock does not list. Its version is pinned
# here, so everyone writes and reads the lock with the same uv.
UV_VERSION := 0.13.9
UV_DIR := .uv
UV := $(UV_DIR)/bin/uv
UV_STAMP := $(UV_DIR)/.uv-$(UV_VERSION)
# The virtualenv is $(VENV), on $(PYTHON); uv never downloads a Python of its own.
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
# Compiled at install: the suite starts dozens of Python processes (CLI, worker, API),
# and with PYTHONDONTWRITEBYTECODE set each would compile its imports afresh.
SYNC := $(UV) sync --frozen --compile-bytecode --python $(PYTHON) --extra dev --extra embedded

.PHONY: install lock run test lint format typecheck migrate worker beat bench up down check-deploy clean

install: $(INSTALLED)

$(UV_STAMP):
	rm -rf $(UV_DIR)
	$(PYTHON) -m venv $(UV_DIR)
	$(UV_DIR)/bin/python -m pip install --quiet 'uv==$(UV_VERSION)'
	touch $@

# Refuses a lock that pyproject.toml has moved away from, then installs the lock as is.
$(INSTALLED): pyproject.toml uv.lock $(UV_STAMP)
	@$(UV) lock --check || { echo "make install: uv.lock does not match pyproject.toml;" \
		"run make lock and commit uv.lock" >&2; exit 1; }
	$(SYNC)
	touch $@

# Re-resolve uv.lock after editing pyproject.toml, keeping every pin it can. To move
# pins on: make lock LOCK_ARGS=--upgrade (or --upgrade-package NAME).
lock: $(UV_STAMP)
	$(UV) lock $(LOCK_ARGS)

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
	$(BIN)/mypy backend sdk/python examples

migrate: install
	$(BIN)/alembic upgrade head

worker: install
	$(BIN)/celery -A backend.worker.app worker --loglevel INFO

beat: install
	$(BIN)/celery -A backend.worker.app beat --loglevel INFO --schedule var/celerybeat-schedule

# Hot paths against baselines and peers in the same run; see docs/benchmarks.md.
# The peers (optional group bench-peers) are synced each time: another target's sync
# (check-deploy's) removes what its extras do not list.
bench: install
	$(SYNC) --extra bench-peers
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

$(DEPLOY_TOOLS): $(INSTALLED)
	$(SYNC) --extra deploy-checks
	touch $@

clean:
	rm -rf $(VENV) $(UV_DIR) .pytest_cache .mypy_cache .ruff_cache
