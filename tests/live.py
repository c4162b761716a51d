"""Run the real ASGI server (uvicorn) as a subprocess against the test database.

Browser and multi-process tests need a server that speaks websockets, which Django's
live_server (WSGI) does not. The subprocess gets the test database's URL, so a test using
`django_db(transaction=True)` sees what the server writes and the other way round.
"""

import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

from bench.stack import free_port, uvicorn_command, wait_until_healthy

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


@contextmanager
def asgi_server(*, sweeper: bool = True, log_path: Path | None = None, **env):
    """Yield the base URL of a uvicorn process serving marketplace.asgi:application."""
    port = free_port()
    log_path = log_path or ROOT / "test-output" / f"server-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    child_env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CHANNEL_PREFIX": settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("prefix", "mkt"),
        "SWEEPER_IN_PROCESS": "true" if sweeper else "false",
        "ENVIRONMENT": "test",
        "DB_POOL": "true",
        "OFFER_EXPIRY_GRACE_SECONDS": "0",
        "DEMO_MODE": "true",
        # The log is read while the server runs (e-mails from the console backend).
        "PYTHONUNBUFFERED": "1",
        # Links in e-mails and chat URLs point at this server, as they would at the real site.
        "SITE_URL": f"http://127.0.0.1:{port}",
        **{k: str(v) for k, v in env.items()},
    }
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            uvicorn_command(port),
            cwd=ROOT,
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        problem = wait_until_healthy(base, process, timeout=30)
        if problem:
            raise RuntimeError(f"server {problem}; see {log_path}:\n{log_path.read_text()[-2000:]}")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
