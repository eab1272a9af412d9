# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test lint bench-audit services clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*; touch $(STAMP)

## make run: the service with demo data on the embedded default (SQLite, in-process tasks)
run: $(STAMP)
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py demo
	@$(PY) manage.py demo_login_hint
	$(PY) manage.py runserver 127.0.0.1:8000

## make test: the whole suite on SQLite, then on PostgreSQL with a real Celery worker on Redis
test: $(STAMP)
	VENV=$(VENV) scripts/test-all.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check .

## make services: start PostgreSQL, Redis and RabbitMQ if they are down (CI, benchmarks)
services:
	scripts/services.sh ensure

clean:
	rm -rf $(VENV) var
