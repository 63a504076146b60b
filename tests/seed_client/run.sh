#!/usr/bin/env bash
# Starts a Gatehouse on a free loopback port with the memory store and runs
# the seed's Python client against it. Used by .ci/run; runnable by hand.
set -euo pipefail
cd "$(dirname "$0")/../.."

python3 -c 'import requests' 2>/dev/null || python3 -m pip install -q requests
cargo build -q -p gatehouse-server
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export ADMIN_EMAIL=seed-admin@example.com
export ADMIN_PASSWORD=seed-admin-password
export GATEHOUSE_URL="http://127.0.0.1:$PORT"
LOG=$(mktemp)
GATEHOUSE_ADDR="127.0.0.1:$PORT" GATEHOUSE_DATABASE_URL=memory \
GATEHOUSE_ADMIN_EMAIL="$ADMIN_EMAIL" GATEHOUSE_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  target/debug/gatehouse serve >"$LOG" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 1 100); do
  curl -fsS "$GATEHOUSE_URL/readyz" >/dev/null 2>&1 && break
  kill -0 $PID 2>/dev/null || { cat "$LOG"; echo "gatehouse exited early"; exit 1; }
  sleep 0.1
done
status=0
timeout 120 python3 tests/seed_client/run_seed_flow.py || status=$?
# SIGTERM must drain and exit 0.
kill -TERM $PID
wait $PID && echo "gatehouse stopped cleanly on SIGTERM" || { echo "gatehouse did not exit 0 on SIGTERM"; status=1; }
trap 'rm -f "$LOG"' EXIT
exit $status
