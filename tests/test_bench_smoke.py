"""A few seconds of the benchmark, so it keeps working. Timings on a shared CI machine
mean nothing, so only integrity is asserted, and that the simulated clients really did
their part: a run whose handovers failed or whose customers never connected would show
no double assignment and no lost message without proving anything."""

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
    integrity, customers = report["integrity"], report["customers"]

    # 4/s for 3 s and 4/s for 2 s: 18 to 20 handovers, each answered 201 and every socket
    # opened. At this rate nothing is allowed to fail, so any error is a bug.
    assert report["error_count"] == 0 and report["rest_errors"] == 0, report["errors"]
    assert customers["started"] >= 15
    assert integrity["tickets_created"] == integrity["tickets_answered"] == customers["started"]
    assert integrity["tickets_created_unanswered"] == 0
    assert integrity["tickets_resolved"] == integrity["tickets_created"]
    assert integrity["tickets_unfinished_after_drain"] == 0
    # The customers listened: their sockets opened and heard the agents' messages, so
    # "no message lost" below is a measurement, not an empty set.
    assert customers["sockets_connected"] == customers["started"]
    assert customers["frames_received"] > 0 and customers["agent_messages_received"] > 0

    assert integrity["double_assignments"] == 0
    assert integrity["tickets_lost"] == 0
    assert integrity["messages_lost"] == 0
    assert report["latency"]["created_to_offer"]["n"] > 0
    assert report["latency"]["freed_to_next_offer"]["n"] > 0
