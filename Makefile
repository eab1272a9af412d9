# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test lint bench-deps services clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*; touch $(STAMP)

## make run: the service with demo data on the embedded default (SQLite, in-process tasks),
## its checkpoints co-signed by a local witness (key and state in var/witness, stopped with it)
WITNESS_NAME ?= localhost/commission-witness
WITNESS_LISTEN ?= 127.0.0.1:8300
WITNESS := $(PY) -m audit.witness
run: $(STAMP)
	$(PY) manage.py migrate --noinput -v0
	@test -f var/witness/key.pem || { mkdir -p var/witness && \
	  $(WITNESS) keygen --out var/witness/key.pem --name $(WITNESS_NAME) >/dev/null; }
	@vkey=$$($(WITNESS) vkey --key var/witness/key.pem --name $(WITNESS_NAME)) || exit 1; \
	$(WITNESS) serve --state var/witness/state --key var/witness/key.pem --name $(WITNESS_NAME) \
	  --listen $(WITNESS_LISTEN) --log "$$($(PY) manage.py audit_log_key)" & witness=$$!; \
	trap 'kill $$witness 2>/dev/null; wait $$witness' EXIT; trap 'exit 130' INT TERM; \
	$(WITNESS) wait --listen $(WITNESS_LISTEN) --vkey "$$vkey" || exit 1; \
	export AUDIT_WITNESSES="http://$(WITNESS_LISTEN) $$vkey"; \
	$(PY) manage.py demo && $(PY) manage.py demo_login_hint && \
	$(PY) manage.py runserver 127.0.0.1:8000

## make test: the whole suite on SQLite, then on PostgreSQL with a real Celery worker on Redis
test: $(STAMP)
	VENV=$(VENV) scripts/test-all.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check .

## make services: start PostgreSQL, Redis and RabbitMQ if they are down (CI, benchmarks)
services:
	scripts/services.sh ensure

## make bench-deps: what the benchmarks need beyond the venv: wrk (Debian's package, for
## bench/consent_page.py) and the services (PostgreSQL, Redis) they run on
bench-deps: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || { echo "installing Debian's wrk"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) \
	    >/tmp/apt-wrk.log 2>&1 || { cat /tmp/apt-wrk.log; exit 1; }; }
	scripts/services.sh ensure pg redis
	@echo "bench-deps: ready; run e.g. $(PY) bench/release.py --help"

clean:
	rm -rf $(VENV) var
