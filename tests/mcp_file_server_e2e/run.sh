#!/usr/bin/env bash
# MCP File Server end to end: the official MCP Python SDK client and the MCP Inspector CLI
# against the Rust example (examples/mcp-file-server) protected by a live Gatehouse.
#
#   bash tests/mcp_file_server_e2e/run.sh
#
# Installs what it needs (a venv in tests/mcp_file_server_e2e/.venv), builds `gatehouse` and
# `mcp-file-server`, starts Gatehouse (memory store) and registers the example as a protected
# resource with its token-exchange client, creates two organizations (one the administrator
# belongs to, one owned by someone else), starts the example, and runs the SDK client with a
# scripted person on Gatehouse's pages (file_server_e2e.py). Everything listens on free
# 127.0.0.1 ports, every wait is bounded, everything is stopped on exit.
# Last line: `mcp file server e2e: N passed, M failed`; exit status 1 on any failure.
#
# GATEHOUSE_BIN=PATH / MCP_FILE_SERVER_BIN=PATH use those binaries instead of building;
# E2E_LOGS=DIR keeps the servers' logs.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"

PY="$HERE/.venv/bin/python"
export E2E_EMAIL=file-server-e2e-admin@example.com
export E2E_PASSWORD=file-server-e2e-admin-password
WORK=$(mktemp -d)
PIDS=()
PASSED=0
FAILED=0
CURRENT=

say() { printf '\n==> %s\n' "$*"; }

cleanup() {
  local pid
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

show_logs() {
  for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $(basename "$f") (last 40 lines)"; tail -n 40 "$f"; }; done
}

# Give up: nothing further can run.
die() {
  echo "mcp file server e2e: $*"
  show_logs
  echo "mcp file server e2e: $PASSED passed, $((FAILED + 1)) failed"
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

say "install"
if [ ! -x "$PY" ]; then python3 -m venv "$HERE/.venv" || die "cannot create the venv"; fi
timeout 600 "$PY" -m pip install -q --disable-pip-version-check -r "$HERE/requirements.txt" || die "pip install failed"
if [ -z "${GATEHOUSE_BIN:-}" ] || [ -z "${MCP_FILE_SERVER_BIN:-}" ]; then
  timeout 1800 cargo build -q -p gatehouse-server -p gatehouse-example-mcp-file-server || die "cargo build failed"
fi
GATEHOUSE="${GATEHOUSE_BIN:-$ROOT/target/debug/gatehouse}"
FILE_SERVER="${MCP_FILE_SERVER_BIN:-$ROOT/target/debug/mcp-file-server}"
[ -x "$GATEHOUSE" ] || die "no gatehouse binary at $GATEHOUSE"
[ -x "$FILE_SERVER" ] || die "no mcp-file-server binary at $FILE_SERVER"

GH_PORT=$(free_port); MCP_PORT=$(free_port); CB_PORT=$(free_port)
BASE="http://127.0.0.1:$GH_PORT"
ISSUER="$BASE/api/v1/oauth"
MCP_URL="http://127.0.0.1:$MCP_PORT/mcp"
# The SDK client's redirect URI. Nothing listens there: the scripted person reads the
# redirect's Location and hands code, state and iss to the client, as a browser would.
REDIRECT_URI="http://127.0.0.1:$CB_PORT/callback"

say "start gatehouse"
# A SQLite file rather than memory: `gatehouse doctor` reads the resource registry from the store.
GH_DB="sqlite://$WORK/gatehouse.db"
GATEHOUSE_ADDR="127.0.0.1:$GH_PORT" GATEHOUSE_DATABASE_URL="$GH_DB" \
GATEHOUSE_ADMIN_EMAIL="$E2E_EMAIL" GATEHOUSE_ADMIN_PASSWORD="$E2E_PASSWORD" \
GATEHOUSE_LOGIN_ATTEMPTS_PER_MINUTE=1000 RUST_LOG="${RUST_LOG:-info}" \
  "$GATEHOUSE" serve >"$WORK/gatehouse.log" 2>&1 &
GH_PID=$!; PIDS+=("$GH_PID")
wait_for gatehouse "$GH_PID" curl -fsS --max-time 2 "$BASE/readyz"
echo "gatehouse at $BASE"

say "register the example with gatehouse"
(cd "$HERE" && timeout 60 "$PY" file_server_e2e.py setup --base "$BASE" --resource "$MCP_URL") \
  >"$WORK/setup.json" 2>"$WORK/setup.log" || die "setup failed: $(cat "$WORK/setup.log")"
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$WORK/setup.json" "$1"; }
echo "resource $MCP_URL, exchange client $(field client_id)"

say "mcp-file-server refuses to start with a credential Gatehouse refuses"
# A wrong secret, and the `null` a failed `jq` in a setup script leaves behind: each must
# stop the server at once with a message naming the variables, never log "ready".
bad_start() {
  local label=$1 id=$2 secret=$3 out="$WORK/bad-start.log" rc
  GATEHOUSE_ISSUER="$ISSUER" MCP_RESOURCE_URL="$MCP_URL" MCP_ADDR="127.0.0.1:$(free_port)" \
  MCP_CLIENT_ID="$id" MCP_CLIENT_SECRET="$secret" RUST_LOG=warn \
    timeout 20 "$FILE_SERVER" >"$out" 2>&1
  rc=$?
  if [ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q "MCP_CLIENT_SECRET" "$out" && grep -q "MCP_CLIENT_ID" "$out" \
     && ! grep -q "ready" "$out"; then
    echo "  ok    $label: exit $rc, $(grep -o 'refused.*' "$out" | head -n 1 | cut -c1-140)"
    PASSED=$((PASSED + 1))
  else
    echo "  FAIL  $label: exit $rc"; cat "$out"
    FAILED=$((FAILED + 1))
  fi
}
bad_start "a wrong MCP_CLIENT_SECRET" "$(field client_id)" "secret_not-the-right-one"
bad_start "MCP_CLIENT_ID=null" "null" "$(field client_secret)"
for mode in introspection expiry; do
  MCP_REVOCATION=$mode bad_start "a wrong MCP_CLIENT_SECRET with MCP_REVOCATION=$mode" "$(field client_id)" "secret_wrong"
done

say "start mcp-file-server"
GATEHOUSE_ISSUER="$ISSUER" MCP_RESOURCE_URL="$MCP_URL" MCP_ADDR="127.0.0.1:$MCP_PORT" \
MCP_CLIENT_ID="$(field client_id)" MCP_CLIENT_SECRET="$(field client_secret)" RUST_LOG="${RUST_LOG:-info,rmcp=warn}" \
  "$FILE_SERVER" >"$WORK/mcp-file-server.log" 2>&1 &
FS_PID=$!; PIDS+=("$FS_PID")
wait_for mcp-file-server "$FS_PID" curl -fsS --max-time 2 "http://127.0.0.1:$MCP_PORT/.well-known/oauth-protected-resource/mcp"
echo "MCP file server at $MCP_URL"

say "gatehouse doctor finds nothing wrong with the example"
if GATEHOUSE_ADDR="127.0.0.1:$GH_PORT" GATEHOUSE_DATABASE_URL="$GH_DB" RUST_LOG=error \
   timeout 60 "$GATEHOUSE" doctor "$MCP_URL" >"$WORK/doctor.out" 2>&1; then
  cat "$WORK/doctor.out"
  echo "  ok    gatehouse doctor: every check passes (exit 0)"
  PASSED=$((PASSED + 1))
  if GATEHOUSE_ADDR="127.0.0.1:$GH_PORT" GATEHOUSE_DATABASE_URL="$GH_DB" RUST_LOG=error \
       timeout 60 "$GATEHOUSE" doctor "$MCP_URL" --json >"$WORK/doctor.json" 2>&1 \
     && python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if all(c["ok"] for c in r["checks"]) and any(p["client"]=="MCP Inspector (browser)" and p["connects"] for p in r["clients"]) else 1)' "$WORK/doctor.json"; then
    echo "  ok    gatehouse doctor --json: the same verdict for machines"
    PASSED=$((PASSED + 1))
  else
    echo "  FAIL  gatehouse doctor --json"; cat "$WORK/doctor.json"; FAILED=$((FAILED + 1))
  fi
else
  cat "$WORK/doctor.out"
  echo "  FAIL  gatehouse doctor reported a problem with the example"
  FAILED=$((FAILED + 1))
fi

say "the example's README, walked: its setup script as written, the server, the doctor"
# The administrator's setup block of examples/mcp-file-server/README.md runs verbatim (its
# defaults overridden by the environment it reads), for a second file server on its own port.
readme_walk() {
  local block="$WORK/readme-setup.sh" out="$WORK/readme.out" port url pid
  port=$(free_port); url="http://127.0.0.1:$port/mcp"
  python3 - "$ROOT/examples/mcp-file-server/README.md" >"$block" <<'PY' || { echo "  FAIL  no setup block in the README"; FAILED=$((FAILED + 1)); return; }
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"<!-- e2e:setup[^>]*-->\s*```bash\n(.*?)```", text, re.S)
if not m:
    sys.exit(1)
print(m.group(1))
PY
  # A failed step stops the script with Gatehouse's error, not a `null` carried forward.
  if BASE="$BASE" MCP="$url" ADMIN_EMAIL="$E2E_EMAIL" ADMIN_PASSWORD=not-the-password \
       timeout 60 bash "$block" >"$out" 2>&1; then
    echo "  FAIL  the README's setup went on after a failed sign-in"; cat "$out"; FAILED=$((FAILED + 1))
  elif grep -q "null\|file server client" "$out"; then
    echo "  FAIL  the README's setup carried a failure forward"; cat "$out"; FAILED=$((FAILED + 1))
  else
    echo "  ok    the README's setup stops at a failed step with its error: $(grep -m1 -o 'curl: ([0-9]*) .*' "$out")"
    PASSED=$((PASSED + 1))
  fi
  printf '\nprintf "MCP_CLIENT_ID=%%s\\nMCP_CLIENT_SECRET=%%s\\n" "$MCP_CLIENT_ID" "$MCP_CLIENT_SECRET" >"%s"\n' \
    "$WORK/readme.env" >>"$block"
  if ! BASE="$BASE" MCP="$url" ADMIN_EMAIL="$E2E_EMAIL" ADMIN_PASSWORD="$E2E_PASSWORD" \
       timeout 60 bash "$block" >"$out" 2>&1; then
    echo "  FAIL  the README's setup script failed"; cat "$out"; FAILED=$((FAILED + 1)); return
  fi
  echo "  ok    the README's setup script ran: $(grep 'file server client' "$out")"
  PASSED=$((PASSED + 1))
  # Step 3 with what step 2 left in the shell.
  ( set -a; . "$WORK/readme.env"; set +a
    GATEHOUSE_ISSUER="$ISSUER" MCP_RESOURCE_URL="$url" MCP_ADDR="127.0.0.1:$port" RUST_LOG=warn \
      exec "$FILE_SERVER" ) >"$WORK/readme-server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 150); do curl -fs --max-time 1 "http://127.0.0.1:$port/.well-known/oauth-protected-resource/mcp" >/dev/null && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if GATEHOUSE_ADDR="127.0.0.1:$GH_PORT" GATEHOUSE_DATABASE_URL="$GH_DB" RUST_LOG=error \
       timeout 60 "$GATEHOUSE" doctor "$url" >"$WORK/readme-doctor.out" 2>&1; then
    echo "  ok    the server started as the README says, and gatehouse doctor passes every check"
    PASSED=$((PASSED + 1))
  else
    echo "  FAIL  gatehouse doctor on the README's server"; cat "$WORK/readme-doctor.out" "$WORK/readme-server.log"
    FAILED=$((FAILED + 1))
  fi
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
}
readme_walk

say "python SDK client"
OUT="$WORK/client.out"
(cd "$HERE" && exec timeout --kill-after=10 180 "$PY" file_server_e2e.py client --mcp-url "$MCP_URL" \
  --issuer "$ISSUER" --redirect-uri "$REDIRECT_URI" --setup "$WORK/setup.json" \
  --server-log "$WORK/mcp-file-server.log") >"$OUT" 2>&1 &
CURRENT=$!
wait "$CURRENT"; RC=$?
CURRENT=
cat "$OUT"
COUNTS=$(sed -nE 's/^[^ ].*: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$OUT" | tail -n 1)
if [ -z "$COUNTS" ]; then
  if [ "$RC" = 124 ]; then echo "  FAIL  the client timed out after 180s"; else echo "  FAIL  the client ended without a summary (exit $RC)"; fi
  FAILED=$((FAILED + 1))
else
  set -- $COUNTS
  PASSED=$((PASSED + $1)); FAILED=$((FAILED + $2))
  if [ "$RC" != 0 ] && [ "$2" = 0 ]; then echo "  FAIL  the client exited $RC"; FAILED=$((FAILED + 1)); fi
fi
say "MCP Inspector CLI: headless OAuth, then a tool call"
# The third real client (@modelcontextprotocol/inspector, pinned in inspector/package-lock.json).
# In --cli mode it discovers, registers, prints the authorization URL and waits on its loopback
# callback; the scripted person (pages.py) signs in and consents, and the redirect is delivered to
# the callback, as a browser would. Its secrets stay in memory; its files live in $WORK.
inspector_check() {
  local out="$WORK/inspector.out" url loc rc
  (cd "$HERE/inspector" && timeout 300 npm ci --no-audit --no-fund --loglevel=error >"$WORK/npm.log" 2>&1) \
    || { echo "  FAIL  npm ci of the MCP Inspector failed: $(tail -n 3 "$WORK/npm.log")"; FAILED=$((FAILED + 1)); return; }
  mkdir -p "$WORK/inspector-home"
  (cd "$HERE/inspector" && HOME="$WORK/inspector-home" MCP_AUTO_OPEN_ENABLED=true MCP_INSPECTOR_SECRET_STORE=memory \
     exec timeout --kill-after=5 120 npx --no-install mcp-inspector --cli "$MCP_URL" --transport http \
       --method tools/call --tool-name get_user_profile --format json) >"$out" 2>&1 &
  CURRENT=$!
  for _ in $(seq 1 300); do grep -q "Please navigate to: " "$out" && break; kill -0 "$CURRENT" 2>/dev/null || break; sleep 0.2; done
  url=$(sed -nE 's/.*Please navigate to: (http[^ ]+).*/\1/p' "$out" | head -n 1)
  if [ -z "$url" ]; then
    wait "$CURRENT"; CURRENT=
    echo "  FAIL  the Inspector printed no authorization URL"; cat "$out"; FAILED=$((FAILED + 1)); return
  fi
  loc=$(cd "$ROOT/tests/mcp_e2e" && timeout 60 "$PY" pages.py "$url") \
    && curl -fsS --max-time 10 "$loc" >/dev/null
  wait "$CURRENT"; rc=$?; CURRENT=
  if [ "$rc" = 0 ] && grep -q "$E2E_EMAIL" "$out" && [[ "$url" == *"resource="* ]]; then
    echo "  ok    the MCP Inspector CLI completed OAuth headless (discovery, registration, consent) and get_user_profile returned $E2E_EMAIL"
    PASSED=$((PASSED + 1))
  else
    echo "  FAIL  the MCP Inspector CLI (exit $rc)"; tail -n 40 "$out"; FAILED=$((FAILED + 1))
  fi
}
inspector_check

kill -0 "$GH_PID" 2>/dev/null || { echo "  FAIL  gatehouse died during the run"; FAILED=$((FAILED + 1)); }
kill -0 "$FS_PID" 2>/dev/null || { echo "  FAIL  mcp-file-server died during the run"; FAILED=$((FAILED + 1)); }

[ "$FAILED" = 0 ] || show_logs
echo
echo "mcp file server e2e: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
