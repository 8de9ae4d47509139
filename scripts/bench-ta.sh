#!/usr/bin/env bash
# The indicators against TA-Lib, measured in one run: criterion times our batch form of each
# indicator on 1,000,000 bars (median), then TA-Lib's C code through its Python wrapper is timed
# on the same bars and parameters (median of 21 calls, the call only); prints both and the ratio
# (ours / TA-Lib: below 1 is faster). Also the standard set over 1,000 × 180 days of hourly bars.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo bench -p candlekeep-ta --bench indicators -- --noplot "$@" >&2
scripts/ta-python scripts/bench_talib.py target/ta-bench/series.bin > target/ta-bench/talib.json
scripts/ta-python - <<'PY'
import json
talib = json.load(open("target/ta-bench/talib.json"))
def ours(group, name):
    est = json.load(open(f"target/criterion/{group}/{name}/new/estimates.json"))
    return est["median"]["point_estimate"] / 1e9
print(f"{talib['bars']:,} bars; TA-Lib {talib['talib']} (C, through its Python wrapper)")
print(f"{'indicator':<10} {'candlekeep':>12} {'TA-Lib':>12} {'ratio':>7}")
worst = 0.0
for name, t in talib["median_s"].items():
    o = ours("talib", name)
    worst = max(worst, o / t)
    print(f"{name:<10} {o*1e3:>9.2f} ms {t*1e3:>9.2f} ms {o/t:>7.2f}")
print(f"slowest ratio: {worst:.2f}")
u = ours("universe", "standard_set")
print(f"standard set, 1,000 series x 4,320 hourly bars (4.32M bars): median {u*1e3:.0f} ms")
PY
