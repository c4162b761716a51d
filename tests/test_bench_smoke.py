"""A few seconds of the benchmark, so it keeps working. Only integrity is asserted:
timings on a shared CI machine mean nothing."""

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_smoke_run_keeps_integrity(tmp_path):
    db = settings.DATABASES["default"]
    base = f"postgres://{db.get('USER') or 'postgres'}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
    database_url = urlunsplit(urlsplit(base)._replace(path=f"/{db['NAME']}_bench"))
    out = tmp_path / "result.json"
    result = subprocess.run(
        [
            sys.executable, "-m", "bench",
            "--agents", "8", "--rate", "4", "--seconds", "3",
            "--overload-agents", "2", "--overload-rate", "4", "--overload-seconds", "2",
            "--port", "0", "--database-url", database_url, "--redis-url", settings.REDIS_URL,
            "--json", str(out), "--no-docs",
        ],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    integrity = report["integrity"]
    assert integrity["tickets_created"] > 10
    assert integrity["double_assignments"] == 0
    assert integrity["tickets_lost"] == 0
    assert integrity["messages_lost"] == 0
    assert integrity["tickets_unfinished_after_drain"] == 0
    assert report["latency"]["created_to_offer"]["n"] > 0
    assert report["latency"]["freed_to_next_offer"]["n"] > 0
