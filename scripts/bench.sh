#!/usr/bin/env bash
# The dispatch benchmark on PostgreSQL and Redis. Arguments go to `python -m bench`
# (default: --agents 500 --rate 50 --seconds 60). Writes test-output/bench/result.json
# and appends a table to docs/benchmarks.md. With `calls` first, the rest go to
# `python -m bench.calls` instead: CPU per call of a ticket's life, in one process.
source "$(dirname "$0")/lib.sh"
ensure_venv requirements-dev.txt
export BENCH_DATABASE_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/marketplace_bench}"
export BENCH_REDIS_URL="${BENCH_REDIS_URL:-redis://127.0.0.1:6379/0}"
ensure_services "$BENCH_DATABASE_URL" "$BENCH_REDIS_URL"
if [ "${1:-}" = calls ]; then
    shift
    exec "$VENV/bin/python" -m bench.calls "$@"
fi
exec "$VENV/bin/python" -m bench "$@"
