#!/usr/bin/env bash
# Two builds of Gatehouse, side by side, in one run: did a change make it
# slower? For refactors that must not cost throughput (`just bench-ab REV`).
#
#   bash bench/ab.sh BASE_REV
#
# Builds BASE_REV in a git worktree (target/bench/ab-base, its own target
# directory, reused between runs) and the working tree, then alternates the
# two builds round by round (A B A B …) on every workload and store, each
# run on a freshly started server, driven by the working tree's
# gatehouse-bench. Alternating spreads machine noise (other load, thermal)
# over both builds instead of letting it fall on one. Prints, and writes to
# target/bench/ab-*/summary.md, the median throughput and p99 of each build
# and the ratio new ÷ base. Everything listens on 127.0.0.1 and every
# process started here is stopped on exit.
#
# Settings (environment):
#   AB_ROUNDS       rounds (each runs both builds once per cell)   (3)
#   AB_WORKLOADS    workloads                  ("client-credentials refresh")
#   AB_STORES       stores                     ("memory sqlite")
#   AB_CONCURRENCY  connections                (16)
#   AB_DURATION     measured seconds per run   (10)
#   AB_WARMUP       warm-up seconds per run    (2)
#   AB_BASE_BIN     a prebuilt base `gatehouse` binary: skips the base build
#   AB_NEW_BIN      a prebuilt `gatehouse` binary to use instead of the
#                   working tree's (to compare two older builds)
#   AB_BENCH_BIN    with AB_NEW_BIN: a prebuilt `gatehouse-bench`, so the
#                   working tree is not built at all
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BASE_REV=${1:?usage: bash bench/ab.sh BASE_REV}
ROUNDS=${AB_ROUNDS:-3}
WORKLOADS=${AB_WORKLOADS:-"client-credentials refresh"}
STORES=${AB_STORES:-"memory sqlite"}
CONCURRENCY=${AB_CONCURRENCY:-16}
DURATION=${AB_DURATION:-10}
WARMUP=${AB_WARMUP:-2}
PORT=18081
RESOURCE=https://mcp.bench.example/mcp
REDIRECT=http://localhost:8000/oauth/callback
ADMIN_EMAIL=admin@bench.example
export BENCH_ADMIN_PASSWORD=bench-admin-password-123
USER_EMAIL=bench@example.com
USER_PASSWORD=bench-password-123

RUNDIR="$ROOT/target/bench/ab-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RUNDIR/db"
RESULTS="$RUNDIR/results.jsonl"
SERVER_PID=""

say() { printf '\n== %s\n' "$*" >&2; }

# Stops the server started last: TERM, then KILL after 5 s (bounded).
stop_server() {
  local pid=$SERVER_PID
  SERVER_PID=""
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

BASE_SHA=$(git rev-parse --short "$BASE_REV")
HEAD_DESC="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo '+changes')"
[ -z "${AB_NEW_BIN:-}" ] || HEAD_DESC="${AB_NEW_DESC:-$AB_NEW_BIN}"
if [ -n "${AB_BASE_BIN:-}" ]; then
  BASE_BIN=$AB_BASE_BIN
else
  say "building the base ($BASE_SHA) in target/bench/ab-base"
  WT="$ROOT/target/bench/ab-base"
  if [ -d "$WT" ]; then
    git -C "$WT" checkout -q --detach "$BASE_REV"
  else
    git worktree add -q --detach "$WT" "$BASE_REV"
  fi
  CARGO_TARGET_DIR="$ROOT/target/bench/ab-base-target" \
    cargo build --release -p gatehouse-server --manifest-path "$WT/Cargo.toml"
  BASE_BIN="$ROOT/target/bench/ab-base-target/release/gatehouse"
fi
if [ -n "${AB_NEW_BIN:-}" ] && [ -n "${AB_BENCH_BIN:-}" ]; then
  # Both prebuilt: the working tree is not built (it may be mid-edit).
  BENCH=$AB_BENCH_BIN
else
  say "building the working tree ($HEAD_DESC)"
  cargo build --release -p gatehouse-server -p gatehouse-bench
  BENCH="$ROOT/target/release/gatehouse-bench"
fi
# Copied so that editing and rebuilding during the run cannot swap it.
cp "${AB_NEW_BIN:-target/release/gatehouse}" "$RUNDIR/gatehouse-new"
cp "$BASE_BIN" "$RUNDIR/gatehouse-base"

# run_one BUILD STORE WORKLOAD ROUND
run_one() {
  local build=$1 store=$2 workload=$3 round=$4 url
  case $store in
    memory) url=memory ;;
    sqlite) url="sqlite://$RUNDIR/db/$build-$workload-$round.db" ;;
    *) echo "unknown store $store" >&2; return 1 ;;
  esac
  local log="$RUNDIR/$build-$store-$workload-$round.log"
  env GATEHOUSE_ADDR=127.0.0.1:$PORT GATEHOUSE_DATABASE_URL="$url" \
    GATEHOUSE_ADMIN_EMAIL=$ADMIN_EMAIL GATEHOUSE_ADMIN_PASSWORD="$BENCH_ADMIN_PASSWORD" \
    GATEHOUSE_SECRET_KEY=bench-master-key-0123456789abcdef0123456789 \
    GATEHOUSE_LOGIN_ATTEMPTS_PER_MINUTE=100000 RUST_LOG=warn \
    "$BENCH" launch --target "$build-$store" --ready-url "http://127.0.0.1:$PORT/readyz" \
      --log "$log" --pid-file "$RUNDIR/server.pid" --json "$RUNDIR/startup.jsonl" \
      -- "$RUNDIR/gatehouse-$build" serve
  SERVER_PID=$(cat "$RUNDIR/server.pid")
  BENCH_PASSWORD=$USER_PASSWORD "$BENCH" provision-gatehouse \
    --base "http://127.0.0.1:$PORT" --admin-email $ADMIN_EMAIL \
    --resource $RESOURCE --redirect-uri $REDIRECT --user-email $USER_EMAIL \
    > "$RUNDIR/env"
  # shellcheck disable=SC1091
  . "$RUNDIR/env"
  BENCH_PASSWORD=$USER_PASSWORD BENCH_CLIENT_SECRET=$APP_CLIENT_SECRET \
  BENCH_CC_CLIENT_SECRET=$MACHINE_CLIENT_SECRET \
    "$BENCH" run --target "$build-$store" --workload "$workload" \
      --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup "$WARMUP" \
      --pid "$SERVER_PID" --json "$RESULTS" \
      --issuer "http://127.0.0.1:$PORT/api/v1/oauth" \
      --client-id "$APP_CLIENT_ID" --cc-client-id "$MACHINE_CLIENT_ID" \
      --resource $RESOURCE --cc-scope files:read --code-scope files:read \
      --user-scope "profile email" --redirect-uri $REDIRECT \
      --sign-in gatehouse --username $USER_EMAIL > /dev/null
  stop_server
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq 1 "$ROUNDS"); do
  # Alternate which build goes first, so neither always runs warmer.
  if [ $((round % 2)) = 1 ]; then order="base new"; else order="new base"; fi
  for w in $WORKLOADS; do
    for store in $STORES; do
      for build in $order; do
        say "round $round/$ROUNDS: $w on $store, $build"
        run_one "$build" "$store" "$w" "$round"
      done
    done
  done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$RESULTS" "$BASE_SHA" "$HEAD_DESC" "$ROUNDS" "$CONCURRENCY" "$DURATION" \
  "$LOAD_START" "$LOAD_END" > "$RUNDIR/summary.md" <<'EOF'
import json, statistics, sys
path, base, new, rounds, conc, dur, load0, load1 = sys.argv[1:]
cells = {}
for line in open(path):
    r = json.loads(line)
    build, store = r["target"].split("-", 1)
    cells.setdefault((r["workload"], store), {}).setdefault(build, []).append(r)
print(f"base {base} vs new {new}: {rounds} alternating rounds, {conc} connections, "
      f"{dur} s measured per run; load average {load0} at start, {load1} at end.\n")
print("| workload | store | base ops/s (median) | new ops/s (median) | new ÷ base | base p99 ms | new p99 ms | runs (ops/s, base; new) |")
print("|---|---|---:|---:|---:|---:|---:|---|")
for (w, s), b in sorted(cells.items()):
    def med(build, f):
        return statistics.median(f(r) for r in b.get(build, [])) if b.get(build) else float("nan")
    tb, tn = med("base", lambda r: r["throughput"]), med("new", lambda r: r["throughput"])
    pb, pn = med("base", lambda r: r["latency_ms"]["p99"]), med("new", lambda r: r["latency_ms"]["p99"])
    runs = "; ".join(", ".join(f"{r['throughput']:.0f}" for r in b.get(k, [])) for k in ("base", "new"))
    print(f"| {w} | {s} | {tb:.0f} | {tn:.0f} | **{tn / tb:.2f}×** | {pb:.2f} | {pn:.2f} | {runs} |")
EOF
cat "$RUNDIR/summary.md"
say "raw results in $RUNDIR"
