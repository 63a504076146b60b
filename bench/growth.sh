#!/usr/bin/env bash
# Storage under sustained refresh-token rotation (issue 16), before and
# after a change, on SQLite and PostgreSQL.
#
#   bash bench/growth.sh BASE_REV
#
# For each build (BASE_REV, built in a worktree as bench/ab.sh does, and
# the working tree) and each store, starts Gatehouse on an empty database,
# then rotates refresh tokens without pause: GROWTH_WINDOWS consecutive
# windows of GROWTH_WINDOW seconds, GROWTH_CONCURRENCY chains (one per
# connection, each presenting the token the previous answer returned).
# After each window it records the rotations so far, the window's
# throughput and p99, and the database's size: SQLite's live pages
# (page_count − freelist_count, after a passive WAL checkpoint) and file
# size; PostgreSQL's pg_database_size. Prints, and writes to
# target/bench/growth-*/summary.md, the curve and the growth per 100 000
# rotations. Everything listens on 127.0.0.1; every process started here is
# stopped on exit.
#
# Settings (environment):
#   GROWTH_WINDOWS      windows per build and store        (6)
#   GROWTH_WINDOW       seconds per window                 (10)
#   GROWTH_CONCURRENCY  connections (refresh chains)       (16)
#   GROWTH_STORES       stores                             ("sqlite postgres")
#   GROWTH_PG_URL       a PostgreSQL URL whose user may create databases;
#                       gatehouse_growth is dropped and created per run
#                       (postgres://gatehouse:gatehouse@127.0.0.1:5432/gatehouse)
#   AB_BASE_BIN         a prebuilt base `gatehouse` binary: skips the base build
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BASE_REV=${1:?usage: bash bench/growth.sh BASE_REV}
WINDOWS=${GROWTH_WINDOWS:-6}
WINDOW=${GROWTH_WINDOW:-10}
CONCURRENCY=${GROWTH_CONCURRENCY:-16}
STORES=${GROWTH_STORES:-"sqlite postgres"}
PG_URL=${GROWTH_PG_URL:-postgres://gatehouse:gatehouse@127.0.0.1:5432/gatehouse}
PORT=18082
RESOURCE=https://mcp.bench.example/mcp
REDIRECT=http://localhost:8000/oauth/callback
ADMIN_EMAIL=admin@bench.example
export BENCH_ADMIN_PASSWORD=bench-admin-password-123
USER_EMAIL=bench@example.com
USER_PASSWORD=bench-password-123

RUNDIR="$ROOT/target/bench/growth-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RUNDIR/db"
CURVE="$RUNDIR/curve.tsv"
SERVER_PID=""

say() { printf '\n== %s\n' "$*" >&2; }

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
HEAD_DESC="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates migrations || echo '+changes')"
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
say "building the working tree ($HEAD_DESC)"
cargo build --release -p gatehouse-server -p gatehouse-bench
BENCH="$ROOT/target/release/gatehouse-bench"
cp target/release/gatehouse "$RUNDIR/gatehouse-new"
cp "$BASE_BIN" "$RUNDIR/gatehouse-base"

pg_db_url() { printf '%s/gatehouse_growth' "${PG_URL%/*}"; }

# size STORE DBFILE: "live_bytes file_bytes" of the database now.
size() {
  case $1 in
    sqlite)
      sqlite3 "$2" 'PRAGMA wal_checkpoint(PASSIVE);' > /dev/null 2>&1 || true
      local pages free psize
      pages=$(sqlite3 "$2" 'PRAGMA page_count;')
      free=$(sqlite3 "$2" 'PRAGMA freelist_count;')
      psize=$(sqlite3 "$2" 'PRAGMA page_size;')
      echo "$(( (pages - free) * psize )) $(( $(stat -c %s "$2") + $(stat -c %s "$2-wal" 2>/dev/null || echo 0) ))"
      ;;
    postgres)
      local b
      b=$(psql "$(pg_db_url)" -Atc 'select pg_database_size(current_database())')
      echo "$b $b"
      ;;
  esac
}

for build in base new; do
  for store in $STORES; do
    say "$build on $store: $WINDOWS × ${WINDOW} s of rotation, $CONCURRENCY chains"
    db="$RUNDIR/db/$build.db"
    case $store in
      sqlite) url="sqlite://$db" ;;
      postgres)
        psql "$PG_URL" -qc 'DROP DATABASE IF EXISTS gatehouse_growth' -c 'CREATE DATABASE gatehouse_growth'
        url=$(pg_db_url) ;;
    esac
    env GATEHOUSE_ADDR=127.0.0.1:$PORT GATEHOUSE_DATABASE_URL="$url" \
      GATEHOUSE_ADMIN_EMAIL=$ADMIN_EMAIL GATEHOUSE_ADMIN_PASSWORD="$BENCH_ADMIN_PASSWORD" \
      GATEHOUSE_SECRET_KEY=bench-master-key-0123456789abcdef0123456789 \
      GATEHOUSE_LOGIN_ATTEMPTS_PER_MINUTE=100000 RUST_LOG=warn \
      "$BENCH" launch --target "$build-$store" --ready-url "http://127.0.0.1:$PORT/readyz" \
        --log "$RUNDIR/$build-$store.log" --pid-file "$RUNDIR/server.pid" \
        --json "$RUNDIR/startup.jsonl" -- "$RUNDIR/gatehouse-$build" serve
    SERVER_PID=$(cat "$RUNDIR/server.pid")
    BENCH_PASSWORD=$USER_PASSWORD "$BENCH" provision-gatehouse \
      --base "http://127.0.0.1:$PORT" --admin-email $ADMIN_EMAIL \
      --resource $RESOURCE --redirect-uri $REDIRECT --user-email $USER_EMAIL \
      > "$RUNDIR/env"
    # shellcheck disable=SC1091
    . "$RUNDIR/env"
    read -r live file < <(size "$store" "$db")
    printf '%s\t%s\t0\t0\t0\t0\t%s\t%s\n' "$build" "$store" "$live" "$file" >> "$CURVE"
    for w in $(seq 1 "$WINDOWS"); do
      BENCH_PASSWORD=$USER_PASSWORD BENCH_CLIENT_SECRET=$APP_CLIENT_SECRET \
      BENCH_CC_CLIENT_SECRET=$MACHINE_CLIENT_SECRET \
        "$BENCH" run --target "$build-$store" --workload refresh \
          --concurrency "$CONCURRENCY" --duration "$WINDOW" --warmup 0 \
          --pid "$SERVER_PID" --json "$RUNDIR/window.json" \
          --issuer "http://127.0.0.1:$PORT/api/v1/oauth" \
          --client-id "$APP_CLIENT_ID" --cc-client-id "$MACHINE_CLIENT_ID" \
          --resource $RESOURCE --cc-scope files:read --code-scope files:read \
          --user-scope "profile email" --redirect-uri $REDIRECT \
          --sign-in gatehouse --username $USER_EMAIL > /dev/null
      read -r live file < <(size "$store" "$db")
      python3 - "$RUNDIR/window.json" "$build" "$store" "$w" "$live" "$file" >> "$CURVE" <<'PY'
import json, sys
path, build, store, w, live, file = sys.argv[1:]
r = json.loads(open(path).read().splitlines()[-1])
print(f"{build}\t{store}\t{w}\t{r['ops']}\t{r['throughput']:.0f}\t{r['latency_ms']['p99']:.2f}\t{live}\t{file}")
PY
      rm -f "$RUNDIR/window.json"
    done
    stop_server
  done
done

python3 - "$CURVE" "$BASE_SHA" "$HEAD_DESC" "$WINDOW" "$CONCURRENCY" > "$RUNDIR/summary.md" <<'PY'
import sys
path, base, new, window, conc = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(path)]
names = {"base": f"before ({base})", "new": f"after ({new})"}
print(f"{conc} refresh chains rotated without pause, {window} s windows; sizes after each window.\n")
print("| build | store | after | rotations so far | ops/s in window | p99 ms | live data MB | on disk MB |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
totals = {}
for b, s, w, ops, tput, p99, live, file in rows:
    key = (b, s)
    t = totals.setdefault(key, {"ops": 0, "live0": int(live), "file0": int(file)})
    t["ops"] += int(ops)
    t["live"], t["file"] = int(live), int(file)
    secs = int(w) * int(window)
    print(f"| {names[b]} | {s} | {secs} s | {t['ops']:,} | {tput} | {p99} | {int(live)/1e6:.1f} | {int(file)/1e6:.1f} |")
print("\n| build | store | rotations | live data growth | per 100k rotations | on-disk growth | per 100k rotations |")
print("|---|---|---:|---:|---:|---:|---:|")
for (b, s), t in totals.items():
    dl, df = t["live"] - t["live0"], t["file"] - t["file0"]
    per = lambda d: d / t["ops"] * 100_000 / 1e6 if t["ops"] else float("nan")
    print(f"| {names[b]} | {s} | {t['ops']:,} | {dl/1e6:.1f} MB | **{per(dl):.2f} MB** | {df/1e6:.1f} MB | {per(df):.2f} MB |")
PY
cat "$RUNDIR/summary.md"
say "raw results in $RUNDIR"
