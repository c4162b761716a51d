# Shared helpers for scripts/run.sh, scripts/test.sh and scripts/bench.sh. Source, don't run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON_BIN="${PYTHON:-python3}"
VENV="$ROOT/.venv"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Create .venv and install a requirements file; reinstall only when the file changed.
ensure_venv() {
  local req="$1" stamp
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtualenv in .venv"
    "$PYTHON_BIN" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
  fi
  stamp="$VENV/.installed-$(basename "$req")"
  local digest
  digest="$(cat requirements*.txt | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    say "installing $req"
    "$VENV/bin/pip" install -q -r "$req"
    echo "$digest" > "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}

# The server answers (checked on its maintenance database: the test database is created later).
pg_up() { "$VENV/bin/python" - "$1" <<'PY' 2>/dev/null
import sys, psycopg
from urllib.parse import urlsplit, urlunsplit
url = urlsplit(sys.argv[1])
psycopg.connect(urlunsplit(url._replace(path="/postgres")), connect_timeout=2).close()
PY
}

redis_up() { "$VENV/bin/python" - "$1" <<'PY' 2>/dev/null
import sys, redis
redis.Redis.from_url(sys.argv[1], socket_connect_timeout=2).ping()
PY
}

# Make sure PostgreSQL and Redis answer; start the local ones if they are installed.
ensure_services() {
  local db_url="$1" redis_url="$2"
  if ! pg_up "$db_url"; then
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
      say "PostgreSQL is not answering; starting the local cluster"
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
      for _ in $(seq 1 30); do pg_up "$db_url" && break; sleep 1; done
    fi
    pg_up "$db_url" || {
      echo "PostgreSQL is not reachable at $db_url." >&2
      echo "Start it (for example: pg_ctlcluster <version> main start) or set TEST_DATABASE_URL." >&2
      exit 1
    }
  fi
  if ! redis_up "$redis_url"; then
    if command -v redis-server >/dev/null 2>&1; then
      say "Redis is not answering; starting redis-server"
      mkdir -p /tmp/redis-marketplace
      redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --dir /tmp/redis-marketplace --logfile /tmp/redis-marketplace/redis.log || true
      for _ in $(seq 1 20); do redis_up "$redis_url" && break; sleep 0.5; done
    fi
    redis_up "$redis_url" || {
      echo "Redis is not reachable at $redis_url." >&2
      echo "Start it (for example: redis-server --daemonize yes) or set TEST_REDIS_URL." >&2
      exit 1
    }
  fi
}

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser).
ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then return 0; fi
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's chromium for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "Chromium is missing: run 'sudo apt-get install chromium' (browser tests need /usr/bin/chromium)." >&2
    exit 1
  fi
}

# GNU gettext (xgettext, msgfmt) for makemessages and compilemessages.
ensure_gettext() {
  if command -v msgfmt >/dev/null 2>&1 && command -v xgettext >/dev/null 2>&1; then return 0; fi
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's gettext for the translation catalogues"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null
  else
    echo "GNU gettext is missing: run 'sudo apt-get install gettext' (needed to check translations)." >&2
    exit 1
  fi
}
