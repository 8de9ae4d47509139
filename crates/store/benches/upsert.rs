//! Bulk upsert throughput, against the `sqlite3` shell importing the same rows as CSV into an
//! equivalent table, measured in the same run. `cargo bench -p candlekeep-store --bench upsert`.
//! Env: `BENCH_ROWS` (default 1,000,000), `BENCH_RUNS` (default 5).

use std::{io::Write, process::Command, time::Instant};

use candlekeep_core::{Candle, Instrument, Market, Provenance, SourceId, Timeframe};
use candlekeep_store::{BlockingStore, SqliteStore};
use candlekeep_testkit::SimMarket;

mod common;
use common::{env_usize, median, write_csv};

const SCHEMA: &str = "CREATE TABLE candles (instrument_id INTEGER NOT NULL, timeframe TEXT NOT NULL, \
    open_time INTEGER NOT NULL, open REAL NOT NULL, high REAL NOT NULL, low REAL NOT NULL, close REAL NOT NULL, \
    volume REAL, quote_volume REAL, trades INTEGER, source_id INTEGER NOT NULL, \
    fetched_at INTEGER NOT NULL, PRIMARY KEY (instrument_id, timeframe, open_time)) WITHOUT ROWID;";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rows = env_usize("BENCH_ROWS", 1_000_000);
    let runs = env_usize("BENCH_RUNS", 5);
    let symbols: Vec<&str> = SimMarket::symbols().collect();
    let per_symbol = rows.div_ceil(symbols.len());
    let gen_ = SimMarket::default().with_outages(false);
    let start = 1_514_764_800_000; // 2018-01-01, or the listing if later
    let series: Vec<(&str, Vec<Candle>)> = symbols
        .iter()
        .map(|s| {
            let first = gen_.listed_ms(Market::Spot, s).unwrap_or(start).max(start);
            let bars = gen_.candles(
                Market::Spot,
                s,
                Timeframe::H1,
                first,
                first + per_symbol as i64 * 3_600_000,
            );
            (*s, bars.iter().map(|c| c.to_candle()).collect())
        })
        .collect();
    let total: usize = series.iter().map(|(_, b)| b.len()).sum();
    let dir = tempfile::tempdir()?;

    let mut ours = Vec::new();
    for run in 0..runs {
        let path = dir.path().join(format!("ours-{run}.db"));
        let mut store = SqliteStore::open(&path)?;
        let ids: Vec<i64> = series
            .iter()
            .map(|(s, _)| Ok(store.instrument_id(&Instrument::from_symbol(Market::Spot, s)?)?))
            .collect::<Result<_, Box<dyn std::error::Error>>>()?;
        let prov = Provenance {
            source: SourceId::BinanceArchive,
            fetched_at_ms: 1,
        };
        let t = Instant::now();
        for ((_, bars), id) in series.iter().zip(&ids) {
            // Pages of 50,000 rows: one transaction each, as the archive import writes.
            for page in bars.chunks(50_000) {
                store.write_page(*id, Timeframe::H1, prov, page, None)?;
            }
        }
        ours.push(t.elapsed().as_secs_f64());
    }

    let csv_path = dir.path().join("rows.csv");
    write_csv(&csv_path, series.iter().map(|(_, b)| b.as_slice()))?;
    let mut theirs = Vec::new();
    for run in 0..runs {
        let path = dir.path().join(format!("sqlite3-{run}.db"));
        let script = format!(
            "PRAGMA journal_mode=WAL;\nPRAGMA synchronous=NORMAL;\n{SCHEMA}\n.mode csv\n.import {} candles\n",
            csv_path.display()
        );
        let t = Instant::now();
        let out = Command::new("sqlite3")
            .arg(&path)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                if let Some(mut stdin) = child.stdin.take() {
                    stdin.write_all(script.as_bytes())?;
                }
                child.wait_with_output()
            });
        let secs = t.elapsed().as_secs_f64();
        match out {
            Ok(o) if o.status.success() => theirs.push(secs),
            Ok(o) => return Err(format!("sqlite3 failed: {}", String::from_utf8_lossy(&o.stderr)).into()),
            Err(e) => {
                eprintln!("sqlite3 not found ({e}); only our figure is reported");
                break;
            }
        }
    }

    let ours_m = median(ours);
    println!("rows: {total}, runs: {runs}");
    println!(
        "candlekeep upsert: median {ours_m:.3} s = {:.0} candles/s",
        total as f64 / ours_m
    );
    if !theirs.is_empty() {
        let theirs_m = median(theirs);
        println!(
            "sqlite3 .import:   median {theirs_m:.3} s = {:.0} rows/s",
            total as f64 / theirs_m
        );
        println!("ratio candlekeep / sqlite3 = {:.2}", ours_m / theirs_m);
    }
    Ok(())
}
