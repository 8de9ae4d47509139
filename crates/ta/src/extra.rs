//! Candlekeep's own indicators (TA-Lib has none of these):
//!
//! - **realised volatility**: the sample standard deviation (n − 1) of the last `period` log
//!   returns ln(close / previous close), annualised by √(bars per year) of the timeframe (crypto
//!   trades every hour of the year: 8,760 hourly bars); as a fraction, 0.65 = 65 %;
//! - **VWAP per UTC day**: Σ typical price × volume / Σ volume over the bars of the current UTC
//!   day so far, the typical price being (high + low + close) / 3; none while the day has no
//!   volume yet;
//! - **volume z-score**: (volume − mean) / population standard deviation over the last `period`
//!   bars including this one; 0 when every volume in the window is the same;
//! - **trend score**: ADX / 100 × (+DI − −DI) / (+DI + −DI) with TA-Lib's +DI, −DI and ADX of one
//!   period: from −1 to +1, its sign the direction and its size the strength (0 when both DI are
//!   0). This is the trend measure the signals read.

use crate::directional::{Adx, MinusDi, PlusDi};
use crate::util::{Ring, period, same_len};
use crate::{Bar, Indicator, TaError, bars, run};

const DAY_MS: i64 = 86_400_000;
const YEAR_MS: f64 = 365.0 * 86_400_000.0;

/// Bars of `bar_ms` milliseconds in a year of continuous trading.
pub fn bars_per_year(bar_ms: i64) -> f64 {
    YEAR_MS / bar_ms.max(1) as f64
}

// ---- realised volatility ----

/// Realised volatility of `close` (see the module doc), for bars of `bar_ms` milliseconds.
pub fn realized_vol(close: &[f64], period_: usize, bar_ms: i64, out: &mut [f64]) -> Result<(), TaError> {
    same_len("realized_vol", close.len(), &[out.len()])?;
    let mut ind = RealizedVol::new(period_, bar_ms)?;
    run(&mut ind, close.iter().copied(), out);
    Ok(())
}

/// Streaming [`realized_vol`].
#[derive(Debug, Clone)]
pub struct RealizedVol {
    returns: Ring,
    prev: Option<f64>,
    annualise: f64,
}

impl RealizedVol {
    pub fn new(period_: usize, bar_ms: i64) -> Result<Self, TaError> {
        let p = period("realized_vol", "period", period_, 2)?;
        Ok(Self {
            returns: Ring::new(p),
            prev: None,
            annualise: bars_per_year(bar_ms).sqrt(),
        })
    }
}

impl Indicator for RealizedVol {
    type Input = f64;
    type Output = f64;

    fn update(&mut self, close: f64) -> Option<f64> {
        let prev = self.prev.replace(close)?;
        self.returns.push((close / prev).ln());
        if !self.returns.is_full() {
            return None;
        }
        let n = self.returns.slots().len() as f64;
        let mean = self.returns.slots().iter().sum::<f64>() / n;
        let ss: f64 = self.returns.slots().iter().map(|r| (r - mean) * (r - mean)).sum();
        Some((ss / (n - 1.0)).sqrt() * self.annualise)
    }

    fn lookback(&self) -> usize {
        self.returns.slots().len().max(1)
    }

    fn reset(&mut self) {
        self.returns.clear();
        self.prev = None;
    }
}

// ---- VWAP per UTC day ----

/// VWAP per UTC day (see the module doc); `open_time_ms` is each bar's open time.
pub fn vwap_daily(
    open_time_ms: &[i64],
    high: &[f64],
    low: &[f64],
    close: &[f64],
    volume: &[f64],
    out: &mut [f64],
) -> Result<(), TaError> {
    same_len(
        "vwap_daily",
        close.len(),
        &[open_time_ms.len(), high.len(), low.len(), volume.len(), out.len()],
    )?;
    let mut ind = VwapDaily::new();
    for (i, b) in bars(high, low, close, Some(volume)).enumerate() {
        out[i] = ind.update((open_time_ms[i], b)).unwrap_or(f64::NAN);
    }
    Ok(())
}

/// Streaming [`vwap_daily`]: takes (open time in ms, bar).
#[derive(Debug, Clone, Default)]
pub struct VwapDaily {
    day: Option<i64>,
    value: f64,
    volume: f64,
}

impl VwapDaily {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Indicator for VwapDaily {
    type Input = (i64, Bar);
    type Output = f64;

    fn update(&mut self, (open_time_ms, b): (i64, Bar)) -> Option<f64> {
        let day = open_time_ms.div_euclid(DAY_MS);
        if self.day != Some(day) {
            self.day = Some(day);
            self.value = 0.0;
            self.volume = 0.0;
        }
        self.value += (b.high + b.low + b.close) / 3.0 * b.volume;
        self.volume += b.volume;
        (self.volume > 0.0).then(|| self.value / self.volume)
    }

    fn lookback(&self) -> usize {
        0
    }

    fn reset(&mut self) {
        *self = Self::default();
    }
}

// ---- volume z-score ----

/// Volume z-score (see the module doc).
pub fn volume_zscore(volume: &[f64], period_: usize, out: &mut [f64]) -> Result<(), TaError> {
    same_len("volume_zscore", volume.len(), &[out.len()])?;
    let mut ind = VolumeZScore::new(period_)?;
    run(&mut ind, volume.iter().copied(), out);
    Ok(())
}

/// Streaming [`volume_zscore`].
#[derive(Debug, Clone)]
pub struct VolumeZScore {
    window: Ring,
}

impl VolumeZScore {
    pub fn new(period_: usize) -> Result<Self, TaError> {
        Ok(Self {
            window: Ring::new(period("volume_zscore", "period", period_, 2)?),
        })
    }
}

impl Indicator for VolumeZScore {
    type Input = f64;
    type Output = f64;

    fn update(&mut self, v: f64) -> Option<f64> {
        self.window.push(v);
        if !self.window.is_full() {
            return None;
        }
        let values = self.window.slots();
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        let sd = var.sqrt();
        Some(if sd > 0.0 { (v - mean) / sd } else { 0.0 })
    }

    fn lookback(&self) -> usize {
        self.window.slots().len().saturating_sub(1)
    }

    fn reset(&mut self) {
        self.window.clear();
    }
}

// ---- trend score ----

/// Trend score (see the module doc).
pub fn trend(high: &[f64], low: &[f64], close: &[f64], period_: usize, out: &mut [f64]) -> Result<(), TaError> {
    same_len("trend", close.len(), &[high.len(), low.len(), out.len()])?;
    let mut ind = Trend::new(period_)?;
    run(&mut ind, bars(high, low, close, None), out);
    Ok(())
}

/// Streaming [`trend`].
#[derive(Debug, Clone)]
pub struct Trend {
    plus: PlusDi,
    minus: MinusDi,
    adx: Adx,
}

impl Trend {
    pub fn new(period_: usize) -> Result<Self, TaError> {
        Ok(Self {
            plus: PlusDi::new(period_)?,
            minus: MinusDi::new(period_)?,
            adx: Adx::new(period_)?,
        })
    }
}

impl Indicator for Trend {
    type Input = Bar;
    type Output = f64;

    fn update(&mut self, b: Bar) -> Option<f64> {
        let plus = self.plus.update(b);
        let minus = self.minus.update(b);
        let adx = self.adx.update(b)?;
        let (plus, minus) = (plus?, minus?);
        let sum = plus + minus;
        Some(if sum > 0.0 {
            adx / 100.0 * (plus - minus) / sum
        } else {
            0.0
        })
    }

    fn lookback(&self) -> usize {
        self.adx.lookback()
    }

    fn reset(&mut self) {
        self.plus.reset();
        self.minus.reset();
        self.adx.reset();
    }
}
