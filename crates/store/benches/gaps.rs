//! Gap detection over 6 years × 200 instruments of hourly candles (10.5M rows) in a SQLite file:
//! the time of a ledger refresh when every gap is new, and of one with nothing new.
//! `cargo bench -p candlekeep-store --bench gaps`; `BENCH_SERIES` (200), `BENCH_YEARS` (6),
//! `BENCH_RUNS` (5).

use std::time::Instant;

use candlekeep_core::{Candle, Instrument, Market, Provenance, SourceId, Timeframe};
use candlekeep_store::{BlockingStore, SqliteStore};

mod common;
use common::median;

const H: i64 = 3_600_000;
const START: i64 = 1_577_836_800_000; // 2020-01-01

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A deterministic outage pattern: about one 1–8 hour hole per 4,000 hours.
fn missing(series: usize, hour: i64) -> bool {
    let block = hour / 4000;
    let mut x = (series as u64) << 32 ^ block as u64;
    x = x
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(29)
        .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let at = (x % 3990) as i64;
    let len = 1 + ((x >> 20) % 8) as i64;
    (at..at + len).contains(&(hour % 4000))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let series = env("BENCH_SERIES", 200);
    let years = env("BENCH_YEARS", 6);
    let runs = env("BENCH_RUNS", 5);
    let hours = (years as i64) * 8760;
    let dir = tempfile::tempdir()?;
    let mut store = SqliteStore::open(&dir.path().join("gaps.db"))?;
    let t = Instant::now();
    let mut rows = 0usize;
    for s in 0..series {
        let instrument = Instrument::new(Market::Spot, &format!("C{s:03}"), "USDT")?;
        let id = store.instrument_id(&instrument)?;
        let bars: Vec<Candle> = (0..hours)
            .filter(|h| !missing(s, *h))
            .map(|h| Candle {
                open_time_ms: START + h * H,
                open: 1.0,
                high: 1.1,
                low: 0.9,
                close: 1.05,
                volume: Some(10.0),
                quote_volume: Some(10.5),
                trades: Some(3),
            })
            .collect();
        rows += bars.len();
        let prov = Provenance {
            source: SourceId::BinanceArchive,
            fetched_at_ms: 1,
        };
        for page in bars.chunks(50_000) {
            store.write_page(id, Timeframe::H1, prov, page, None)?;
        }
    }
    println!(
        "setup: {series} series x {years} years = {rows} candles written in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let now = START + hours * H;
    let (mut first, mut steady) = (Vec::new(), Vec::new());
    let mut open = 0;
    for run in 0..runs {
        // A fresh ledger each run: every gap is new.
        let mut fresh = SqliteStore::open(&dir.path().join("gaps.db"))?;
        if run > 0 {
            fresh.clear_gap_ledger()?;
        }
        let t = Instant::now();
        let r = fresh.refresh_gaps(now)?;
        first.push(t.elapsed().as_secs_f64());
        open = r.open;
        let t = Instant::now();
        let again = fresh.refresh_gaps(now)?;
        steady.push(t.elapsed().as_secs_f64());
        assert_eq!(again.new, 0);
    }
    println!(
        "gap detection: median {:.3} s with every gap new ({open} gaps), {:.3} s with nothing new (target < 1 s)",
        median(first),
        median(steady)
    );
    Ok(())
}
