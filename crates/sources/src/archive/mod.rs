//! Binance public-archive files (data.binance.vision): `.zip` holding one CSV, or a bare `.csv`.
//!
//! - A `.zip` (or `.csv`) with a sibling `.zip.CHECKSUM` (`.csv.CHECKSUM`, `<sha256>  <name>`)
//!   is verified first; a mismatch refuses the whole file. Extensions match in any case.
//! - A header row (futures files since 2022) is detected and skipped.
//! - Millisecond or microsecond timestamps (spot files from 2025) are detected per file.
//! - Every row must parse and belong to the file's timeframe, or the whole file is refused with
//!   the line number and the reason: a file is imported entirely or not at all.

mod name;

use std::{
    io::Read,
    path::{Path, PathBuf},
};

use candlekeep_core::{Candle, Timeframe};
use sha2::{Digest, Sha256};

pub use name::{ArchiveName, describe};

use crate::binance::RawKline;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: checksum mismatch: {checksum_file} says sha256 {expected}, the file has {actual}")]
    ChecksumMismatch {
        path: PathBuf,
        checksum_file: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("{path}: unreadable checksum file {checksum_file}: expected '<64 hex digits>  <file name>'")]
    ChecksumFormat { path: PathBuf, checksum_file: PathBuf },
    #[error("{path}: not a readable zip archive: {detail}")]
    Zip { path: PathBuf, detail: String },
    #[error("{path}: the zip holds no .csv file")]
    NoCsv { path: PathBuf },
    #[error("{path}, line {line}: {detail}")]
    Row { path: PathBuf, line: u64, detail: String },
    #[error("{path}: {detail}")]
    Unknown { path: PathBuf, detail: String },
}

/// The rows of one archive file, checked and ready to store.
#[derive(Debug, Clone)]
pub struct ArchiveRows {
    pub candles: Vec<Candle>,
    /// Whether the file's timestamps were microseconds.
    pub micros: bool,
    pub had_header: bool,
    pub checksum_verified: bool,
}

/// Reads, verifies and parses one `.zip` or `.csv` archive file of timeframe `tf`.
pub fn read_archive(path: &Path, tf: Timeframe) -> Result<ArchiveRows, ArchiveError> {
    let io = |source| ArchiveError::Io {
        path: path.to_owned(),
        source,
    };
    let bytes = std::fs::read(path).map_err(io)?;
    let is_zip = bytes.starts_with(b"PK") || path.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    // A bare `.csv` with a `.csv.CHECKSUM` beside it is verified just like a `.zip`.
    let checksum_verified = verify_checksum(path, &bytes)?;
    let csv = if is_zip { unzip_csv(path, &bytes)? } else { bytes };
    let mut rows = parse_csv(path, &csv, tf)?;
    rows.checksum_verified = checksum_verified;
    Ok(rows)
}

/// Checks `<path>.CHECKSUM` when it exists; `Ok(false)` when there is none.
fn verify_checksum(path: &Path, bytes: &[u8]) -> Result<bool, ArchiveError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".CHECKSUM");
    let checksum_file = PathBuf::from(name);
    let text = match std::fs::read_to_string(&checksum_file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(ArchiveError::Io {
                path: checksum_file,
                source,
            });
        }
    };
    let expected = text.split_whitespace().next().unwrap_or_default().to_ascii_lowercase();
    if expected.len() != 64 || !expected.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ArchiveError::ChecksumFormat {
            path: path.to_owned(),
            checksum_file,
        });
    }
    let actual = hex::encode(Sha256::digest(bytes));
    if actual != expected {
        return Err(ArchiveError::ChecksumMismatch {
            path: path.to_owned(),
            checksum_file,
            expected,
            actual,
        });
    }
    Ok(true)
}

fn unzip_csv(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, ArchiveError> {
    let zip_err = |e: zip::result::ZipError| ArchiveError::Zip {
        path: path.to_owned(),
        detail: e.to_string(),
    };
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(zip_err)?;
    let mut out = Vec::new();
    let mut found = false;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(zip_err)?;
        if !entry.name().to_ascii_lowercase().ends_with(".csv") {
            continue;
        }
        found = true;
        entry.read_to_end(&mut out).map_err(|e| ArchiveError::Zip {
            path: path.to_owned(),
            detail: format!("{}: {e}", entry.name()),
        })?;
        if !out.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
    if !found {
        return Err(ArchiveError::NoCsv { path: path.to_owned() });
    }
    Ok(out)
}

fn field(rec: &csv::ByteRecord, i: usize) -> Result<&str, String> {
    let raw = rec.get(i).ok_or_else(|| format!("missing column {}", i + 1))?;
    std::str::from_utf8(raw)
        .map(str::trim)
        .map_err(|_| format!("column {} is not text", i + 1))
}

pub(crate) fn parse_csv(path: &Path, csv: &[u8], tf: Timeframe) -> Result<ArchiveRows, ArchiveError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv);
    let mut rec = csv::ByteRecord::new();
    let mut candles = Vec::with_capacity(csv.len() / 120);
    let mut micros: Option<bool> = None;
    let mut had_header = false;
    let mut line = 0u64;
    loop {
        match reader.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                return Err(ArchiveError::Row {
                    path: path.to_owned(),
                    line: line + 1,
                    detail: e.to_string(),
                });
            }
        }
        line = rec.position().map_or(line + 1, |p| p.line());
        let row_err = |detail: String| ArchiveError::Row {
            path: path.to_owned(),
            line,
            detail,
        };
        if rec.len() == 1 && rec.get(0).is_some_and(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        if candles.is_empty() && !had_header && !rec.get(0).is_some_and(|f| f.first().is_some_and(u8::is_ascii_digit)) {
            had_header = true;
            continue;
        }
        if rec.len() < 9 {
            return Err(row_err(format!("expected 12 columns, found {}", rec.len())));
        }
        let row = parse_row(&rec, &mut micros).map_err(&row_err)?;
        crate::binance::check_archive_row(&row, tf).map_err(&row_err)?;
        if candles
            .last()
            .is_some_and(|c: &Candle| c.open_time_ms >= row.candle.open_time_ms)
        {
            return Err(row_err(
                "rows are not in ascending open-time order (or repeat a bar)".into(),
            ));
        }
        candles.push(row.candle);
    }
    if candles.is_empty() {
        return Err(ArchiveError::Unknown {
            path: path.to_owned(),
            detail: "no kline rows".into(),
        });
    }
    Ok(ArchiveRows {
        candles,
        micros: micros.unwrap_or(false),
        had_header,
        checksum_verified: false,
    })
}

/// An open time below this (1973 in milliseconds) is taken for seconds.
const SECONDS_BELOW: i64 = 100_000_000_000;

fn parse_row(rec: &csv::ByteRecord, micros: &mut Option<bool>) -> Result<RawKline, String> {
    let int = |i: usize| -> Result<i64, String> {
        let s = field(rec, i)?;
        s.parse()
            .map_err(|_| format!("column {} is not an integer: {s:?}", i + 1))
    };
    let num = |i: usize| -> Result<f64, String> {
        let s = field(rec, i)?;
        candlekeep_core::parse_price(s).map_err(|e| format!("column {}: {e}", i + 1))
    };
    let open_raw = int(0)?;
    let close_raw = int(6)?;
    // 16-digit times are microseconds (spot files from 2025-01-01), 13-digit ones milliseconds;
    // 10 digits are seconds, which no Binance file has: a converted or hand-made file.
    if (0..SECONDS_BELOW).contains(&open_raw) {
        return Err(format!(
            "open time {open_raw} looks like seconds, expected milliseconds or microseconds"
        ));
    }
    let is_micros = open_raw > 100_000_000_000_000;
    match *micros {
        None => *micros = Some(is_micros),
        Some(m) if m != is_micros => return Err("timestamp unit changes inside the file (ms and µs mixed)".into()),
        Some(_) => {}
    }
    let to_ms = |v: i64| {
        let ms = if is_micros { v.div_euclid(1000) } else { v };
        crate::numbers::time_ms(ms)
    };
    let trades = int(8)?;
    Ok(RawKline {
        candle: Candle {
            open_time_ms: to_ms(open_raw)?,
            open: num(1)?,
            high: num(2)?,
            low: num(3)?,
            close: num(4)?,
            volume: Some(num(5)?),
            quote_volume: Some(num(7)?),
            trades: Some(u64::try_from(trades).map_err(|_| format!("negative trade count {trades}"))?),
        },
        close_time_ms: to_ms(close_raw)?,
    })
}
