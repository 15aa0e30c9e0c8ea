# The project's commands. `make run` and `make test` are the two the README starts with.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# The test suite talks to a real PostgreSQL and Redis: these, or (CI unset) private
# embedded ones that tests/servers.py starts for the run when nothing answers here.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
PYTEST_ARGS ?=

.PHONY: run test lint format migrations-check bench worker beat seed clean venv backup restore restore-drill

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

## run: set up, migrate, seed the demo cohort and serve on http://127.0.0.1:8000
run: $(STAMP)
	DJANGO_DEBUG=1 $(PY) manage.py migrate --no-input
	DJANGO_DEBUG=1 $(PY) manage.py seed_demo
	DJANGO_DEBUG=1 $(PY) manage.py recompute_trends
	DJANGO_DEBUG=1 $(PY) manage.py runserver 127.0.0.1:8000

## test: set up and run the whole suite against PostgreSQL and Redis (with CI set, the
## machine's, started by scripts/ensure-services.sh or the run fails; otherwise embedded
## ones for whichever does not answer)
test: $(STAMP)
	scripts/ensure-chromium.sh
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
	DJANGO_SECRET_KEY=test-only-not-secret DJANGO_DEBUG=0 DJANGO_SSL_REDIRECT=0 \
	$(PY) -m tests.servers -- $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DJANGO_DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## bench: scale benchmarks (synthetic registry-scale data), results in bench/results/
bench: $(STAMP)
	scripts/ensure-services.sh
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/bench} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
	DJANGO_SECRET_KEY=bench-only-not-secret DJANGO_DEBUG=0 DJANGO_SSL_REDIRECT=0 $(PY) bench/run.py

## worker / beat: background jobs against $$REDIS_URL
worker: $(STAMP)
	$(VENV)/bin/celery -A registry worker --loglevel=INFO

beat: $(STAMP)
	$(VENV)/bin/celery -A registry beat --loglevel=INFO

## backup / restore / restore-drill: pg_dump -Fc into $$BACKUP_DIR (default ./backups),
## pg_restore of the newest (or FILE=...) into the empty database of $$DATABASE_URL, and the
## drill (restore into a fresh database, migrate --check, row counts, audit chain)
backup: $(STAMP)
	$(PY) manage.py backup $(if $(KEEP),--keep $(KEEP))

restore: $(STAMP)
	$(PY) manage.py restore $(if $(FILE),--file $(FILE))

restore-drill: $(STAMP)
	scripts/restore-drill.sh

seed: $(STAMP)
	DJANGO_DEBUG=1 $(PY) manage.py seed_demo

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .ruff_cache .hypothesis
