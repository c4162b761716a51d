"""CPU time of the processes behind a benchmark phase, from /proc (Linux).

A process's figure is utime + stime + cutime + cstime: the children a process has waited
for move their time into its cutime/cstime, so a PostgreSQL backend that exits between two
readings is still counted, through the postmaster, and the sum over a group stays right
however many of its processes come and go."""

import os
import resource
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")
POSTGRES, REDIS = "postgres", "redis-server"


def read_processes() -> dict[int, tuple[str, int, int]]:
    """pid -> (comm, ppid, CPU clock ticks) of every process readable now."""
    out = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # comm is in parentheses and may itself hold spaces or parentheses.
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        # fields[0] is field 3 (state) of proc(5): ppid is 4, utime..cstime 14..17.
        out[int(entry.name)] = (comm, int(fields[1]), sum(int(f) for f in fields[11:15]))
    return out


def with_descendants(roots: list[int], procs: dict[int, tuple[str, int, int]]) -> set[int]:
    found = {pid for pid in roots if pid in procs}
    while True:
        more = {pid for pid, (_, ppid, _) in procs.items() if ppid in found and pid not in found}
        if not more:
            return found
        found |= more


def database_of(pid: int, name: str) -> bool:
    """Whether a postgres process serves the database `name` (its title names it)."""
    try:
        title = (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return f" {name} " in f" {title} "


def snapshot(app: dict[str, list[int]], database: str = "") -> dict[str, float]:
    """CPU ms so far: per app group (its pids and their descendants), of all postgres and
    all redis-server processes on the machine, of this process (the benchmark's clients),
    and of the postgres backends of `database` alone (to tell the bench's share on a shared
    server; included in the postgres figure)."""
    procs = read_processes()
    ticks: dict[str, int] = {}
    for group, roots in app.items():
        ticks[group] = sum(procs[pid][2] for pid in with_descendants(roots, procs))
    ticks[POSTGRES] = sum(n for comm, _, n in procs.values() if comm == POSTGRES)
    ticks[REDIS] = sum(n for comm, _, n in procs.values() if comm == REDIS)
    if database:
        ticks["postgres_bench_database"] = sum(
            n for pid, (comm, _, n) in procs.items() if comm == POSTGRES and database_of(pid, database)
        )
    ms = {k: v * 1000 / CLK_TCK for k, v in ticks.items()}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    ms["clients"] = (usage.ru_utime + usage.ru_stime) * 1000
    return ms


def per_ticket(before: dict[str, float], after: dict[str, float], tickets: int) -> dict:
    """CPU ms spent between two snapshots, in total and per ticket. The bench database's
    backends can only be followed while they live (an exited one counts in the postmaster),
    so that figure is a lower bound of the bench's PostgreSQL share."""
    spent = {k: round(after[k] - before.get(k, 0.0), 1) for k in after}
    app = spent.get("web", 0.0) + spent.get("sweeper", 0.0)
    data = spent[POSTGRES] + spent[REDIS]

    def each(ms: float) -> float | None:
        return round(ms / tickets, 2) if tickets else None

    return {
        "tickets": tickets,
        "ms": spent,
        "per_ticket_ms": {
            "app": each(app),
            "data": each(data),
            "server": each(app + data),
            "clients": each(spent["clients"]),
        },
    }
