#!/usr/bin/env bash
# Profiles the release build's token and authorize paths under load.
#
# `perf stat -e instructions` is not available on this kind of machine (no
# hardware counters in the VM), so this samples the software cpu-clock with
# `perf record` (DWARF call graphs from the release build's line tables) while
# gatehouse-bench drives one workload, then prints the hottest functions by
# self time and the hottest Gatehouse-level frames by inclusive time.
# Everything on 127.0.0.1; the server is stopped on exit.
#
#   bash bench/profile.sh                      # memory: client-credentials, refresh, code-flow
#   PROFILE_STORES="memory sqlite" bash bench/profile.sh
#   PROFILE_WORKLOADS=introspect PROFILE_SECONDS=8 bash bench/profile.sh
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
STORES=${PROFILE_STORES:-memory}
WORKLOADS=${PROFILE_WORKLOADS:-"client-credentials refresh code-flow"}
SECONDS_PER=${PROFILE_SECONDS:-6}
CONCURRENCY=${PROFILE_CONCURRENCY:-16}
TOP=${PROFILE_TOP:-25}
PORT=18081
RESOURCE=https://mcp.bench.example/mcp
export BENCH_ADMIN_PASSWORD=bench-admin-password-123
export BENCH_PASSWORD=bench-password-123
OUTDIR="$ROOT/target/bench/profile-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUTDIR"

command -v perf >/dev/null || { echo "perf is not installed (apt-get install linux-perf)" >&2; exit 1; }
cargo build --release -p gatehouse-server -p gatehouse-bench
BENCH="$ROOT/target/release/gatehouse-bench"

# Frames worth attributing time to: the handlers and core services, crypto,
# storage, serialization, the kernel's network path, the allocator.
FRAMES='gatehouse_(core|server|store)[a-z_]*::[A-Za-z_:<> ]*(token|refresh|redeem|issue_access_token|authenticate_client|find_client|introspect|userinfo|authorize|decide|validate_authorize|session_user|take_code|rotate|create_grant|client_credentials|find_refresh)|EcdsaKeyPair::sign|ecdsa::verification|argon2::Argon2::(hash|verify)|diesel|sqlite3_step|spawn_blocking|serde_json::(ser|de)::(to_|from_)|serde_urlencoded|do_syscall_64|^ *[0-9.]+% +[0-9.]+% +\[\.\] (malloc|free|_int_free|_int_malloc)$|tracing_subscriber|Logger'
# Percent lines only, without perf's trailing columns, one per line.
tidy() { grep -E '^ +[0-9]' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//' | cut -c1-180; }

PERF_PID=""
stop() {
  if [ -n "$PERF_PID" ]; then
    kill -INT "$PERF_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$PERF_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PERF_PID" 2>/dev/null || true
    PERF_PID=""
  fi
}
trap stop EXIT
trap 'stop; exit 130' INT TERM

for store in $STORES; do
  for w in $WORKLOADS; do
    case $store in
      memory) url=memory ;;
      sqlite) url="sqlite://$OUTDIR/gatehouse-$w.db" ;;
      *) echo "unknown store $store" >&2; exit 1 ;;
    esac
    data="$OUTDIR/$store-$w.perf.data"
    echo "== $store $w" >&2
    # perf execs the server, so the pid perf reports is the server's pid.
    env GATEHOUSE_ADDR=127.0.0.1:$PORT GATEHOUSE_DATABASE_URL="$url" \
      GATEHOUSE_ADMIN_EMAIL=admin@bench.example GATEHOUSE_ADMIN_PASSWORD="$BENCH_ADMIN_PASSWORD" \
      GATEHOUSE_SECRET_KEY=bench-master-key-0123456789abcdef0123456789 \
      GATEHOUSE_LOGIN_ATTEMPTS_PER_MINUTE=100000 RUST_LOG=warn \
      "$BENCH" launch --target "profile-$store" --settle-ms 0 \
        --ready-url "http://127.0.0.1:$PORT/readyz" --log "$OUTDIR/$store-$w.log" \
        --pid-file "$OUTDIR/perf.pid" \
        -- perf record -e cpu-clock -F 1999 --call-graph dwarf,16384 -o "$data" \
           -- "$ROOT/target/release/gatehouse" serve
    PERF_PID=$(cat "$OUTDIR/perf.pid")
    "$BENCH" provision-gatehouse --base "http://127.0.0.1:$PORT" \
      --admin-email admin@bench.example --resource $RESOURCE > "$OUTDIR/env"
    # shellcheck disable=SC1091
    . "$OUTDIR/env"
    BENCH_CLIENT_SECRET=$APP_CLIENT_SECRET BENCH_CC_CLIENT_SECRET=$MACHINE_CLIENT_SECRET \
      "$BENCH" run --target "gatehouse-$store" --workload "$w" \
        --concurrency "$CONCURRENCY" --duration "$SECONDS_PER" --warmup 1 \
        --issuer "http://127.0.0.1:$PORT/api/v1/oauth" \
        --client-id "$APP_CLIENT_ID" --cc-client-id "$MACHINE_CLIENT_ID" \
        --resource $RESOURCE --cc-scope files:read --json "$OUTDIR/runs.jsonl" || true
    stop
    {
      echo "### $store / $w: hottest functions, self time"
      perf report -i "$data" --no-children --sort symbol --stdio -g none 2>/dev/null \
        | tidy | head -n "$TOP" || true
      echo
      echo "### $store / $w: selected frames, inclusive time"
      perf report -i "$data" --children --sort symbol --stdio -g none 2>/dev/null \
        | tidy | grep -E "$FRAMES" | head -n "$TOP" || true
      echo
    } | tee "$OUTDIR/$store-$w.txt"
  done
done
echo "profiles and perf data in $OUTDIR" >&2
