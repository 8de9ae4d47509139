#!/usr/bin/env bash
# Issue 13's concurrency figure beside its peer, measured in the same session: 32 tasks reading
# one instrument's year of hourly candles in a loop while a 1,000,000-candle import runs in the
# same process, on SQLite and PostgreSQL (see crates/engine/benches/concurrent_reads.rs).
# Peer: the same benchmark on the code before the async store (PEER, default 1beee92: every call
# through one store behind one mutex), built in a worktree under target/.
#   scripts/bench-concurrency.sh          (BENCH_RUNS, BENCH_BACKENDS, … pass through)
set -euo pipefail
cd "$(dirname "$0")/.."
PEER=${PEER:-1beee92}
peer_dir="$PWD/target/peer-$PEER"
if [ ! -d "$peer_dir" ]; then
  git worktree add -f --detach "$peer_dir" "$PEER" >/dev/null
fi
# Both built before either runs, so neither measurement shares the machine with a compiler.
(cd "$peer_dir" && CARGO_TARGET_DIR="$PWD/target" cargo bench -q -p candlekeep-engine --bench concurrent_reads --no-run)
cargo bench -q -p candlekeep-engine --bench concurrent_reads --no-run
echo "== peer: $PEER (one store behind one mutex)"
(cd "$peer_dir" && CARGO_TARGET_DIR="$PWD/target" cargo bench -q -p candlekeep-engine --bench concurrent_reads)
echo "== this tree: $(git rev-parse --short HEAD) (StoreHandle)"
cargo bench -q -p candlekeep-engine --bench concurrent_reads
