"""The real stack for a benchmark run: a fresh PostgreSQL database, two or more uvicorn
processes and the sweeper, all on one Redis channel layer."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
# The servers' secret; the seeding process uses it too, since API tokens are bound to it.
SECRET_KEY = "benchmark-only-secret"


def admin_url(database_url: str) -> str:
    return urlunsplit(urlsplit(database_url)._replace(path="/postgres"))


def _checked(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing to recreate database with an unusual name: {name!r}")
    return name


def _database_name(database_url: str) -> str:
    return _checked(urlsplit(database_url).path.lstrip("/"))


def recreate_database(database_url: str, *, template: str | None = None) -> None:
    """Drop and create the benchmark database: empty, or a copy of `template`."""
    name = _database_name(database_url)
    copy = f' TEMPLATE "{_checked(template)}"' if template else ""
    with psycopg.connect(admin_url(database_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"{copy}')


def keep_migrated(database_url: str) -> str:
    """Copy the just-migrated benchmark database (nobody may be connected to it) and return
    the copy's name: each scale-out step starts from it instead of migrating again, which
    took longer than a short step itself."""
    name = _database_name(database_url)
    recreate_database(urlunsplit(urlsplit(database_url)._replace(path=f"/{name}_migrated")), template=name)
    return f"{name}_migrated"


def uvicorn_command(port: int, *extra: str) -> list[str]:
    """The command of one web process on 127.0.0.1:`port`, as the benchmark and the tests'
    live servers start it."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "marketplace.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--lifespan",
        "on",
        "--no-access-log",
        *extra,
    ]


def free_port() -> int:
    """A port nobody listens on right now (for --port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_healthy(base: str, proc: subprocess.Popen, timeout: float) -> str | None:
    """Poll /healthz of a server process just started. None when it answers 200, else
    what went wrong."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            return "exited"
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                if response.status == 200:
                    return None
        except OSError:
            pass
        if time.monotonic() > deadline:
            return "did not become healthy"
        time.sleep(0.2)


def rss_kb(pid: int) -> int:
    """Resident memory of one process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class Stack:
    database_url: str
    redis_url: str
    web_processes: int = 2
    base_port: int = 8400
    log_dir: Path = ROOT / "test-output" / "bench"
    # Channel-layer groups of one stack must not reach the sockets of an earlier one.
    channel_prefix: str = f"bench{os.getpid()}"
    procs: list = field(default_factory=list)
    web: list = field(default_factory=list)  # (base_url, Popen)
    sweeper: subprocess.Popen | None = None

    def env(self) -> dict:
        return {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "CHANNEL_PREFIX": self.channel_prefix,
            # No Celery worker runs here: the jobs a ticket causes (the quality recompute a
            # rating starts) stay in each process's memory instead of piling up on a Redis
            # queue that a development worker might later run against its own database.
            "CELERY_BROKER_URL": "memory://localhost/",
            "SWEEPER_IN_PROCESS": "false",
            "ENVIRONMENT": "production",
            "SECRET_KEY": SECRET_KEY,
            "DEBUG": "false",
            # Production settings otherwise, but the clients speak plain HTTP on localhost.
            "SECURE_SSL_REDIRECT": "false",
            # Under ASGI each request runs in its own thread, so persistent connections are
            # per thread and never reused; the pool shares them (see docs/deployment.md).
            "DB_POOL": "true",
            "DB_POOL_MAX": "20",
            "LOG_LEVEL": "WARNING",
            # The benchmark's clients are the only traffic: lift the per-brand API limit.
            "THROTTLE_BRAND": "1000000/min",
            "THROTTLE_AUTH_TOKEN": "1000000/min",
        }

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=self.env(), check=True
        )

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "w")
        proc = subprocess.Popen(args, cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        for i in range(self.web_processes):
            port = self.base_port + i if self.base_port else free_port()
            proc = self._spawn(
                f"web{i}",
                uvicorn_command(port, "--log-level", "warning", "--ws-per-message-deflate", "false"),
            )
            self.web.append((f"http://127.0.0.1:{port}", proc))
        self.sweeper = self._spawn("sweeper", [sys.executable, "manage.py", "run_sweeper"])
        for base, proc in self.web:
            problem = wait_until_healthy(base, proc, timeout=60)
            if problem:
                raise SystemExit(f"web process {base} {problem}; see {self.log_dir}")

    def pids(self) -> dict[str, list[int]]:
        """The app's processes by role, for CPU accounting."""
        return {"web": [proc.pid for _, proc in self.web], "sweeper": [self.sweeper.pid] if self.sweeper else []}

    def web_rss_kb(self) -> int:
        return sum(rss_kb(proc.pid) for _, proc in self.web)

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
