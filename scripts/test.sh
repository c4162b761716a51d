#!/usr/bin/env bash
# The whole test suite on PostgreSQL and Redis. Extra arguments go to pytest.
source "$(dirname "$0")/lib.sh"
ensure_venv requirements-dev.txt
# One database name per checkout, so two clones (or a clone and CI) never share a test database.
checkout_id="$(printf '%s' "$ROOT" | sha256sum | cut -c1-8)"
export DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/marketplace_$checkout_id}"
# A Redis database of its own: the suite clears its cache, which must not empty the one of
# a development server running on database 0.
export REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"
ensure_services "$DATABASE_URL" "$REDIS_URL"
ensure_chromium
ensure_gettext
export ENVIRONMENT=test CHANNEL_PREFIX="mkt-test-$$"
# The test process itself opens and drops its test database and keeps a connection per
# thread of each test: no pool there. The servers tests start use it, as production does
# (tests/live.py).
export DB_POOL="${DB_POOL:-false}"
mkdir -p test-output
# One worker per core (TEST_WORKERS to change it); a file's tests stay on one worker, in
# order, since some share module-level fixtures. Each worker has its own test database,
# Redis database and channel prefix (marketplace/settings.py).
exec "$VENV/bin/pytest" -n "${TEST_WORKERS:-auto}" --dist loadfile "$@"
