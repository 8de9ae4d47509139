#!/usr/bin/env bash
# The API under load: GET /candles (one year of hourly bars, 8,760 rows, JSON) and GET /market
# (200 series) at a fixed 500 requests/s from a loopback load generator (oha, from crates.io,
# installed into target/tools), p50/p99 latency, on SQLite and on PostgreSQL, while the service
# syncs its 200 series over and over (a sync is started again as soon as one ends). The peer,
# measured in the same run under the same load: GET /healthz, which touches no store; the
# figure quoted is the ratio of p99s. Also the service's resident memory at idle and at most
# under load.
#
#   scripts/bench-serve.sh                       # SQLite and PostgreSQL, 3 runs each
#   BENCH_RUNS=5 BENCH_SECONDS=30 scripts/bench-serve.sh
#   BENCH_BACKENDS=sqlite scripts/bench-serve.sh
#
# PostgreSQL: BENCH_PG_URL (default postgres://candlekeep:candlekeep@127.0.0.1/candlekeep_bench,
# created if missing, emptied first).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${BENCH_RUNS:-3}"
SECS="${BENCH_SECONDS:-20}"
RATE="${BENCH_RATE:-500}"
BACKENDS="${BENCH_BACKENDS:-sqlite postgres}"
PG_URL="${BENCH_PG_URL:-postgres://candlekeep:candlekeep@127.0.0.1/candlekeep_bench}"
OUT=target/bench-serve
BIN=target/release/candlekeep
OHA="${OHA:-target/tools/bin/oha}"

cargo build -q --release -p candlekeep
if [ ! -x "$OHA" ]; then
    echo "installing oha (crates.io) into target/tools…"
    cargo install -q --locked --root target/tools oha
fi
mkdir -p "$OUT"
TOKEN=bench-token-not-secret
# The 20 named demo coins and 80 synthetic ones, on spot and USD-M: 200 series (102 ranked coins,
# as two of them have no USD-M market).
DEMO="--demo --demo-extra-coins 80"
DAY=86400000
NOW_MS=$(( $(date +%s) * 1000 ))
# One year of BTC ending two days ago, and the month before that for 102 coins (200 series): the service's
# syncs then have two days of every series to fetch while the load runs.
END_DAY=$(date -u -d "@$(( NOW_MS / 1000 - 2 * 86400 ))" +%F)
YEAR_DAY=$(date -u -d "@$(( NOW_MS / 1000 - 368 * 86400 ))" +%F)
MONTH_DAY=$(date -u -d "@$(( NOW_MS / 1000 - 32 * 86400 ))" +%F)

# The store: built once per script run with the demo venues, then copied for each run.
SEED="$OUT/seed.db"
if [ ! -f "$SEED" ]; then
    echo "building the benchmark store (demo venues)…"
    "$BIN" $DEMO --database-url "sqlite:$SEED" sync --symbols-only --max-coins 102 >/dev/null
    "$BIN" $DEMO --database-url "sqlite:$SEED" backfill --max-coins 102 --from "$MONTH_DAY" --to "$END_DAY" >/dev/null
    "$BIN" $DEMO --database-url "sqlite:$SEED" backfill --symbols BTC --markets spot --from "$YEAR_DAY" --to "$END_DAY" >/dev/null
    "$BIN" --database-url "sqlite:$SEED" indicators >/dev/null
    "$BIN" --database-url "sqlite:$SEED" quality >/dev/null
fi
SERIES=$(sqlite3 "$SEED" "SELECT COUNT(*) FROM (SELECT DISTINCT instrument_id, timeframe FROM candles)" 2>/dev/null || python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"SELECT COUNT(*) FROM (SELECT DISTINCT instrument_id, timeframe FROM candles)\").fetchone()[0])" "$SEED")
echo "store: $SERIES series"

CANDLES_PATH="/api/v1/candles/spot/BTCUSDT?timeframe=1h&from=$(( (NOW_MS / DAY - 367) * DAY ))&to=$(( (NOW_MS / DAY - 2) * DAY ))&limit=10000"

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# oha's p50 and p99 in ms and its success rate, from its JSON summary.
summarise() {
    python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
p = r.get("latencyPercentiles", {})
s = r.get("summary", {})
codes = r.get("statusCodeDistribution", {})
print(f'{p.get("p50", 0) * 1000:.3f} {p.get("p99", 0) * 1000:.3f} {s.get("requestsPerSec", 0):.0f} {json.dumps(codes, separators=(",", ":"))}')
PY
}

# Starts the service on a fresh copy of the store (its newest bars two days old), API only
# (`--no-schedule`: no catch-up runs at start), and sets PID and BASE.
start_service() { # backend tag
    local backend=$1 tag=$2 url
    case $backend in
        sqlite)
            rm -f "$OUT/run.db"*
            cp "$SEED" "$OUT/run.db"
            url="sqlite:$OUT/run.db" ;;
        postgres)
            psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $PG_RUN" -c "CREATE DATABASE $PG_RUN TEMPLATE $PG_SEED" >/dev/null
            url="${PG_URL%/*}/$PG_RUN" ;;
    esac
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    BASE="http://127.0.0.1:$port"
    CANDLEKEEP_SERVER_ADMIN_TOKEN=$TOKEN CANDLEKEEP_LOG=warn "$BIN" $DEMO --database-url "$url" serve --no-schedule \
        --bind "127.0.0.1:$port" >"$OUT/serve-$tag.log" 2>&1 &
    PID=$!
    for _ in $(seq 1 200); do curl -fsS "$BASE/api/v1/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
    # Warm: one request of each kind (the first /market computes the table).
    curl -fsS -o /dev/null "$BASE/api/v1/market"
    curl -fsS -o /dev/null "$BASE$CANDLES_PATH"
    sleep 2
}

run_one() { # backend run
    local backend=$1 run=$2
    for target in healthz candles market; do
        start_service "$backend" "$backend-$target-$run"
        local idle
        idle=$(rss_kb $PID)
        ( while kill -0 $PID 2>/dev/null; do rss_kb $PID; sleep 0.5; done ) >"$OUT/rss-$backend-$target-$run.txt" &
        local sampler=$!
        # The sync of the 200 series (two days of bars each) starts a second into the load, and
        # syncs follow back to back for as long as it runs.
        ( sleep 1
          while [ "${BENCH_SYNC:-1}" = 1 ] && kill -0 $PID 2>/dev/null; do
              curl -s -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
                  -d '{}' "$BASE/api/v1/jobs/sync"; sleep 0.5; done ) &
        local syncer=$!
        local path
        case $target in
            healthz) path=/api/v1/healthz ;;
            candles) path=$CANDLES_PATH ;;
            market) path=/api/v1/market ;;
        esac
        "$OHA" --no-tui --output-format json -z "${SECS}s" -q "$RATE" --latency-correction -c 16 \
            "$BASE$path" >"$OUT/$backend-$target-$run.json"
        kill $syncer $sampler 2>/dev/null || true
        wait $syncer $sampler 2>/dev/null || true
        local peak syncs
        peak=$(sort -n "$OUT/rss-$backend-$target-$run.txt" | tail -1)
        syncs=$(curl -fsS "$BASE/api/v1/jobs?job=sync&limit=1000" | python3 -c 'import json,sys; rows=json.load(sys.stdin)["jobs"]; print(len(rows), "syncs,", sum(r.get("rows_written", 0) for r in rows), "bars")' 2>/dev/null || echo "? syncs")
        kill -TERM $PID
        wait $PID || true
        echo "$backend $run $target $(summarise "$OUT/$backend-$target-$run.json") rss_idle_mb $(( idle / 1024 )) rss_peak_mb $(( ${peak:-0} / 1024 )) $syncs" | tee -a "$OUT/results.txt"
    done
}

if [[ " $BACKENDS " == *" postgres "* ]]; then
    PG_ADMIN="${PG_URL%/*}/postgres"
    PG_SEED="${PG_URL##*/}_seed"
    PG_RUN="${PG_URL##*/}"
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $PG_RUN" -c "DROP DATABASE IF EXISTS $PG_SEED" -c "CREATE DATABASE $PG_SEED" >/dev/null
    "$BIN" migrate --from "sqlite:$SEED" --to "${PG_URL%/*}/$PG_SEED" >/dev/null
fi

: >"$OUT/results.txt"
for backend in $BACKENDS; do
    for run in $(seq 1 "$RUNS"); do
        run_one "$backend" "$run"
    done
done

echo
echo "medians over $RUNS runs at $RATE requests/s for ${SECS}s each (p99 ratio to /healthz in the same run):"
python3 - "$OUT/results.txt" <<'PY'
import statistics, sys, collections
lat = collections.defaultdict(list)
rss = collections.defaultdict(list)
for line in open(sys.argv[1]):
    f = line.split()
    backend, run, target = f[0], int(f[1]), f[2]
    lat[(backend, target)].append((run, float(f[3]), float(f[4]), float(f[5])))
    rss[backend].append((int(f[8]), int(f[10])))
for backend in sorted({b for b, _ in lat}):
    peer = {run: p99 for run, _, p99, _ in lat[(backend, "healthz")]}
    for target in ("healthz", "candles", "market"):
        rows = lat[(backend, target)]
        p50 = statistics.median(r[1] for r in rows)
        p99 = statistics.median(r[2] for r in rows)
        worst = max(r[2] for r in rows)
        rps = statistics.median(r[3] for r in rows)
        ratio = statistics.median(r[2] / peer[r[0]] for r in rows if peer.get(r[0]))
        print(f"{backend:9} {target:8} p50 {p50:7.3f} ms  p99 {p99:7.3f} ms (worst run {worst:7.3f})  ({rps:.0f} req/s)  p99 / healthz p99: {ratio:5.2f}")
    idle = statistics.median(r[0] for r in rss[backend])
    peak = statistics.median(r[1] for r in rss[backend])
    print(f"{backend:9} resident memory: idle {idle} MB, under load {peak} MB (medians)")
PY
