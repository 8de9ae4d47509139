//! Writes Binance public-archive files from the simulated market: `SYMBOL-1h-YYYY-MM.zip` holding
//! one CSV with the REST kline columns, and the sibling `.zip.CHECKSUM` (sha256, two spaces, file
//! name, no trailing newline), in the layouts Binance actually publishes.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use candlekeep_core::{Market, Timeframe};
use sha2::{Digest, Sha256};

use crate::market::{SimCandle, SimMarket, format_fixed};

/// The column header that futures files carry since about 2022.
pub const FUTURES_HEADER: &str =
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore";

/// How the CSV inside the archive is written.
#[derive(Debug, Clone, Copy)]
pub struct ArchiveStyle {
    pub header: bool,
    /// Timestamps in microseconds, as spot files from 2025-01-01 on.
    pub micros: bool,
}

impl ArchiveStyle {
    /// What Binance publishes for this market and month.
    pub fn binance(market: Market, year: i32, month: u32) -> Self {
        match market {
            Market::Spot => Self {
                header: false,
                micros: (year, month) >= (2025, 1),
            },
            Market::UsdM => Self {
                header: (year, month) >= (2022, 5),
                micros: false,
            },
        }
    }
}

/// Epoch ms of the first instant of a month (for valid months; 0 otherwise).
pub fn month_start_ms(year: i32, month: u32) -> i64 {
    candlekeep_core::time::month_ms(year, month).map_or(0, |(start, _)| start)
}

/// One CSV line per bar, in the archive's column order.
pub fn csv_rows(bars: &[SimCandle], micros: bool) -> String {
    let mut s = String::with_capacity(bars.len() * 140);
    let scale = if micros { 1000 } else { 1 };
    for c in bars {
        let p = |v: i64| format_fixed(v, c.price_decimals, 8);
        let q = |v: i64| format_fixed(v, c.qty_decimals, 8);
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},0\n",
            c.open_time_ms * scale,
            p(c.open),
            p(c.high),
            p(c.low),
            p(c.close),
            q(c.volume),
            c.close_time_ms * scale + (scale - 1),
            format_fixed(c.quote_volume, c.quote_decimals, 8),
            c.trades,
            q(c.taker_buy_volume),
            format_fixed(c.quote_volume / 2, c.quote_decimals, 8),
        ));
    }
    s
}

/// Writes `dir/SYMBOL-TF-YYYY-MM.zip` and its `.CHECKSUM`; returns the zip's path and bar count.
pub fn write_monthly(
    dir: &Path,
    gen_: &SimMarket,
    market: Market,
    symbol: &str,
    tf: Timeframe,
    (year, month): (i32, u32),
    style: ArchiveStyle,
) -> std::io::Result<(PathBuf, usize)> {
    let (from, to) = candlekeep_core::time::month_ms(year, month)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("no month {year}-{month}")))?;
    let bars = gen_.candles(market, symbol, tf, from, to);
    let base = format!("{symbol}-{tf}-{year:04}-{month:02}");
    let mut csv = String::new();
    if style.header {
        csv.push_str(FUTURES_HEADER);
        csv.push('\n');
    }
    csv.push_str(&csv_rows(&bars, style.micros));
    let path = write_zip(dir, &base, csv.as_bytes())?;
    Ok((path, bars.len()))
}

/// Zips `csv` as `NAME.csv` into `dir/NAME.zip` and writes `dir/NAME.zip.CHECKSUM`.
pub fn write_zip(dir: &Path, name: &str, csv: &[u8]) -> std::io::Result<PathBuf> {
    let path = dir.join(format!("{name}.zip"));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path)?);
    zip.start_file(format!("{name}.csv"), zip::write::SimpleFileOptions::default())
        .map_err(std::io::Error::other)?;
    zip.write_all(csv)?;
    zip.finish().map_err(std::io::Error::other)?;
    let digest = hex::encode(Sha256::digest(std::fs::read(&path)?));
    std::fs::write(
        dir.join(format!("{name}.zip.CHECKSUM")),
        format!("{digest}  {name}.zip"),
    )?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_starts() {
        assert_eq!(month_start_ms(1970, 1), 0);
        assert_eq!(month_start_ms(2020, 1), 1_577_836_800_000);
        assert_eq!(month_start_ms(2024, 3), 1_709_251_200_000);
    }
}
