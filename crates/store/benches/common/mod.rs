//! What the store's benchmarks share: medians, settings from the environment, and the rows as
//! CSV for the command-line peers (`sqlite3 .import`, `psql \copy`).

#![allow(dead_code)]

use std::io::Write;

use candlekeep_core::Candle;

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Writes every series' candles as `candles` table rows (series n gets instrument id n + 1,
/// source 1, fetched at 1); an absent volume or trade count is written as 0.
pub fn write_csv<'a>(path: &std::path::Path, series: impl Iterator<Item = &'a [Candle]>) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for (i, bars) in series.enumerate() {
        for c in bars {
            writeln!(
                f,
                "{},1h,{},{},{},{},{},{},{},{},1,1",
                i + 1,
                c.open_time_ms,
                c.open,
                c.high,
                c.low,
                c.close,
                c.volume.unwrap_or(0.0),
                c.quote_volume.unwrap_or(0.0),
                c.trades.unwrap_or(0)
            )?;
        }
    }
    f.flush()
}
