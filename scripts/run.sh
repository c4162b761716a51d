#!/usr/bin/env bash
# Run the product on http://127.0.0.1:8000 with demo data.
# Without DATABASE_URL / REDIS_URL: embedded (SQLite, in-process channel layer and sweeper).
# With them: PostgreSQL + Redis, and every process in the Procfile.
source "$(dirname "$0")/lib.sh"
ensure_venv requirements.txt
export DEMO_MODE="${DEMO_MODE:-true}"
export PORT="${PORT:-8000}" HOST="${HOST:-127.0.0.1}"
python manage.py migrate --noinput
python manage.py seed_demo
if [ -n "${REDIS_URL:-}" ]; then
  # Each Procfile entry runs under scripts/respawn.sh: a crashed process is started again
  # instead of honcho stopping all of them.
  say "starting web, sweeper, Celery worker and beat (Procfile) on http://$HOST:$PORT"
  exec honcho start -f Procfile
else
  say "embedded mode: SQLite + in-process channel layer; http://$HOST:$PORT"
  # --no-proxy-headers: X-Forwarded-For is judged by Django (BEHIND_PROXY), not by uvicorn,
  # which would believe it from any local client.
  exec uvicorn marketplace.asgi:application --host "$HOST" --port "$PORT" --lifespan on --no-access-log --no-proxy-headers
fi
