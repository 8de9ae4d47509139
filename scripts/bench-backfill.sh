#!/usr/bin/env bash
# Backfill against the simulated venues at their default (Binance's real) limits: spot 6000 and
# USD-M 2400 weight per clock minute. Reports the wall time and the minimum time the weight
# budget allows for the requests the run needed, and their ratio (target: <= 1.2).
#   SYMBOLS=BTC,ETH,BNB,SOL,XRP,DOGE,ADA,LTC FROM=2020-01-01 TF=15m scripts/bench-backfill.sh
#
# Minimum time: a venue that must spend W weight at L per clock-aligned window, starting at t0,
# cannot send its last request before the start of window floor(t0/60s) + ceil(W/L) - 1.
set -euo pipefail
cd "$(dirname "$0")/.."
SYMBOLS=${SYMBOLS:-BTC,ETH,BNB,SOL,XRP,DOGE,ADA,LTC}
FROM=${FROM:-2020-01-01}
TF=${TF:-15m}
cargo build --release -q -p candlekeep -p candlekeep-testkit
work=$(mktemp -d)
./target/release/candlekeep-sim >"$work/sim.txt" 2>"$work/sim.err" &
sim=$!
trap 'kill $sim 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do [ "$(wc -l <"$work/sim.txt")" -ge 2 ] && break; sleep 0.1; done
export CANDLEKEEP_BINANCE_SPOT_BASE_URL=$(awk '$1=="spot"{print $2}' "$work/sim.txt")
export CANDLEKEEP_BINANCE_USDM_BASE_URL=$(awk '$1=="usdm"{print $2}' "$work/sim.txt")
# Binance only: this measures the weight budget, and the other venues are not simulated here.
export CANDLEKEEP_COLLECT_SOURCES=binance-usdm-rest,binance-spot-rest
for venue in OKX BYBIT CRYPTOCOMPARE COINGECKO; do export "CANDLEKEEP_${venue}_BASE_URL=http://127.0.0.1:9"; done

t0=$(date +%s%3N)
./target/release/candlekeep --database-url "sqlite:$work/ck.db" backfill --from "$FROM" --timeframe "$TF" \
  --symbols "$SYMBOLS" --markets spot,usdm >"$work/out.txt" 2>"$work/err.txt"
t1=$(date +%s%3N)
cat "$work/out.txt"

# Weight per request: spot 2; USD-M 2 (candlekeep asks for 499 rows, the cheapest bars per weight).
spot_w=$(awk '$1 ~ /^spot:/ {gsub(/\(/,"",$5); s+=$5} END {print 2*s}' "$work/out.txt")
usdm_w=$(awk '$1 ~ /^usdm:/ {gsub(/\(/,"",$5); s+=$5} END {print 2*s}' "$work/out.txt")
python3 - "$t0" "$t1" "$spot_w" "$usdm_w" <<'PY'
import math, sys
t0, t1, spot_w, usdm_w = (int(x) for x in sys.argv[1:])
def minimum(w, limit):
    if w <= limit:
        return 0
    last_window = t0 // 60000 + math.ceil(w / limit) - 1
    return last_window * 60000 - t0
m = max(minimum(spot_w, 6000), minimum(usdm_w, 2400))
actual = t1 - t0
print(f"weight spent: spot {spot_w} (limit 6000/min), usdm {usdm_w} (limit 2400/min)")
print(f"wall time {actual/1000:.1f}s, minimum the budget allows {m/1000:.1f}s, ratio {actual/m:.3f}" if m else
      f"wall time {actual/1000:.1f}s; the work fits in one window, so the budget sets no minimum")
PY
