#!/usr/bin/env bash
# Archive import: 6 years of monthly 1h archives for 20 symbols (~1M rows, zip + CHECKSUM, in
# Binance's folder layout), imported into a fresh SQLite file; median of RUNS runs.
# Peer: the sqlite3 shell's `.import` of the same rows as one plain CSV into an equivalent table.
#   scripts/bench-import.sh            (RUNS=5 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
cargo build --release -q -p candlekeep -p candlekeep-testkit
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
./target/release/candlekeep-make-archives "$work/archives" --symbols 20 --from-year 2020 --years 6

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

ours=()
for i in $(seq "$RUNS"); do
  rm -f "$work"/ck.db*
  t0=$(now)
  ./target/release/candlekeep --database-url "sqlite:$work/ck.db" import "$work/archives" >"$work/out.txt" 2>/dev/null
  t1=$(now)
  ours+=("$(echo "$t1 - $t0" | bc)")
done
tail -1 "$work/out.txt"

# The same rows as one CSV (first 11 columns, the candles table's shape) for the peer.
find "$work/archives" -name '*.zip' -print0 | sort -z | xargs -0 -n1 unzip -p | cut -d, -f1-11 >"$work/all.csv"
theirs=()
for i in $(seq "$RUNS"); do
  rm -f "$work"/peer.db*
  t0=$(now)
  sqlite3 "$work/peer.db" <<SQL >/dev/null
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
CREATE TABLE candles (open_time INTEGER, open REAL, high REAL, low REAL, close REAL, volume REAL,
  close_time INTEGER, quote_volume REAL, trades INTEGER, taker_base REAL, taker_quote REAL);
.mode csv
.import $work/all.csv candles
SQL
  t1=$(now)
  theirs+=("$(echo "$t1 - $t0" | bc)")
done 2>/dev/null || true

m_ours=$(printf '%s\n' "${ours[@]}" | median)
m_theirs=$(printf '%s\n' "${theirs[@]}" | median)
rows=$(wc -l <"$work/all.csv")
echo "rows: $rows, runs: $RUNS"
echo "candlekeep import (unzip + sha256 + parse + store): median ${m_ours}s = $(echo "$rows / $m_ours" | bc) rows/s"
echo "sqlite3 .import of the unzipped CSV:                median ${m_theirs}s"
echo "ratio candlekeep / sqlite3 = $(echo "scale=2; $m_ours / $m_theirs" | bc)"
