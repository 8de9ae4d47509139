#!/usr/bin/env bash
# TA-Lib's outputs on real hourly history from ../shared/data, for crates/ta's conformance test
# (tests/conformance.rs): one JSON file per series in target/ta-conformance/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${CANDLEKEEP_SHARED_DATA:-$root/../shared/data}"
out="$root/target/ta-conformance"
mkdir -p "$out"
for symbol in BTCUSDT ETHUSDT; do
    file=$(ls "$data"/spot_1h/binance_spot_${symbol}_1h_*.csv.gz 2>/dev/null | head -1 || true)
    if [ -z "$file" ]; then
        echo "ta-conformance: no $symbol hourly history in $data/spot_1h" >&2
        exit 1
    fi
    "$root/scripts/ta-python" "$root/scripts/ta_golden.py" --real "$file" \
        --out "$out/$(echo "$symbol" | tr 'A-Z' 'a-z')_1h.json"
done
