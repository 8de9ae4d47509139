//! Momentum of one series: RSI (Wilder's smoothing, seeded with plain means), MOM and ROC.

use crate::util::{Ring, is_zero, period, same_len, warm_up};
use crate::{Indicator, TaError};

// ---- RSI ----

pub fn rsi_lookback(period: usize) -> usize {
    period
}

#[inline]
fn rsi_value(gain: f64, loss: f64) -> f64 {
    let t = gain + loss;
    if is_zero(t) { 0.0 } else { 100.0 * (gain / t) }
}

/// Relative strength index (TA-Lib `RSI`, default period 14).
pub fn rsi(input: &[f64], period_: usize, out: &mut [f64]) -> Result<(), TaError> {
    let p = period("RSI", "period", period_, 2)?;
    same_len("RSI", input.len(), &[out.len()])?;
    rsi_into(input, p, false, out);
    Ok(())
}

/// RSI of period `p` into `out`; with `talib_order`, TA-Lib's own operations bit for bit.
pub(crate) fn rsi_into(input: &[f64], p: usize, talib_order: bool, out: &mut [f64]) {
    if !warm_up(out, p) {
        return;
    }
    let (pf, pm1) = (p as f64, (p - 1) as f64);
    let (mut gain, mut loss) = (0.0, 0.0);
    let mut prev = input[0];
    for &x in &input[1..=p] {
        let d = x - prev;
        prev = x;
        if d < 0.0 {
            loss -= d;
        } else {
            gain += d;
        }
    }
    loss /= pf;
    gain /= pf;
    out[p] = rsi_value(gain, loss);
    let inv = 1.0 / pf;
    for (o, &x) in out[p + 1..].iter_mut().zip(&input[p + 1..]) {
        let d = x - prev;
        prev = x;
        if talib_order {
            loss *= pm1;
            gain *= pm1;
            if d < 0.0 {
                loss -= d;
            } else {
                gain += d;
            }
            loss /= pf;
            gain /= pf;
        } else {
            (gain, loss) = wilder(gain, loss, d, pm1, inv);
        }
        *o = rsi_value(gain, loss);
    }
}

/// One of Wilder's smoothing steps of the average gain and loss. Multiplying by 1/period where
/// TA-Lib divides takes the division off the chain of dependent operations (about twice as
/// fast); values move by a unit in the last place, and both forms of [`Rsi`] do the same.
#[inline(always)]
fn wilder(gain: f64, loss: f64, d: f64, pm1: f64, inv: f64) -> (f64, f64) {
    let (up, down) = if d < 0.0 { (0.0, -d) } else { (d, 0.0) };
    (((gain * pm1) + up) * inv, ((loss * pm1) + down) * inv)
}

/// Streaming [`rsi`].
#[derive(Debug, Clone)]
pub struct Rsi {
    period: usize,
    /// Divides by the period as TA-Lib does (STOCHRSI's inner RSI: its %K divides differences
    /// of RSI values that may be a unit in the last place apart).
    talib_order: bool,
    seen: usize,
    prev: f64,
    gain: f64,
    loss: f64,
}

impl Rsi {
    pub fn new(period_: usize) -> Result<Self, TaError> {
        Ok(Self {
            period: period("RSI", "period", period_, 2)?,
            talib_order: false,
            seen: 0,
            prev: 0.0,
            gain: 0.0,
            loss: 0.0,
        })
    }
}

impl Rsi {
    /// Rsi with TA-Lib's own operations, bit for bit.
    pub(crate) fn talib_order(period_: usize) -> Result<Self, TaError> {
        Ok(Self {
            talib_order: true,
            ..Self::new(period_)?
        })
    }
}

impl Indicator for Rsi {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        let first = self.seen == 0;
        self.seen = self.seen.saturating_add(1);
        let d = x - self.prev;
        self.prev = x;
        if first {
            return None;
        }
        let pf = self.period as f64;
        if self.seen <= self.period + 1 {
            if d < 0.0 {
                self.loss -= d;
            } else {
                self.gain += d;
            }
            if self.seen < self.period + 1 {
                return None;
            }
            self.loss /= pf;
            self.gain /= pf;
        } else if self.talib_order {
            let pm1 = (self.period - 1) as f64;
            self.loss *= pm1;
            self.gain *= pm1;
            if d < 0.0 {
                self.loss -= d;
            } else {
                self.gain += d;
            }
            self.loss /= pf;
            self.gain /= pf;
        } else {
            let pm1 = (self.period - 1) as f64;
            (self.gain, self.loss) = wilder(self.gain, self.loss, d, pm1, 1.0 / pf);
        }
        Some(rsi_value(self.gain, self.loss))
    }

    fn lookback(&self) -> usize {
        self.period
    }

    fn reset(&mut self) {
        *self = Self {
            period: self.period,
            talib_order: self.talib_order,
            seen: 0,
            prev: 0.0,
            gain: 0.0,
            loss: 0.0,
        };
    }
}

// ---- MOM and ROC ----

/// Momentum (TA-Lib `MOM`, default period 10): the change over `period` bars.
pub fn mom(input: &[f64], period_: usize, out: &mut [f64]) -> Result<(), TaError> {
    let p = period("MOM", "period", period_, 1)?;
    same_len("MOM", input.len(), &[out.len()])?;
    if warm_up(out, p) {
        let n = input.len();
        // Eight at a time: the loop the compiler turns into the widest vector code.
        let (now, then) = (&input[p..], &input[..n - p]);
        let mut outs = out[p..].chunks_exact_mut(8);
        let mut nows = now.chunks_exact(8);
        let mut thens = then.chunks_exact(8);
        for ((o, a), b) in (&mut outs).zip(&mut nows).zip(&mut thens) {
            for j in 0..8 {
                o[j] = a[j] - b[j];
            }
        }
        for ((o, &a), &b) in outs
            .into_remainder()
            .iter_mut()
            .zip(nows.remainder())
            .zip(thens.remainder())
        {
            *o = a - b;
        }
    }
    Ok(())
}

#[inline]
fn roc_value(x: f64, before: f64) -> f64 {
    // Computed before the test, so that the loop has no branch and vectorises.
    let r = ((x / before) - 1.0) * 100.0;
    if before != 0.0 { r } else { 0.0 }
}

/// Rate of change in percent (TA-Lib `ROC`, default period 10); 0 after a zero price.
pub fn roc(input: &[f64], period_: usize, out: &mut [f64]) -> Result<(), TaError> {
    let p = period("ROC", "period", period_, 1)?;
    same_len("ROC", input.len(), &[out.len()])?;
    if warm_up(out, p) {
        for ((o, &x), &before) in out[p..].iter_mut().zip(&input[p..]).zip(input) {
            *o = roc_value(x, before);
        }
    }
    Ok(())
}

/// The value `period` inputs back, once there is one.
#[derive(Debug, Clone)]
struct Lag {
    period: usize,
    window: Ring,
}

impl Lag {
    fn new(p: usize) -> Self {
        Self {
            period: p,
            window: Ring::new(p),
        }
    }

    #[inline]
    fn push(&mut self, x: f64) -> Option<f64> {
        self.window.push(x)
    }
}

/// Streaming [`mom`].
#[derive(Debug, Clone)]
pub struct Mom(Lag);

impl Mom {
    pub fn new(period_: usize) -> Result<Self, TaError> {
        Ok(Self(Lag::new(period("MOM", "period", period_, 1)?)))
    }
}

impl Indicator for Mom {
    type Input = f64;
    type Output = f64;

    fn update(&mut self, x: f64) -> Option<f64> {
        self.0.push(x).map(|before| x - before)
    }

    fn lookback(&self) -> usize {
        self.0.period
    }

    fn reset(&mut self) {
        self.0.window.clear();
    }
}

/// Streaming [`roc`].
#[derive(Debug, Clone)]
pub struct Roc(Lag);

impl Roc {
    pub fn new(period_: usize) -> Result<Self, TaError> {
        Ok(Self(Lag::new(period("ROC", "period", period_, 1)?)))
    }
}

impl Indicator for Roc {
    type Input = f64;
    type Output = f64;

    fn update(&mut self, x: f64) -> Option<f64> {
        self.0.push(x).map(|before| roc_value(x, before))
    }

    fn lookback(&self) -> usize {
        self.0.period
    }

    fn reset(&mut self) {
        self.0.window.clear();
    }
}
