#!/usr/bin/env bash
# Fuzzes every operation of the OpenAPI document (GET /api/v1/openapi.json)
# against a live Gatehouse with Schemathesis, as a platform admin: no 5xx,
# and every status, content type and body as the document says. Runnable by
# hand; SCHEMATHESIS_MAX_EXAMPLES and SCHEMATHESIS_SEED tune a run.
set -euo pipefail
cd "$(dirname "$0")/../.."

VERSION=4.32.5
VENV=target/schemathesis-venv
ST="$VENV/bin/schemathesis"
if ! "$ST" --version 2>/dev/null | grep -qF "$VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$VERSION"
fi

cargo build -q -p gatehouse-server
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
ADMIN_EMAIL=fuzz-admin@example.com
ADMIN_PASSWORD=fuzz-admin-password-1
mkdir -p target/schemathesis-report
LOG=target/schemathesis-report/gatehouse.log
# Client ID metadata documents are off: a fuzzed https client_id would
# otherwise make the server fetch from whatever host the fuzzer invents.
# The per-address registration budget is off: every fuzzed registration
# comes from 127.0.0.1, and the fuzzer checks shapes, not rates (the budget
# has its own tests, and its 429 is in the document).
GATEHOUSE_ADDR="127.0.0.1:$PORT" GATEHOUSE_DATABASE_URL=memory \
GATEHOUSE_ADMIN_EMAIL="$ADMIN_EMAIL" GATEHOUSE_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
GATEHOUSE_SECRET_KEY=schemathesis-master-key-long-enough-0000 \
GATEHOUSE_REGISTRATIONS_PER_ADDRESS_PER_HOUR=0 \
GATEHOUSE_CIMD=false RUST_LOG="${RUST_LOG:-info}" \
  target/debug/gatehouse serve >"$LOG" 2>&1 &
PID=$!
cleanup() {
  kill "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break
  kill -0 "$PID" 2>/dev/null || { cat "$LOG"; echo "gatehouse exited early"; exit 1; }
  sleep 0.1
done

json() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
login() {
  curl -fsS -X POST "$BASE/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"email\": \"$ADMIN_EMAIL\", \"password\": \"$ADMIN_PASSWORD\"}" | json access_token
}
TOKEN=$(login)
export GATEHOUSE_LOGOUT_TOKEN
GATEHOUSE_LOGOUT_TOKEN=$(login)

# A confidential client for the token, revocation and introspection endpoints.
client=$(curl -fsS -X POST "$BASE/api/v1/oauth/clients" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' \
  -d '{"name": "Schemathesis", "redirect_uris": ["http://localhost:8000/callback"],
       "grant_types": ["authorization_code", "refresh_token", "client_credentials"]}')
client_id=$(printf %s "$client" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client"]["client_id"])')
client_secret=$(printf %s "$client" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client"]["client_secret"])')
export GATEHOUSE_CLIENT_BASIC
GATEHOUSE_CLIENT_BASIC=$(printf '%s:%s' "$client_id" "$client_secret" | base64 -w0)

# Dynamically registered clients for RFC 7592: one to read and update, one
# to delete.
register() {
  curl -fsS -X POST "$BASE/api/v1/oauth/register" -H 'Content-Type: application/json' \
    -d '{"client_name": "Schemathesis", "redirect_uris": ["http://127.0.0.1:9/callback"]}'
}
registered=$(register)
doomed=$(register)
export GATEHOUSE_REGISTERED_CLIENT_ID GATEHOUSE_REGISTRATION_TOKEN
export GATEHOUSE_DOOMED_CLIENT_ID GATEHOUSE_DOOMED_REGISTRATION_TOKEN
GATEHOUSE_REGISTERED_CLIENT_ID=$(printf %s "$registered" | json client_id)
GATEHOUSE_REGISTRATION_TOKEN=$(printf %s "$registered" | json registration_access_token)
GATEHOUSE_DOOMED_CLIENT_ID=$(printf %s "$doomed" | json client_id)
GATEHOUSE_DOOMED_REGISTRATION_TOKEN=$(printf %s "$doomed" | json registration_access_token)

# The checks: no 5xx, and every response's status, content type and body as
# the document says. Every operation is run, in every phase (coverage,
# fuzzing, and stateful sequences along the document's links).
seed=()
[[ -n "${SCHEMATHESIS_SEED:-}" ]] && seed=(--seed "$SCHEMATHESIS_SEED")
status=0
SCHEMATHESIS_TELEMETRY=false timeout 600 "$ST" --config-file tests/schemathesis/schemathesis.toml run \
  "$BASE/api/v1/openapi.json" --url "$BASE" \
  -H "Authorization: Bearer $TOKEN" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-100}" "${seed[@]}" \
  --workers 2 --request-timeout 10 --no-color \
  --report junit --report-dir target/schemathesis-report || status=$?
# A run whose admin lost its token (deleted, demoted, signed out) would have
# tested the rest as 401s only: refuse to call that a pass.
code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/v1/oauth/clients" -H "Authorization: Bearer $TOKEN")
if [[ $code != 200 ]]; then
  echo "the admin's token stopped working during the run (GET /api/v1/oauth/clients: $code)"
  status=1
fi
if [[ $status -ne 0 ]]; then
  echo "--- gatehouse log (last 60 lines; all of it in $LOG) ---"
  tail -n 60 "$LOG"
fi
exit $status
