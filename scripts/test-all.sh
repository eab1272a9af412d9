#!/usr/bin/env bash
# The whole suite: lint, then SQLite, then PostgreSQL with a real Celery worker on Redis.
# REQUIRE_SERVICES=1 (set by .ci/run) turns a missing PostgreSQL or Redis into a failure;
# on a laptop without them the PostgreSQL run is skipped, and this says so plainly.
set -u
VENV=${VENV:-.venv}
PYTEST="$VENV/bin/python -m pytest"
PG_URL=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/broker}
REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}

# pytest exits 5 when it collected no tests: that is not a failure of the suite.
run_pytest() { "$@"; rc=$?; [ $rc -eq 5 ] && rc=0; return $rc; }

echo "== ruff"
"$VENV/bin/ruff" check . || exit 1

echo "== tests on SQLite (tasks in-process)"
(unset DATABASE_URL TEST_CELERY_BROKER_URL; run_pytest $PYTEST -q "$@") || exit 1

mode=check; [ "${REQUIRE_SERVICES:-0}" = 1 ] && mode=ensure
if scripts/services.sh $mode pg redis >/tmp/broker-services.log 2>&1; then
  echo "== tests on PostgreSQL with a real Celery worker on Redis"
  DATABASE_URL=$PG_URL TEST_CELERY_BROKER_URL=$REDIS_URL run_pytest $PYTEST -q "$@" || exit 1
else
  cat /tmp/broker-services.log
  if [ "${REQUIRE_SERVICES:-0}" = 1 ]; then
    echo "FAILED: PostgreSQL or Redis is not available, and CI requires both." >&2
    exit 1
  fi
  echo "SKIPPED: the PostgreSQL suite (PostgreSQL or Redis is not running here)."
  echo "         Only the SQLite suite ran. Start them (make services) to run both."
fi
echo "== all tests passed"
