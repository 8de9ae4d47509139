//! Archive import: every file checked and parsed on a reader thread while the previous one is
//! written, each file stored in one transaction (all of it or none of it).

use std::{
    path::{Path, PathBuf},
    sync::mpsc,
};

use candlekeep_core::{Instrument, Market, Provenance, SourceId, Timeframe, time::now_ms};
use candlekeep_sources::archive::{self, ArchiveRows};
use candlekeep_store::{PageWrite, Replace, StoreError, WriteStats};

use crate::{JobError, Progress, SharedStore};

/// What the user said about files whose names or folders do not say it.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub market: Option<Market>,
    pub timeframe: Option<Timeframe>,
    pub symbol: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FileOutcome {
    pub path: PathBuf,
    pub instrument: Option<Instrument>,
    pub rows: u64,
    pub written: u64,
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

/// What the file is a series of, from its name and folders, with the user's overrides.
fn identify(path: &Path, opts: &ImportOptions) -> Result<Identity, String> {
    let named = archive::describe(path);
    let symbol = opts.symbol.clone().or_else(|| named.as_ref().map(|n| n.symbol.clone())).ok_or(
        "cannot tell the symbol and timeframe from the file name (expected SYMBOL-1h-YYYY-MM[-DD].zip); pass --symbol and --timeframe",
    )?;
    let timeframe = opts
        .timeframe
        .or(named.as_ref().map(|n| n.timeframe))
        .ok_or("cannot tell the timeframe; pass --timeframe")?;
    let market = opts.market.or(named.as_ref().and_then(|n| n.market)).ok_or(
        "cannot tell whether this is a spot or a USD-M file: keep Binance's folders (…/spot/… or …/futures/um/…) or pass --market spot|usdm",
    )?;
    let instrument = Instrument::from_symbol(market, &symbol).map_err(|e| e.to_string())?;
    let period = if opts
        .timeframe
        .is_some_and(|t| Some(t) != named.as_ref().map(|n| n.timeframe))
    {
        None
    } else {
        named.and_then(|n| n.period)
    };
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

/// Imports `paths` in order. A bad file is reported and skipped; the others are stored.
pub fn import_files(
    store: &SharedStore,
    paths: &[PathBuf],
    opts: &ImportOptions,
    progress: &dyn Progress,
) -> Result<Vec<FileOutcome>, JobError> {
    progress.start(paths.len() as u64);
    let (tx, rx) = mpsc::sync_channel::<(PathBuf, Result<Parsed, String>)>(64);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for path in paths {
                if tx.send((path.clone(), parse_file(path, opts))).is_err() {
                    break;
                }
            }
        });
        let mut outcomes = Vec::with_capacity(paths.len());
        let mut batch: Vec<(FileOutcome, Parsed)> = Vec::new();
        let mut batch_rows = 0;
        let mut incoming = rx.into_iter().peekable();
        while let Some((path, parsed)) = incoming.next() {
            let mut outcome = FileOutcome {
                path: path.clone(),
                instrument: None,
                rows: 0,
                written: 0,
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
            if !batch.is_empty() && (batch_rows >= BATCH_ROWS || incoming.peek().is_none()) {
                write_batch(store, &mut batch, progress)?;
                outcomes.extend(batch.drain(..).map(|(o, _)| o));
                batch_rows = 0;
            }
        }
        Ok(outcomes)
    })
}

/// Stores a batch of verified files in one transaction.
fn write_batch(
    store: &SharedStore,
    batch: &mut [(FileOutcome, Parsed)],
    progress: &dyn Progress,
) -> Result<(), JobError> {
    let provenance = Provenance {
        source: SourceId::BinanceArchive,
        fetched_at_ms: now_ms(),
    };
    let stats = store.with_blocking(|s| -> Result<Vec<WriteStats>, StoreError> {
        let mut ids = Vec::with_capacity(batch.len());
        for (_, p) in batch.iter() {
            ids.push(s.instrument_id(&p.instrument)?);
        }
        let pages: Vec<PageWrite<'_>> = batch
            .iter()
            .zip(ids)
            .map(|((_, p), instrument_id)| PageWrite {
                instrument_id,
                timeframe: p.timeframe,
                provenance,
                candles: &p.rows.candles,
                covered: Some(p.covered),
                // An explicit import of the venue's own archive: its values win.
                replace: Replace::Any,
            })
            .collect();
        s.write_pages(&pages)
    })??;
    for ((outcome, _), st) in batch.iter_mut().zip(stats) {
        outcome.written = st.written;
        progress.advance(1, &format!("{} ({} rows)", outcome.path.display(), outcome.rows));
    }
    Ok(())
}
