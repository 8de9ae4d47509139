//! PostgreSQL beside SQLite: bulk ingest (candles/s through `write_pages`: binary COPY into the
//! staging table and one INSERT … ON CONFLICT on PostgreSQL) and the read of one instrument's
//! year of hourly candles (8,760 rows). The peer of the ingest is `psql`'s `\copy` of the same
//! rows as CSV into an equivalent table, measured in the same run.
//!
//! `cargo bench -p candlekeep-store --bench backends`; the server is
//! `CANDLEKEEP_TEST_DATABASE_URL` (default postgres://candlekeep:candlekeep@127.0.0.1/candlekeep_test).
//! Env: `BENCH_ROWS` (default 1,000,000), `BENCH_RUNS` (default 5), `BENCH_READS` (default 200).
//!
//! Both backends are measured as tasks use them: through the async roles, SQLite behind its
//! `StoreHandle` (calls on the blocking pool), PostgreSQL natively async.

use std::{io::Write, process::Command, time::Instant};

use candlekeep_core::{Candle, Instrument, Market, Provenance, SourceId, TimeRange, Timeframe};
use candlekeep_store::{CandleWrite, OwnedPage, PgStore, SqliteStore, StoreHandle};
use candlekeep_testkit::{SimMarket, pg};

mod common;
use common::{env_usize, median, write_csv};

const H: i64 = 3_600_000;

type Series = Vec<(Instrument, Vec<Candle>)>;

fn series(rows: usize) -> Result<Series, Box<dyn std::error::Error>> {
    let symbols: Vec<&str> = SimMarket::symbols().collect();
    let per_symbol = rows.div_ceil(symbols.len());
    let market = SimMarket::default().with_outages(false);
    let start = 1_514_764_800_000; // 2018-01-01, or the listing if later
    symbols
        .iter()
        .map(|s| {
            let first = market.listed_ms(Market::Spot, s).unwrap_or(start).max(start);
            // Closed bars only: a still-open bar would be quarantined, not ingested.
            let end = (first + per_symbol as i64 * H).min(Timeframe::H1.floor(candlekeep_core::time::now_ms()));
            let bars = market.candles(Market::Spot, s, Timeframe::H1, first, end);
            Ok((
                Instrument::from_symbol(Market::Spot, s)?,
                bars.iter().map(|c| c.to_candle()).collect(),
            ))
        })
        .collect()
}

/// Seconds to write every series, in pages of 50,000 rows (one transaction per page).
async fn ingest(store: &impl CandleWrite, series: &Series) -> Result<f64, Box<dyn std::error::Error>> {
    let mut ids = Vec::with_capacity(series.len());
    for (i, _) in series {
        ids.push(store.instrument_id(i).await?);
    }
    let provenance = Provenance {
        source: SourceId::BinanceArchive,
        fetched_at_ms: 1,
    };
    let t = Instant::now();
    for ((_, bars), id) in series.iter().zip(&ids) {
        for page in bars.chunks(50_000) {
            let page = OwnedPage {
                instrument_id: *id,
                timeframe: Timeframe::H1,
                provenance,
                candles: page.to_vec(),
                covered: None,
                outranks: None,
            };
            store.write_pages(vec![page]).await?;
        }
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Milliseconds to read one year (8,760 hourly candles) of one instrument: the first read after
/// the load, and the median of the reads after it.
async fn read_year(
    store: &impl CandleWrite,
    series: &Series,
    reads: usize,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let (instrument, bars) = series
        .iter()
        .find(|(_, b)| b.len() >= 8_760)
        .ok_or("no series of a year")?;
    let from = bars[0].open_time_ms;
    let mut times = Vec::with_capacity(reads + 1);
    for _ in 0..=reads {
        let t = Instant::now();
        let got = store
            .candles(instrument, Timeframe::H1, TimeRange::from((from, from + 8_760 * H)))
            .await?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(got.len(), 8_760);
        assert_eq!(got.as_slice(), &bars[..8_760]);
    }
    let first = times.remove(0);
    Ok((first, median(times)))
}

/// Medians of the first reads and of the warm medians over the runs.
fn medians(reads: Vec<(f64, f64)>) -> (f64, f64) {
    let (first, warm): (Vec<f64>, Vec<f64>) = reads.into_iter().unzip();
    (median(first), median(warm))
}

/// The peer of the year read: libpq fetching the same rows with the same prepared SELECT, as
/// `pgbench` reports it (average latency over `reads` runs).
fn pgbench_year(url: &str, series: &Series, reads: usize) -> Result<f64, Box<dyn std::error::Error>> {
    let (instrument, bars) = series
        .iter()
        .find(|(_, b)| b.len() >= 8_760)
        .ok_or("no series of a year")?;
    let from = bars[0].open_time_ms;
    let id = psql(
        url,
        &format!(
            "SELECT id FROM instruments WHERE market = '{}' AND base = '{}' AND quote = '{}'",
            instrument.market.as_str(),
            instrument.base,
            instrument.quote
        ),
    )
    .ok_or("psql could not find the instrument")?;
    let script = tempfile::NamedTempFile::new()?;
    std::fs::write(
        script.path(),
        format!(
            "SELECT open_time, open, high, low, close, volume, quote_volume, trades FROM candles \
             WHERE instrument_id = {id} AND timeframe = '1h' AND open_time >= {from} AND open_time < {} ORDER BY open_time;\n",
            from + 8_760 * H
        ),
    )?;
    let out = Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-t", &reads.to_string(), "-f"])
        .arg(script.path())
        .arg(url)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("latency average = "))
        .and_then(|l| l.trim_end_matches(" ms").trim().parse().ok())
        .ok_or_else(|| {
            format!(
                "no latency in pgbench's output: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into()
        })
}

fn psql_copy(url: &str, csv: &std::path::Path) -> Result<f64, Box<dyn std::error::Error>> {
    let script = format!(
        "DROP TABLE IF EXISTS bench_raw; CREATE TABLE bench_raw (instrument_id BIGINT NOT NULL, timeframe TEXT NOT NULL, \
         open_time BIGINT NOT NULL, open DOUBLE PRECISION NOT NULL, high DOUBLE PRECISION NOT NULL, \
         low DOUBLE PRECISION NOT NULL, close DOUBLE PRECISION NOT NULL, volume DOUBLE PRECISION, \
         quote_volume DOUBLE PRECISION, trades BIGINT, source_id BIGINT NOT NULL, fetched_at BIGINT NOT NULL, \
         PRIMARY KEY (instrument_id, timeframe, open_time));\n\\copy bench_raw FROM '{}' CSV\n",
        csv.display()
    );
    let t = Instant::now();
    let mut child = Command::new("psql")
        .arg(url)
        .args(["-q", "-v", "ON_ERROR_STOP=1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes())?;
    }
    let status = child.wait()?;
    if !status.success() {
        return Err("psql failed".into());
    }
    Ok(t.elapsed().as_secs_f64())
}

fn psql(url: &str, sql: &str) -> Option<String> {
    let out = Command::new("psql").arg(url).args(["-Atqc", sql]).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().replace('\n', " "))
}

fn checkpoint(url: &str) {
    if psql(url, "CHECKPOINT").is_none() {
        eprintln!("CHECKPOINT refused (not a superuser?): runs may include one");
    }
}

/// The settings that bound bulk-load speed, as the server reports them.
fn server_settings(url: &str) -> String {
    psql(
        url,
        "SELECT string_agg(name || '=' || setting || COALESCE(unit, ''), ', ' ORDER BY name) FROM pg_settings \
         WHERE name IN ('shared_buffers', 'max_wal_size', 'wal_compression', 'synchronous_commit', 'checkpoint_timeout')",
    )
    .unwrap_or_else(|| "unknown (psql not found)".into())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let rows = env_usize("BENCH_ROWS", 1_000_000);
    let runs = env_usize("BENCH_RUNS", 5);
    let reads = env_usize("BENCH_READS", 200);
    let series = series(rows)?;
    let total: usize = series.iter().map(|(_, b)| b.len()).sum();
    let dir = tempfile::tempdir()?;
    println!("rows: {total}, runs: {runs}, reads: {reads}");

    let (mut sqlite_in, mut sqlite_read) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let path = dir.path().join(format!("s{run}.db"));
        let store = tokio::task::spawn_blocking(move || StoreHandle::sqlite(SqliteStore::open(&path)?)).await??;
        sqlite_in.push(ingest(&store, &series).await?);
        sqlite_read.push(read_year(&store, &series, reads).await?);
    }
    let sqlite_in = median(sqlite_in);
    let (first, warm) = medians(sqlite_read);
    println!(
        "sqlite     ingest: median {sqlite_in:.3} s = {:>9.0} candles/s   year read: median {warm:.2} ms (first read {first:.2} ms)",
        total as f64 / sqlite_in,
    );

    if !tokio::task::spawn_blocking(pg::available).await? {
        println!("postgresql: no server, skipped");
        return Ok(());
    }
    let (mut pg_in, mut pg_read, mut peer, mut peer_read) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let csv = dir.path().join("rows.csv");
    write_csv(&csv, series.iter().map(|(_, b)| b.as_slice()))?;
    println!("postgresql settings: {}", server_settings(&pg::server_url()));
    for _ in 0..runs {
        let schema = tokio::task::spawn_blocking(pg::TestSchema::create).await??;
        let store = PgStore::connect(&schema.url).await?;
        // Each run starts from a clean WAL position, so a checkpoint left due by the previous
        // run's writes does not land in this one (needs a superuser; skipped otherwise).
        checkpoint(&pg::server_url());
        pg_in.push(ingest(&store, &series).await?);
        // Reads of settled data: what autovacuum does shortly after a bulk load (hint bits set,
        // statistics taken) and the checkpoint the load's WAL brings on are done before the reads
        // are timed.
        if psql(&schema.url, "VACUUM (ANALYZE) candles").is_none() {
            eprintln!("VACUUM failed: reads include the first-touch cost of freshly loaded rows");
        }
        checkpoint(&pg::server_url());
        pg_read.push(read_year(&store, &series, reads).await?);
        match pgbench_year(&schema.url, &series, reads) {
            Ok(ms) => peer_read.push(ms),
            Err(e) => eprintln!("pgbench unavailable ({e}); the read has no peer figure"),
        }
        drop(store);
        let raw = tokio::task::spawn_blocking(pg::TestSchema::create).await??;
        checkpoint(&pg::server_url());
        match psql_copy(&raw.url, &csv) {
            Ok(secs) => peer.push(secs),
            Err(e) => eprintln!("psql \\copy unavailable ({e}); only our figures are reported"),
        }
    }
    let pg_in = median(pg_in);
    let (first, warm) = medians(pg_read);
    println!(
        "postgresql ingest: median {pg_in:.3} s = {:>9.0} candles/s   year read: median {warm:.2} ms (first read {first:.2} ms)",
        total as f64 / pg_in,
    );
    if !peer_read.is_empty() {
        let peer = median(peer_read);
        println!(
            "pgbench (libpq), the same year as rows by a prepared SELECT: median {peer:.2} ms; ratio candlekeep / pgbench = {:.2}",
            warm / peer
        );
    }
    if !peer.is_empty() {
        let peer = median(peer);
        println!(
            "psql \\copy CSV into a keyed table: median {peer:.3} s = {:.0} rows/s; ratio candlekeep / psql = {:.2}",
            total as f64 / peer,
            pg_in / peer
        );
    }
    Ok(())
}
