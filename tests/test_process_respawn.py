"""`make run` keeps going when one process dies: honcho stops everything as soon as one
Procfile process exits, so each entry runs under scripts/respawn.sh, which starts it again
and still stops cleanly when honcho (or Ctrl-C) asks."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESPAWN = ROOT / "scripts" / "respawn.sh"

# Stands for a server: records each start and each signal it hears; exits on SIGTERM.
CHILD = """
import os, signal, sys, time
log = sys.argv[1]
def note(line):
    with open(log, "a") as f:
        f.write(line + "\\n")
def on_term(sig, frame):
    note(f"signal {sig}")
    time.sleep(1)  # a graceful shutdown takes a moment; a second signal would arrive now
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
note(f"start {os.getpid()}")
while True:
    time.sleep(0.05)
"""


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def wait_for(predicate, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def test_a_crashed_process_is_started_again_and_all_stop_when_asked(tmp_path):
    log = tmp_path / "child.log"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    # As honcho starts a Procfile entry: in a new session, later signalled as a group.
    wrapper = subprocess.Popen(
        [str(RESPAWN), sys.executable, str(script), str(log)], start_new_session=True, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: len(lines(log)) == 1, "the first start")
        first_pid = int(lines(log)[0].split()[1])
        os.kill(first_pid, signal.SIGKILL)  # a crash: no chance to clean up

        wait_for(lambda: len([line for line in lines(log) if line.startswith("start")]) == 2, "the restart")
        os.killpg(wrapper.pid, signal.SIGTERM)  # what honcho does on Ctrl-C
        wrapper.wait(timeout=30)
    finally:
        if wrapper.poll() is None:
            os.killpg(wrapper.pid, signal.SIGKILL)
    stderr = wrapper.stderr.read()

    starts = [line for line in lines(log) if line.startswith("start")]
    assert len(starts) == 2 and starts[1] != starts[0]
    # The running copy heard the stop once: it shut down gracefully instead of being cut off.
    assert lines(log)[2:] == [f"signal {int(signal.SIGTERM)}"]
    assert f"{sys.executable} {script} {log}' exited with status 137; starting it again in 1 s" in stderr


def test_a_process_that_exits_by_itself_is_started_again_too(tmp_path):
    log = tmp_path / "runs.log"
    wrapper = subprocess.Popen(
        [str(RESPAWN), "sh", "-c", f"echo run >> {log}; exit 3"],
        start_new_session=True,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: len(lines(log)) >= 2, "a second run")
    finally:
        os.killpg(wrapper.pid, signal.SIGTERM)
        wrapper.wait(timeout=30)

    assert "exited with status 3; starting it again in 1 s" in wrapper.stderr.read()
    assert wrapper.returncode == 0


def test_every_procfile_process_runs_under_respawn():
    entries = [line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()]

    assert {name for name, _ in entries} == {"web", "sweeper", "worker", "beat"}
    assert all(command.strip().startswith("scripts/respawn.sh ") for _, command in entries)
