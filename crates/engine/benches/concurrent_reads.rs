//! Reads while a bulk import runs, in one process, through the shared async store
//! (`StoreHandle`: SQLite's writer plus read-only WAL connections, PostgreSQL's pool). Issue 13's
//! figure: read p99 under 20 ms on both backends, and import throughput with the readers running
//! within 20% of the import alone. The peer is the same benchmark on the code before issue 13
//! (`SharedStore`, one store behind one mutex): `scripts/bench-concurrency.sh` runs both.
//!
//! Each run starts from a fresh store holding 32 instruments' year of hourly candles (8,760 bars
//! each, written beforehand). 32 tokio tasks each read one of those years in a loop, first alone
//! for a while (the baseline), then while a 1,000,000-candle import of 20 other instruments runs
//! in the same process (pages of 50,000 rows through `write_pages`, any stored bar replaced, as
//! the archive import writes). Reported: read latency (from the call to its answer, waiting for a
//! connection included) p50/p99/max over the reads that start and end during the import, how
//! many, and the import's candles/s with the readers running against the same import on a fresh
//! store with no readers. Runs alternate (alone, with readers); the summary lines are medians
//! over the runs.
//!
//! SQLite on a temporary file, then PostgreSQL at `CANDLEKEEP_TEST_DATABASE_URL` (default
//! postgres://candlekeep:candlekeep@127.0.0.1/candlekeep_test) in a fresh schema per store,
//! skipped with a message when the server does not answer.
//!
//! `cargo bench -p candlekeep-engine --bench concurrent_reads`.
//! Env: `BENCH_ROWS` (default 1,000,000), `BENCH_RUNS` (default 5), `BENCH_READERS` (default 32),
//! `BENCH_BASELINE_MS` (readers alone before each import, default 2000), `BENCH_BACKENDS`
//! (default `sqlite,postgres`), `BENCH_PG_CONNECTIONS` (default readers + 2).

use std::{
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use candlekeep_core::{Candle, Instrument, Market, Provenance, SourceId, TimeRange, Timeframe};
use candlekeep_store::postgres::PgOptions;
use candlekeep_store::{
    BlockingStore, CandleRead, CandleWrite, OwnedPage, PageWrite, PgStore, Replace, SqliteStore, StoreHandle,
};
use candlekeep_testkit::{SimMarket, pg};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Series = Vec<(Instrument, Vec<Candle>)>;

const H: i64 = 3_600_000;
const YEAR: usize = 8_760;
const PAGE: usize = 50_000;
/// The readers' year: 2024-01-01 onwards, after every synthetic coin's listing.
const READ_FROM: i64 = 1_704_067_200_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The value at quantile `q` of sorted `v`.
fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// The import: the 20 named coins' spot hourly candles from 2018 (or the listing), `rows` in all,
/// shared evenly; what a recently listed coin lacks is taken from the others.
fn import_series(market: &SimMarket, rows: usize) -> Result<Series, Error> {
    let start = 1_514_764_800_000; // 2018-01-01
    // Closed bars only: a still-open bar would be quarantined, not ingested.
    let now = Timeframe::H1.floor(candlekeep_core::time::now_ms());
    let mut symbols: Vec<(&str, i64, usize)> = SimMarket::symbols()
        .map(|s| {
            let first = market.listed_ms(Market::Spot, s).unwrap_or(start).max(start);
            (s, first, ((now - first) / H) as usize)
        })
        .collect();
    // Shortest history first, so the longer ones make up what it lacks.
    symbols.sort_by_key(|&(_, _, available)| available);
    let mut left = rows;
    let mut out = Vec::with_capacity(symbols.len());
    for (k, (s, first, available)) in symbols.iter().enumerate() {
        let take = (left.div_ceil(symbols.len() - k)).min(*available);
        left -= take;
        let bars = market.candles(Market::Spot, s, Timeframe::H1, *first, first + take as i64 * H);
        out.push((
            Instrument::from_symbol(Market::Spot, s)?,
            bars.iter().map(|c| c.to_candle()).collect(),
        ));
    }
    Ok(out)
}

/// What the readers read: a year of hourly candles of `n` synthetic coins (none of them imported).
fn reader_series(market: &SimMarket, n: usize) -> Result<Series, Error> {
    market
        .all_symbols()
        .iter()
        .filter(|s| s.starts_with("SIM"))
        .take(n)
        .map(|s| {
            let bars = market.candles(Market::Spot, s, Timeframe::H1, READ_FROM, READ_FROM + YEAR as i64 * H);
            if bars.len() != YEAR {
                return Err(format!("{s}: {} bars in the year, not {YEAR}", bars.len()).into());
            }
            Ok((
                Instrument::from_symbol(Market::Spot, s)?,
                bars.iter().map(|c| c.to_candle()).collect(),
            ))
        })
        .collect()
}

fn provenance() -> Provenance {
    Provenance {
        source: SourceId::BinanceArchive,
        fetched_at_ms: 1,
    }
}

/// Writes the readers' years before anything is timed.
fn preload(store: &mut dyn BlockingStore, series: &Series) -> Result<(), Error> {
    for (instrument, bars) in series {
        let id = store.instrument_id(instrument)?;
        store.write_pages(&[PageWrite {
            instrument_id: id,
            timeframe: Timeframe::H1,
            provenance: provenance(),
            candles: bars,
            covered: None,
            replace: Replace::Any,
        }])?;
    }
    Ok(())
}

/// The import's pages of 50,000 rows, as the archive import hands them to the store (made
/// before the clock starts).
fn pages(series: &Series) -> Vec<(Instrument, Vec<Candle>)> {
    series
        .iter()
        .flat_map(|(instrument, bars)| bars.chunks(PAGE).map(|page| (instrument.clone(), page.to_vec())))
        .collect()
}

/// Seconds to import every page, one `write_pages` call per page.
async fn import(store: &StoreHandle, pages: Vec<(Instrument, Vec<Candle>)>) -> Result<f64, Error> {
    let t = Instant::now();
    for (instrument, candles) in pages {
        let id = store.instrument_id(&instrument).await?;
        store
            .write_pages(vec![OwnedPage {
                instrument_id: id,
                timeframe: Timeframe::H1,
                provenance: provenance(),
                candles,
                covered: None,
                outranks: None,
            }])
            .await?;
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Reads one instrument's year until told to stop: each read's start and duration.
async fn reader(
    store: StoreHandle,
    instrument: Instrument,
    stop: Arc<AtomicBool>,
) -> Result<Vec<(Instant, Duration)>, Error> {
    let mut reads = Vec::new();
    let year = TimeRange::new(READ_FROM, READ_FROM + YEAR as i64 * H);
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let n = store.candles(&instrument, Timeframe::H1, year).await?.len();
        reads.push((t, t.elapsed()));
        if n != YEAR {
            return Err(format!("read {n} candles, not {YEAR}").into());
        }
    }
    Ok(reads)
}

struct Reads {
    /// Milliseconds, sorted.
    ms: Vec<f64>,
    secs: f64,
}

impl Reads {
    fn of(all: &[(Instant, Duration)], from: Instant, to: Instant) -> Self {
        let mut ms: Vec<f64> = all
            .iter()
            .filter(|(t, d)| *t >= from && *t + *d <= to)
            .map(|(_, d)| d.as_secs_f64() * 1e3)
            .collect();
        ms.sort_by(f64::total_cmp);
        Self {
            ms,
            secs: (to - from).as_secs_f64(),
        }
    }

    fn describe(&self) -> String {
        format!(
            "p50 {:7.1} ms  p99 {:7.1} ms  max {:7.1} ms  reads {:5} ({:.0}/s)",
            quantile(&self.ms, 0.5),
            quantile(&self.ms, 0.99),
            quantile(&self.ms, 1.0),
            self.ms.len(),
            self.ms.len() as f64 / self.secs
        )
    }
}

/// The readers alone for `baseline`, then the import with them running.
async fn with_readers(
    store: StoreHandle,
    pages: Vec<(Instrument, Vec<Candle>)>,
    readers: &Series,
    n_readers: usize,
    baseline: Duration,
) -> Result<(f64, Reads, Reads), Error> {
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..n_readers)
        .map(|k| {
            tokio::spawn(reader(
                store.clone(),
                readers[k % readers.len()].0.clone(),
                Arc::clone(&stop),
            ))
        })
        .collect();
    // Past the first reads (the page cache warming) before the baseline window opens.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b0 = Instant::now();
    tokio::time::sleep(baseline).await;
    let t0 = Instant::now();
    let secs = import(&store, pages).await;
    let t1 = Instant::now();
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let secs = secs?;
    Ok((secs, Reads::of(&all, b0, t0), Reads::of(&all, t0, t1)))
}

fn checkpoint(url: &str) {
    let ok = Command::new("psql")
        .arg(url)
        .args(["-Atqc", "CHECKPOINT"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("CHECKPOINT refused or psql missing: a run may include one");
    }
}

struct Config {
    runs: usize,
    readers: usize,
    baseline: Duration,
}

/// One backend: `open` makes a fresh store with the readers' years in it (and what keeps it alive).
fn backend<K>(
    label: &str,
    cfg: &Config,
    rt: &tokio::runtime::Runtime,
    import_series: &Arc<Series>,
    readers: &Series,
    mut open: impl FnMut() -> Result<(StoreHandle, K), Error>,
) -> Result<(), Error> {
    let total: usize = import_series.iter().map(|(_, b)| b.len()).sum();
    let (mut alone, mut loaded, mut p50, mut p99, mut max, mut done, mut base) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for run in 0..cfg.runs {
        // The store is opened and dropped here, outside the timed runs.
        let (store, keep) = open()?;
        let secs = rt.block_on(import(&store, pages(import_series)))?;
        drop(store);
        drop(keep);
        alone.push(total as f64 / secs);

        let (store, keep) = open()?;
        let (secs, baseline, during) = rt.block_on(with_readers(
            store.clone(),
            pages(import_series),
            readers,
            cfg.readers,
            cfg.baseline,
        ))?;
        drop(store);
        drop(keep);
        loaded.push(total as f64 / secs);
        println!(
            "{label} run {}: import alone {:>8.0} candles/s, with readers {:>8.0} candles/s ({secs:.2} s)\n    \
             readers alone:       {}\n    during the import:   {}",
            run + 1,
            alone[run],
            loaded[run],
            baseline.describe(),
            during.describe()
        );
        p50.push(quantile(&during.ms, 0.5));
        p99.push(quantile(&during.ms, 0.99));
        max.push(quantile(&during.ms, 1.0));
        done.push(during.ms.len() as f64);
        base.push(quantile(&baseline.ms, 0.99));
    }
    let (alone, loaded) = (median(alone), median(loaded));
    println!(
        "{label} (median of {} runs, {} readers): reads during the import p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {:.0} reads; \
         readers-alone p99 {:.1} ms",
        cfg.runs,
        cfg.readers,
        median(p50),
        median(p99),
        median(max),
        median(done),
        median(base)
    );
    println!(
        "{label} import: alone {alone:.0} candles/s, with readers {loaded:.0} candles/s = {:.2} of alone",
        loaded / alone
    );
    Ok(())
}

fn main() -> Result<(), Error> {
    let rows = env_usize("BENCH_ROWS", 1_000_000);
    let cfg = Config {
        runs: env_usize("BENCH_RUNS", 5).max(1),
        readers: env_usize("BENCH_READERS", 32).max(1),
        baseline: Duration::from_millis(env_usize("BENCH_BASELINE_MS", 2_000) as u64),
    };
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let market = SimMarket::default().with_outages(false).with_extra_coins(32);
    let series = Arc::new(import_series(&market, rows)?);
    let readers = reader_series(&market, cfg.readers.min(32))?;
    let total: usize = series.iter().map(|(_, b)| b.len()).sum();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!(
        "import {total} candles in {} series (pages of {PAGE}); {} readers over {} instruments x {YEAR} candles; \
         {} runs; load average at start: {}",
        series.len(),
        cfg.readers,
        readers.len(),
        cfg.runs,
        std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "unknown".into())
    );

    if backends.contains("sqlite") {
        backend("sqlite", &cfg, &rt, &series, &readers, || {
            // A directory per store, removed with it.
            let dir = tempfile::tempdir()?;
            let mut store = SqliteStore::open(&dir.path().join("bench.db"))?;
            preload(&mut store, &readers)?;
            Ok((StoreHandle::sqlite(store)?, dir))
        })?;
    }

    if backends.contains("postgres") {
        if !pg::available() {
            println!("postgresql: no server at {}, skipped", pg::server_url());
            return Ok(());
        }
        let connections = env_usize("BENCH_PG_CONNECTIONS", cfg.readers + 2).max(2);
        backend("postgresql", &cfg, &rt, &series, &readers, || {
            let schema = pg::TestSchema::create()?;
            let options = PgOptions {
                pool_size: connections as u32,
                ..PgOptions::default()
            };
            let store = rt.block_on(async {
                let store = StoreHandle::from(PgStore::connect_with(&schema.url, options).await?);
                // The readers' years, written before anything is timed.
                let whole = readers.iter().map(|(i, bars)| (i.clone(), bars.clone())).collect();
                import(&store, whole).await?;
                Ok::<_, Error>(store)
            })?;
            // The preload's WAL is written out before the timed import.
            checkpoint(&pg::server_url());
            Ok((store, schema))
        })?;
    }
    Ok(())
}
