//! Volume accumulations: OBV and the Chaikin A/D line.

use crate::util::same_len;
use crate::{Bar, Indicator, TaError};

/// On-balance volume (TA-Lib `OBV`): starts at the first bar's volume, then adds the volume of
/// an up close and subtracts that of a down close.
pub fn obv(close: &[f64], volume: &[f64], out: &mut [f64]) -> Result<(), TaError> {
    same_len("OBV", close.len(), &[volume.len(), out.len()])?;
    let Some(&first_volume) = volume.first() else {
        return Ok(());
    };
    // Two passes: each bar's signed volume (no branch, so it vectorises), then the running sum
    // (adding 0 where the close did not move leaves the sum as TA-Lib's).
    out[0] = first_volume;
    for i in 1..close.len() {
        out[i] = signed_volume(close[i], close[i - 1], volume[i]);
    }
    let mut total = 0.0;
    for (k, o) in out.iter_mut().enumerate() {
        total = if k == 0 { *o } else { total + *o };
        *o = total;
    }
    Ok(())
}

#[inline(always)]
fn signed_volume(close: f64, prev: f64, volume: f64) -> f64 {
    if close > prev {
        volume
    } else if close < prev {
        -volume
    } else {
        0.0
    }
}

/// Streaming [`obv`].
#[derive(Debug, Clone, Default)]
pub struct Obv {
    prev: Option<f64>,
    total: f64,
}

impl Obv {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Indicator for Obv {
    type Input = Bar;
    type Output = f64;

    fn update(&mut self, b: Bar) -> Option<f64> {
        match self.prev {
            None => self.total = b.volume,
            Some(prev) => self.total += signed_volume(b.close, prev, b.volume),
        }
        self.prev = Some(b.close);
        Some(self.total)
    }

    fn lookback(&self) -> usize {
        0
    }

    fn reset(&mut self) {
        *self = Self::default();
    }
}

/// A bar's money-flow volume; 0 for a bar without range (adding it leaves the sum as TA-Lib's,
/// which skips such bars).
#[inline(always)]
fn ad_flow(high: f64, low: f64, close: f64, volume: f64) -> f64 {
    let range = high - low;
    let flow = (((close - low) - (high - close)) / range) * volume;
    if range > 0.0 { flow } else { 0.0 }
}

/// Chaikin accumulation/distribution line (TA-Lib `AD`).
pub fn ad(high: &[f64], low: &[f64], close: &[f64], volume: &[f64], out: &mut [f64]) -> Result<(), TaError> {
    same_len("AD", close.len(), &[high.len(), low.len(), volume.len(), out.len()])?;
    // Two passes: each bar's money-flow volume (divisions side by side), then the running sum.
    for i in 0..close.len() {
        out[i] = ad_flow(high[i], low[i], close[i], volume[i]);
    }
    let mut total = 0.0;
    for o in out.iter_mut() {
        total += *o;
        *o = total;
    }
    Ok(())
}

/// Streaming [`ad`].
#[derive(Debug, Clone, Default)]
pub struct Ad {
    total: f64,
}

impl Ad {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Indicator for Ad {
    type Input = Bar;
    type Output = f64;

    fn update(&mut self, b: Bar) -> Option<f64> {
        self.total += ad_flow(b.high, b.low, b.close, b.volume);
        Some(self.total)
    }

    fn lookback(&self) -> usize {
        0
    }

    fn reset(&mut self) {
        self.total = 0.0;
    }
}
