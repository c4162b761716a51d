"""Figures from samples, and the Markdown table appended to docs/benchmarks.md."""

import os
import platform
import statistics

# --- Statistics ---------------------------------------------------------------------------


def summary(samples_s: list[float]) -> dict:
    if not samples_s:
        return {"n": 0}
    ordered = sorted(samples_s)

    def pct(p):
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))] * 1000

    return {
        "n": len(ordered),
        "p50_ms": round(pct(50), 2),
        "p95_ms": round(pct(95), 2),
        "p99_ms": round(pct(99), 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
    }


# --- Report --------------------------------------------------------------------------------


def versions() -> dict:
    import channels
    import channels_redis
    import django
    import psycopg
    import redis as redis_py
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0]
    return {
        "python": platform.python_version(),
        "django": django.get_version(),
        "channels": channels.__version__,
        "channels_redis": channels_redis.__version__,
        "psycopg": psycopg.__version__,
        "redis_py": redis_py.__version__,
        "postgresql": pg,
        "redis_server": redis_py.Redis.from_url(os.environ["REDIS_URL"]).info("server")["redis_version"],
    }


def markdown(result: dict) -> str:
    floor = result["floor"]["total"]["p50_ms"]
    lat = result["latency"]
    targets = {
        "created_to_offer": "p50 <= 15, p99 <= 60",
        "accept_to_assigned_agent": "p99 <= 40",
        "accept_to_assigned_customer": "p99 <= 40",
        "message_agent_to_customer": "",
        "freed_to_next_offer": "<= 1000",
    }
    lines = [
        f"## {result['started_at']}",
        "",
        f"Command: `{result['command']}` ({result['effective']})  ",
        f"Machine: {result['machine']['cpus']} CPUs, {result['machine']['platform']}  ",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()),
        "",
        "| figure | n | p50 ms | p95 ms | p99 ms | max ms | p50 / floor | p99 / floor | target |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, s in lat.items():
        if not s.get("n"):
            lines.append(f"| {name} | 0 | | | | | | | {targets[name]} |")
            continue
        lines.append(
            f"| {name} | {s['n']} | {s['p50_ms']} | {s['p95_ms']} | {s['p99_ms']} | {s['max_ms']} | "
            f"{s['p50_ms'] / floor:.1f}x | {s['p99_ms'] / floor:.1f}x | {targets[name]} |"
        )
    f = result["floor"]
    lines += [
        f"| floor: PG row-lock tx + Redis publish->receive | {f['total']['n']} | {f['total']['p50_ms']} | "
        f"{f['total']['p95_ms']} | {f['total']['p99_ms']} | {f['total']['max_ms']} | 1.0x | | |",
        "",
        f"Throughput: {result['throughput']['created_per_s']} tickets/s created for "
        f"{result['throughput']['steady_seconds']} s (target rate {result['args']['rate']}), "
        f"{result['throughput']['resolved_per_s_during_steady']} resolved/s; errors: {result['error_count']} "
        f"(REST {result['rest_errors']}) "
        f"{result['errors'] or ''}  ",
        f"Memory: {result['memory']['per_idle_agent_kb']} KB RSS per idle connected agent "
        f"({result['memory']['idle_agents']} agents, web RSS {result['memory']['web_rss_before_kb']} -> "
        f"{result['memory']['web_rss_after_kb']} KB; target <= 100 KB)  ",
        "Integrity: " + ", ".join(f"{k} {v}" for k, v in result["integrity"].items()),
        "",
    ]
    lines += capacity_table(result)
    if result.get("scale_out"):
        lines += scale_out_table(result["scale_out"])
    return "\n".join(lines)


def _ms(value) -> str:
    return "" if value is None else f"{value}"


def capacity_table(result: dict) -> list[str]:
    cpu, c, s = result["cpu"], result["completion"], result["saturation"]
    per, cores = cpu["per_ticket_ms"], s["cores"]
    kept_up = "kept up" if c["kept_up"] else "did not keep up"
    return [
        f"CPU from /proc over the steady phase after its first {c['window_after_seconds']} s ({cpu['tickets']} "
        f"tickets created in the {c['window_seconds']} s left); a ticket's life is intake, offer, accept, agent message, customer answer, "
        "resolve, rating. Data services are every PostgreSQL and Redis process on the machine.",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| CPU ms per ticket: app processes (web + sweeper) | {_ms(per['app'])} |",
        f"| CPU ms per ticket: data services (PostgreSQL + Redis) | {_ms(per['data'])} |",
        f"| server CPU ms per ticket, all processes | {_ms(per['server'])} |",
        f"| CPU ms per ticket: benchmark clients | {_ms(per['clients'])} |",
        f"| estimated CPU-bound saturation, clients on board ({cores} cores x 1000 / (server + clients ms)) | "
        f"{_ms(s['estimated_per_s_with_clients'])} tickets/s |",
        f"| estimated saturation, servers only ({cores} cores x 1000 / server ms) | "
        f"{_ms(s['estimated_per_s_servers_only'])} tickets/s |",
        f"| offered rate; created / first offers / resolved per s in the window | {c['offered_rate']}/s; "
        f"{c['created_per_s']} / {c['first_offers_per_s']} / {c['resolved_per_s']}: {kept_up} |",
        f"| intake 429s (retries) | {result['intake']['answers_429']} ({result['intake']['retries']}) |",
        f"| handovers sent again after a failed connection | {result['intake'].get('transport_retries', 0)} |",
        f"| offers expired by server delay | {result['offers_expired_by_server_delay']} |",
        "",
    ]


def scale_out_table(steps: list[dict]) -> list[str]:
    lines = [
        "Scale-out: the steady phase again on a fresh stack and database per number of web processes "
        "(rates per second of the window after the first seconds).",
        "",
        "| web processes | offered rate | throughput reached | created->offer p50/p99 | server CPU/ticket | errors |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for step in steps:
        c, lat = step["completion"], step["created_to_offer"]
        latency = f"{lat['p50_ms']} / {lat['p99_ms']} ms" if lat.get("n") else "no samples"
        lines.append(
            f"| {step['web_processes']} | {step['offered_rate']}/s | {c['resolved_per_s']} resolved/s, "
            f"{c['first_offers_per_s']} offered/s | {latency} | {_ms(step['cpu']['per_ticket_ms']['server'])} ms | "
            f"{step['error_count']} |"
        )
    lines.append("")
    return lines
