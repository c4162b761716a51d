#!/usr/bin/env bash
# Usage: scripts/respawn.sh <command> [args...]
#
# Runs the command and starts it again whenever it exits, one second later, until this
# script is asked to stop (SIGTERM or SIGINT). honcho ends every Procfile process as soon
# as one of them exits; with each entry wrapped in this, a crashed web or sweeper process
# is a logged restart, not the end of `make run`. Production uses the process manager's
# own restart instead (docs/deployment.md).
set -u
if [ "$#" -eq 0 ]; then
  echo "usage: $0 <command> [args...]" >&2
  exit 2
fi

# Job control puts the command in its own process group. honcho signals the whole group of
# this script; the command then hears it once, from us, and shuts down gracefully (uvicorn
# treats a second signal as "exit at once").
set -m
child=""
stopping=""

stop() {
  stopping=1
  if [ -n "$child" ]; then
    kill -TERM "$child" 2>/dev/null
  fi
}
trap stop TERM INT

while true; do
  "$@" &
  child=$!
  # A trapped signal interrupts `wait`; keep waiting until the command has really ended.
  wait "$child"
  status=$?
  while kill -0 "$child" 2>/dev/null; do
    wait "$child"
    status=$?
  done
  child=""
  if [ -n "$stopping" ]; then
    exit 0
  fi
  echo "respawn: '$*' exited with status $status; starting it again in 1 s" >&2
  sleep 1 &
  wait $! 2>/dev/null
  if [ -n "$stopping" ]; then
    exit 0
  fi
done
