//! Content hashes that agree across backends: the candles' hash (key, values and source, not the
//! fetch time) and a per-table hash over every column, both fed rows in key order.

use sha2::{Digest, Sha256};

use crate::catalog::Value;

/// SHA-256 over candles in key order.
#[derive(Default)]
pub(crate) struct CandleHasher(Sha256);

/// One candle row as the hash reads it.
pub(crate) struct CandleRow<'a> {
    pub market: &'a str,
    pub base: &'a str,
    pub quote: &'a str,
    pub timeframe: &'a str,
    pub source: &'a str,
    pub open_time: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: Option<f64>,
    pub quote_volume: Option<f64>,
    pub trades: Option<i64>,
}

impl CandleHasher {
    pub fn add(&mut self, r: &CandleRow<'_>) {
        for text in [r.market, r.base, r.quote, r.timeframe, r.source] {
            self.0.update(text);
            self.0.update([0]);
        }
        self.0.update(r.open_time.to_le_bytes());
        for v in [r.open, r.high, r.low, r.close] {
            self.0.update(v.to_bits().to_le_bytes());
        }
        // An absent volume (a venue that reports none) hashes as all ones, a NaN no parser makes.
        for v in [r.volume, r.quote_volume] {
            self.0.update(v.map_or(u64::MAX, f64::to_bits).to_le_bytes());
        }
        self.0.update(r.trades.unwrap_or(-1).to_le_bytes());
    }

    pub fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}

/// SHA-256 over a table's rows in key order, every column tagged by kind.
#[derive(Default)]
pub(crate) struct TableHasher(Sha256);

impl TableHasher {
    pub fn add(&mut self, row: &[Value]) {
        for v in row {
            match v {
                Value::Null => self.0.update([0]),
                Value::Int(i) => {
                    self.0.update([1]);
                    self.0.update(i.to_le_bytes());
                }
                Value::Real(f) => {
                    self.0.update([2]);
                    self.0.update(f.to_bits().to_le_bytes());
                }
                Value::Text(s) => {
                    self.0.update([3]);
                    self.0.update((s.len() as u64).to_le_bytes());
                    self.0.update(s.as_bytes());
                }
                Value::Blob(b) => {
                    self.0.update([4]);
                    self.0.update((b.len() as u64).to_le_bytes());
                    self.0.update(b);
                }
            }
        }
    }

    pub fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}
