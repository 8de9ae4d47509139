//! Ranges: true range, ATR (Wilder's smoothing seeded with the mean true range) and NATR.

use crate::util::{is_zero, period, same_len, warm_up};
use crate::{Bar, Indicator, TaError};

/// TA-Lib's true range of a bar after the previous close.
#[inline]
pub(crate) fn true_range(high: f64, low: f64, prev_close: f64) -> f64 {
    // TA-Lib's comparisons as selects, which loops over it turn into vector max instructions.
    let greatest = high - low;
    let v = (prev_close - high).abs();
    let greatest = if v > greatest { v } else { greatest };
    let v = (prev_close - low).abs();
    if v > greatest { v } else { greatest }
}

/// True range (TA-Lib `TRANGE`): none for the first bar.
pub fn trange(high: &[f64], low: &[f64], close: &[f64], out: &mut [f64]) -> Result<(), TaError> {
    same_len("TRANGE", close.len(), &[high.len(), low.len(), out.len()])?;
    if warm_up(out, 1) {
        for (((o, &h), &l), &c) in out[1..].iter_mut().zip(&high[1..]).zip(&low[1..]).zip(close) {
            *o = true_range(h, l, c);
        }
    }
    Ok(())
}

/// Streaming [`trange`].
#[derive(Debug, Clone, Default)]
pub struct TrueRange {
    prev_close: Option<f64>,
}

impl TrueRange {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Indicator for TrueRange {
    type Input = Bar;
    type Output = f64;

    #[inline]
    fn update(&mut self, b: Bar) -> Option<f64> {
        let prev = self.prev_close.replace(b.close)?;
        Some(true_range(b.high, b.low, prev))
    }

    fn lookback(&self) -> usize {
        1
    }

    fn reset(&mut self) {
        self.prev_close = None;
    }
}

pub fn atr_lookback(period: usize) -> usize {
    period
}

/// Average true range (TA-Lib `ATR`, default period 14). Period 1 is the true range.
pub fn atr(high: &[f64], low: &[f64], close: &[f64], period_: usize, out: &mut [f64]) -> Result<(), TaError> {
    let p = period("ATR", "period", period_, 1)?;
    same_len("ATR", close.len(), &[high.len(), low.len(), out.len()])?;
    atr_core(high, low, close, p, out, |atr, _| atr);
    Ok(())
}

/// Normalised ATR in percent of the close (TA-Lib `NATR`, default period 14); 0 at a zero close.
/// Period 1 is, as in TA-Lib, the plain true range.
pub fn natr(high: &[f64], low: &[f64], close: &[f64], period_: usize, out: &mut [f64]) -> Result<(), TaError> {
    let p = period("NATR", "period", period_, 1)?;
    same_len("NATR", close.len(), &[high.len(), low.len(), out.len()])?;
    atr_core(high, low, close, p, out, natr_value);
    Ok(())
}

#[inline]
fn natr_value(atr: f64, close: f64) -> f64 {
    if is_zero(close) { 0.0 } else { (atr / close) * 100.0 }
}

#[inline]
fn atr_core(high: &[f64], low: &[f64], close: &[f64], p: usize, out: &mut [f64], finish: impl Fn(f64, f64) -> f64) {
    if p == 1 {
        // TA-Lib answers period 1 with TRANGE, unsmoothed and (for NATR) unscaled.
        if warm_up(out, 1) {
            for i in 1..close.len() {
                out[i] = true_range(high[i], low[i], close[i - 1]);
            }
        }
        return;
    }
    if !warm_up(out, p) {
        return;
    }
    let (pf, pm1) = (p as f64, (p - 1) as f64);
    let mut total = 0.0;
    for i in 1..=p {
        total += true_range(high[i], low[i], close[i - 1]);
    }
    let mut atr = total / pf;
    out[p] = finish(atr, close[p]);
    for i in p + 1..close.len() {
        atr *= pm1;
        atr += true_range(high[i], low[i], close[i - 1]);
        atr /= pf;
        out[i] = finish(atr, close[i]);
    }
}

/// Wilder-smoothed true range, the state of [`Atr`] and [`Natr`].
#[derive(Debug, Clone)]
struct Smoothed {
    period: usize,
    tr: TrueRange,
    seen: usize,
    value: f64,
}

impl Smoothed {
    fn new(p: usize) -> Self {
        Self {
            period: p,
            tr: TrueRange::new(),
            seen: 0,
            value: 0.0,
        }
    }

    #[inline]
    fn update(&mut self, b: Bar) -> Option<f64> {
        let tr = self.tr.update(b)?;
        if self.period == 1 {
            return Some(tr);
        }
        self.seen += 1;
        if self.seen <= self.period {
            self.value += tr;
            if self.seen < self.period {
                return None;
            }
            self.value /= self.period as f64;
        } else {
            self.value *= (self.period - 1) as f64;
            self.value += tr;
            self.value /= self.period as f64;
        }
        Some(self.value)
    }

    fn reset(&mut self) {
        self.tr.reset();
        self.seen = 0;
        self.value = 0.0;
    }
}

/// Streaming [`atr`].
#[derive(Debug, Clone)]
pub struct Atr(Smoothed);

impl Atr {
    pub fn new(period_: usize) -> Result<Self, TaError> {
        Ok(Self(Smoothed::new(period("ATR", "period", period_, 1)?)))
    }
}

impl Indicator for Atr {
    type Input = Bar;
    type Output = f64;

    fn update(&mut self, b: Bar) -> Option<f64> {
        self.0.update(b)
    }

    fn lookback(&self) -> usize {
        self.0.period
    }

    fn reset(&mut self) {
        self.0.reset();
    }
}

/// Streaming [`natr`].
#[derive(Debug, Clone)]
pub struct Natr(Smoothed);

impl Natr {
    pub fn new(period_: usize) -> Result<Self, TaError> {
        Ok(Self(Smoothed::new(period("NATR", "period", period_, 1)?)))
    }
}

impl Indicator for Natr {
    type Input = Bar;
    type Output = f64;

    fn update(&mut self, b: Bar) -> Option<f64> {
        let atr = self.0.update(b)?;
        Some(if self.0.period == 1 {
            atr
        } else {
            natr_value(atr, b.close)
        })
    }

    fn lookback(&self) -> usize {
        self.0.period
    }

    fn reset(&mut self) {
        self.0.reset();
    }
}
