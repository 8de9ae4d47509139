//! Archive import: every file checked and parsed on a blocking thread while the previous batch is
//! written, each file stored in one transaction (all of it or none of it).

use std::{
    collections::HashMap,
    fmt::Display,
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, Ordering},
};

use candlekeep_core::{Instrument, Market, Provenance, SourceId, TimeRange, Timeframe, time::now_ms};
use candlekeep_sources::archive::{self, ArchiveRows};
use candlekeep_store::{CandleWrite, OwnedPage};

use crate::{JobError, Progress};

/// What the user said about files whose names or folders do not say it, and which stored bars
/// the archive's values may replace.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub market: Option<Market>,
    pub timeframe: Option<Timeframe>,
    pub symbol: Option<String>,
    pub overwrite: Overwrite,
}

/// Which stored bars an archive bar with different values replaces.
#[derive(Debug, Clone)]
pub enum Overwrite {
    /// The fallback chains' rule. The archive is Binance's own record of the market, so it
    /// ranks where that market's Binance REST source stands in the asset's chain: it replaces
    /// bars of the sources ranked below it and its own earlier import; a bar of any other source
    /// (the REST source itself included: equal rank) stays, and the pair goes to `cross_checks`.
    /// A backfill treats archive bars the same way (no chain lists the archive, so no REST
    /// source replaces them), so neither side silently undoes the other.
    Chains(Chains),
    /// Every stored bar (`--replace`: the user says the files are right).
    Any,
}

impl Default for Overwrite {
    /// With no chains known, the archive outranks nothing: stored bars of other sources stay.
    fn default() -> Self {
        Self::Chains(Chains::default())
    }
}

/// Fallback chains: per asset (base symbol), else the default.
#[derive(Debug, Clone, Default)]
pub struct Chains {
    pub per_asset: HashMap<String, Vec<SourceId>>,
    pub default: Vec<SourceId>,
}

impl Overwrite {
    /// The sources whose stored bars of `instrument` an import may replace (besides its own),
    /// or `None` for any source.
    fn outranked(&self, instrument: &Instrument) -> Option<Vec<SourceId>> {
        let chains = match self {
            Self::Any => return None,
            Self::Chains(chains) => chains,
        };
        let chain = chains.per_asset.get(&instrument.base).unwrap_or(&chains.default);
        let peer = match instrument.market {
            Market::Spot => SourceId::BinanceSpotRest,
            Market::UsdM => SourceId::BinanceUsdmRest,
        };
        Some(
            chain
                .iter()
                .position(|s| *s == peer)
                .map_or_else(Vec::new, |rank| chain[rank + 1..].to_vec()),
        )
    }
}

#[derive(Debug, Clone)]
pub struct FileOutcome {
    pub path: PathBuf,
    pub instrument: Option<Instrument>,
    pub rows: u64,
    pub written: u64,
    /// Rows that met a stored bar of another source; each pair is in `cross_checks`.
    pub cross_checked: u64,
    pub checksum_verified: bool,
    pub micros: bool,
    pub error: Option<String>,
}

struct Parsed {
    instrument: Instrument,
    timeframe: Timeframe,
    covered: (i64, i64),
    rows: ArchiveRows,
}

/// What a file holds: series, timeframe and (from its name) the period it covers.
struct Identity {
    instrument: Instrument,
    timeframe: Timeframe,
    period: Option<(i64, i64)>,
}

/// A flag fills in what the path does not say. It never overrides what the path says: a
/// `…/spot/…` file imported with `--market usdm` would store spot prices as the perpetual's.
fn pick<T: PartialEq + Display>(what: &str, from_path: Option<T>, flag: Option<T>) -> Result<Option<T>, String> {
    match (from_path, flag) {
        (Some(p), Some(f)) if p != f => Err(format!("the path says {what} {p} but --{what} says {f}")),
        (p, f) => Ok(p.or(f)),
    }
}

/// What the file is a series of, from its name and folders, completed by the user's flags.
fn identify(path: &Path, opts: &ImportOptions) -> Result<Identity, String> {
    let named = archive::describe(path);
    let symbol = pick("symbol", named.as_ref().map(|n| n.symbol.clone()), opts.symbol.clone())?.ok_or(
        "cannot tell the symbol and timeframe from the file name (expected SYMBOL-1h-YYYY-MM[-DD].zip); pass --symbol and --timeframe",
    )?;
    let timeframe = pick("timeframe", named.as_ref().map(|n| n.timeframe), opts.timeframe)?
        .ok_or("cannot tell the timeframe; pass --timeframe")?;
    let market = pick("market", named.as_ref().and_then(|n| n.market), opts.market)?.ok_or(
        "cannot tell whether this is a spot or a USD-M file: keep Binance's folders (…/spot/… or …/futures/um/…) or pass --market spot|usdm",
    )?;
    let instrument = Instrument::from_symbol(market, &symbol).map_err(|e| e.to_string())?;
    let period = named.and_then(|n| n.period);
    Ok(Identity {
        instrument,
        timeframe,
        period,
    })
}

fn parse_file(path: &Path, opts: &ImportOptions) -> Result<Parsed, String> {
    let Identity {
        instrument,
        timeframe,
        period,
    } = identify(path, opts).map_err(|e| format!("{}: {e}", path.display()))?;
    let rows = archive::read_archive(path, timeframe).map_err(|e| e.to_string())?;
    let first = rows.candles.first().map_or(0, |c| c.open_time_ms);
    let last = rows.candles.last().map_or(0, |c| c.open_time_ms);
    let covered = match period {
        Some((from, to)) => {
            if first < from || last >= to {
                return Err(format!(
                    "{}: rows run from {} to {}, outside the period its name gives",
                    path.display(),
                    candlekeep_core::time::format_ms(first),
                    candlekeep_core::time::format_ms(last)
                ));
            }
            (from, to)
        }
        None => (first, last + timeframe.millis()),
    };
    Ok(Parsed {
        instrument,
        timeframe,
        covered,
        rows,
    })
}

/// Files are committed together until a batch holds this many rows: one commit per file would
/// spend most of the time rewriting the same database pages.
const BATCH_ROWS: usize = 50_000;

/// Imports `paths` in order. A bad file is reported and skipped; the others are stored. Once
/// `stop` is set, the files of the batch being gathered are dropped unwritten and no more are
/// read: the outcomes are those of the batches committed so far.
///
/// Files are checked and parsed on a blocking thread (CPU and disk work) while the previous
/// batch is written.
pub async fn import_files<S: CandleWrite>(
    store: &S,
    paths: &[PathBuf],
    opts: &ImportOptions,
    progress: &dyn Progress,
    stop: &AtomicBool,
) -> Result<Vec<FileOutcome>, JobError> {
    progress.start(paths.len() as u64);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(PathBuf, Result<Parsed, String>)>(64);
    let reader = {
        let (paths, opts) = (paths.to_vec(), opts.clone());
        tokio::task::spawn_blocking(move || {
            for path in paths {
                let parsed = parse_file(&path, &opts);
                // The receiver is gone once the import stops: no more files are read.
                if tx.blocking_send((path, parsed)).is_err() {
                    break;
                }
            }
        })
    };
    let mut outcomes = Vec::with_capacity(paths.len());
    let mut batch: Vec<(FileOutcome, Parsed)> = Vec::new();
    let mut batch_rows = 0;
    let mut next = rx.recv().await;
    while let Some((path, parsed)) = next.take() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let mut outcome = FileOutcome {
            path: path.clone(),
            instrument: None,
            rows: 0,
            written: 0,
            cross_checked: 0,
            checksum_verified: false,
            micros: false,
            error: None,
        };
        match parsed {
            Err(e) => {
                progress.note(&format!("refused {e}"));
                outcome.error = Some(e);
                outcomes.push(outcome);
            }
            Ok(p) => {
                outcome.instrument = Some(p.instrument.clone());
                outcome.rows = p.rows.candles.len() as u64;
                outcome.checksum_verified = p.rows.checksum_verified;
                outcome.micros = p.rows.micros;
                batch_rows += p.rows.candles.len();
                batch.push((outcome, p));
            }
        }
        if batch_rows >= BATCH_ROWS {
            write_batch(store, &mut batch, &opts.overwrite, progress).await?;
            outcomes.extend(batch.drain(..).map(|(o, _)| o));
            batch_rows = 0;
        }
        next = rx.recv().await;
        if next.is_none() && !batch.is_empty() {
            write_batch(store, &mut batch, &opts.overwrite, progress).await?;
            outcomes.extend(batch.drain(..).map(|(o, _)| o));
        }
    }
    drop(rx);
    reader
        .await
        .map_err(|e| JobError::Worker(format!("the archive reader stopped: {e}")))?;
    Ok(outcomes)
}

/// Stores a batch of verified files in one transaction.
async fn write_batch<S: CandleWrite>(
    store: &S,
    batch: &mut [(FileOutcome, Parsed)],
    overwrite: &Overwrite,
    progress: &dyn Progress,
) -> Result<(), JobError> {
    let provenance = Provenance {
        source: SourceId::BinanceArchive,
        fetched_at_ms: now_ms(),
    };
    let mut pages = Vec::with_capacity(batch.len());
    for (_, p) in batch.iter_mut() {
        pages.push(OwnedPage {
            instrument_id: store.instrument_id(&p.instrument).await?,
            timeframe: p.timeframe,
            provenance,
            // The rows are written once: the batch keeps only what its outcomes report.
            candles: std::mem::take(&mut p.rows.candles),
            covered: Some(TimeRange::from(p.covered)),
            outranks: overwrite.outranked(&p.instrument),
        });
    }
    let stats = store.write_pages(pages).await?;
    for ((outcome, _), st) in batch.iter_mut().zip(stats) {
        outcome.written = st.written;
        outcome.cross_checked = st.cross_checked;
        progress.advance(1, &format!("{} ({} rows)", outcome.path.display(), outcome.rows));
    }
    Ok(())
}
