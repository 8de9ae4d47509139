//! Position in the recent range: STOCH, STOCHRSI, WILLR and AROON, with TA-Lib's tracking of
//! the window's highest and lowest (the latest bar wins a tie).

use crate::ma::{Sma, sma_core};
use crate::momentum::{Rsi, rsi_into};
use crate::util::{Ring, period, same_len, warm_up};
use crate::{Bar, Indicator, TaError};

/// The highest high and lowest low of the last `window` bars, and how many bars ago each was.
#[derive(Debug, Clone)]
struct Extremes {
    highs: Ring,
    lows: Ring,
    /// Bars since the first.
    today: usize,
    highest: (f64, usize),
    lowest: (f64, usize),
    tracking: bool,
}

impl Extremes {
    fn new(window: usize) -> Self {
        Self {
            highs: Ring::new(window),
            lows: Ring::new(window),
            today: 0,
            highest: (0.0, 0),
            lowest: (0.0, 0),
            tracking: false,
        }
    }

    /// Takes a bar; `Some((highest, lowest))` once the window is full.
    #[inline]
    fn push(&mut self, high: f64, low: f64) -> Option<((f64, usize), (f64, usize))> {
        let today = self.today;
        self.today += 1;
        self.highs.push(high);
        self.lows.push(low);
        if !self.highs.is_full() {
            return None;
        }
        let trailing = self.today - self.highs.slots().len();
        if !self.tracking || self.lowest.1 < trailing {
            self.lowest = rescan(&self.lows, trailing, |v, best| v <= best);
        } else if low <= self.lowest.0 {
            self.lowest = (low, today);
        }
        if !self.tracking || self.highest.1 < trailing {
            self.highest = rescan(&self.highs, trailing, |v, best| v >= best);
        } else if high >= self.highest.0 {
            self.highest = (high, today);
        }
        self.tracking = true;
        Some((self.highest, self.lowest))
    }

    fn reset(&mut self) {
        self.highs.clear();
        self.lows.clear();
        self.today = 0;
        self.tracking = false;
    }
}

/// The extreme of a full window whose oldest value is bar `trailing`; a later equal value wins.
#[inline]
fn rescan(window: &Ring, trailing: usize, better: impl Fn(f64, f64) -> bool) -> (f64, usize) {
    let mut values = window.iter();
    let mut best = (values.next().unwrap_or(f64::NAN), trailing);
    for (k, v) in values.enumerate() {
        if better(v, best.0) {
            best = (v, trailing + 1 + k);
        }
    }
    best
}

/// TA-Lib's tracking over slices: calls `f(bar, highest, lowest)` for every bar from
/// `window − 1` on with the highest high and lowest low (and where they are) of the `window`
/// bars ending there; a later equal value wins.
#[inline(always)]
fn for_each_window(high: &[f64], low: &[f64], window: usize, mut f: impl FnMut(usize, (f64, usize), (f64, usize))) {
    let (mut highest, mut lowest) = ((0.0, 0), (0.0, 0));
    for today in window.saturating_sub(1)..high.len() {
        let trailing = today + 1 - window;
        if today + 1 == window || lowest.1 < trailing {
            lowest = rescan_slice(&low[trailing..=today], trailing, |v, best| v <= best);
        } else if low[today] <= lowest.0 {
            lowest = (low[today], today);
        }
        if today + 1 == window || highest.1 < trailing {
            highest = rescan_slice(&high[trailing..=today], trailing, |v, best| v >= best);
        } else if high[today] >= highest.0 {
            highest = (high[today], today);
        }
        f(today, highest, lowest);
    }
}

#[inline(always)]
fn rescan_slice(values: &[f64], offset: usize, better: impl Fn(f64, f64) -> bool) -> (f64, usize) {
    let mut best = (values[0], offset);
    for (k, &v) in values.iter().enumerate().skip(1) {
        if better(v, best.0) {
            best = (v, offset + k);
        }
    }
    best
}

/// Windows up to this long are scanned whole for their extremes (a few vector-friendly
/// comparisons); longer ones are tracked as TA-Lib does.
const SCAN_WINDOW: usize = 32;

/// Calls `f(bar, highest, lowest)` for every bar from `window − 1` on with the highest high and
/// lowest low of the `window` bars ending there: the values TA-Lib's tracking finds, without
/// where they are.
#[inline(always)]
fn for_each_range(high: &[f64], low: &[f64], window: usize, mut f: impl FnMut(usize, f64, f64)) {
    if window > SCAN_WINDOW {
        for_each_window(high, low, window, |i, (h, _), (l, _)| f(i, h, l));
        return;
    }
    for today in window.saturating_sub(1)..high.len() {
        let from = today + 1 - window;
        let (h, l) = extremes(&high[from..=today], &low[from..=today]);
        f(today, h, l);
    }
}

/// The largest of `high` and the smallest of `low` (neither holds NaN), in four lanes.
#[inline(always)]
fn extremes(high: &[f64], low: &[f64]) -> (f64, f64) {
    let (mut hi, mut lo) = ([f64::NEG_INFINITY; 4], [f64::INFINITY; 4]);
    let (hc, lc) = (high.chunks_exact(4), low.chunks_exact(4));
    let (hr, lr) = (hc.remainder(), lc.remainder());
    for (h, l) in hc.zip(lc) {
        for j in 0..4 {
            hi[j] = if h[j] > hi[j] { h[j] } else { hi[j] };
            lo[j] = if l[j] < lo[j] { l[j] } else { lo[j] };
        }
    }
    for (j, (&h, &l)) in hr.iter().zip(lr).enumerate() {
        hi[j] = if h > hi[j] { h } else { hi[j] };
        lo[j] = if l < lo[j] { l } else { lo[j] };
    }
    let max = |a: f64, b: f64| if b > a { b } else { a };
    let min = |a: f64, b: f64| if b < a { b } else { a };
    (
        max(max(hi[0], hi[1]), max(hi[2], hi[3])),
        min(min(lo[0], lo[1]), min(lo[2], lo[3])),
    )
}

/// Fast %K: where the close sits in the range, in percent.
#[inline]
fn fast_k_value(close: f64, highest: f64, lowest: f64) -> f64 {
    let diff = (highest - lowest) / 100.0;
    if diff != 0.0 { (close - lowest) / diff } else { 0.0 }
}

// ---- STOCH ----

/// %K and %D of one bar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StochValue {
    pub k: f64,
    pub d: f64,
}

pub fn stoch_lookback(fast_k: usize, slow_k: usize, slow_d: usize) -> usize {
    fast_k.saturating_sub(1) + slow_k.saturating_sub(1) + slow_d.saturating_sub(1)
}

/// Slow stochastic (TA-Lib `STOCH` with SMA smoothing; defaults fast %K 5, slow %K 3, slow %D 3).
#[allow(clippy::too_many_arguments)]
pub fn stoch(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    fast_k: usize,
    slow_k: usize,
    slow_d: usize,
    k_out: &mut [f64],
    d_out: &mut [f64],
) -> Result<(), TaError> {
    same_len("STOCH", close.len(), &[high.len(), low.len(), k_out.len(), d_out.len()])?;
    let ind = Stoch::new(fast_k, slow_k, slow_d)?;
    let (fk, sk, sd) = ind.periods;
    let lookback = ind.lookback();
    let any = warm_up(k_out, lookback);
    warm_up(d_out, lookback);
    if !any {
        return Ok(());
    }
    // Raw %K into the %D output, its SMA (slow %K) into the %K output, and that one's SMA (slow
    // %D) back into the %D output: the same sums as the streaming form's.
    for_each_range(high, low, fk, |i, highest, lowest| {
        d_out[i] = fast_k_value(close[i], highest, lowest);
    });
    sma_core(&d_out[fk - 1..], sk, &mut k_out[fk + sk - 2..]);
    sma_core(&k_out[fk + sk - 2..], sd, &mut d_out[lookback..]);
    k_out[..lookback].fill(f64::NAN);
    d_out[..lookback].fill(f64::NAN);
    Ok(())
}

/// Streaming [`stoch`].
#[derive(Debug, Clone)]
pub struct Stoch {
    extremes: Extremes,
    slow_k: Sma,
    slow_d: Sma,
    periods: (usize, usize, usize),
}

impl Stoch {
    pub fn new(fast_k: usize, slow_k: usize, slow_d: usize) -> Result<Self, TaError> {
        let fast_k = period("STOCH", "fast %K period", fast_k, 1)?;
        let slow_k = period("STOCH", "slow %K period", slow_k, 1)?;
        let slow_d = period("STOCH", "slow %D period", slow_d, 1)?;
        Ok(Self {
            extremes: Extremes::new(fast_k),
            slow_k: Sma::smoothing(slow_k)?,
            slow_d: Sma::smoothing(slow_d)?,
            periods: (fast_k, slow_k, slow_d),
        })
    }
}

impl Indicator for Stoch {
    type Input = Bar;
    type Output = StochValue;

    #[inline]
    fn update(&mut self, b: Bar) -> Option<StochValue> {
        let ((highest, _), (lowest, _)) = self.extremes.push(b.high, b.low)?;
        let k = self.slow_k.update(fast_k_value(b.close, highest, lowest))?;
        let d = self.slow_d.update(k)?;
        Some(StochValue { k, d })
    }

    fn lookback(&self) -> usize {
        stoch_lookback(self.periods.0, self.periods.1, self.periods.2)
    }

    fn reset(&mut self) {
        self.extremes.reset();
        self.slow_k.reset();
        self.slow_d.reset();
    }
}

// ---- STOCHRSI ----

pub fn stochrsi_lookback(period: usize, fast_k: usize, fast_d: usize) -> usize {
    period + fast_k.saturating_sub(1) + fast_d.saturating_sub(1)
}

/// Stochastic RSI (TA-Lib `STOCHRSI` with SMA smoothing; defaults period 14, fast %K 5, fast %D
/// 3): the fast stochastic of the RSI.
#[allow(clippy::too_many_arguments)]
pub fn stochrsi(
    input: &[f64],
    period_: usize,
    fast_k: usize,
    fast_d: usize,
    k_out: &mut [f64],
    d_out: &mut [f64],
) -> Result<(), TaError> {
    same_len("STOCHRSI", input.len(), &[k_out.len(), d_out.len()])?;
    let ind = StochRsi::new(period_, fast_k, fast_d)?;
    let (p, fk, fd) = ind.periods;
    let lookback = ind.lookback();
    let any = warm_up(k_out, lookback);
    warm_up(d_out, lookback);
    if !any {
        return Ok(());
    }
    // RSI into the %D output, its fast %K into the %K output, the %K's SMA back into %D.
    rsi_into(input, p, true, d_out);
    let rsi = &d_out[p..];
    for_each_range(rsi, rsi, fk, |i, highest, lowest| {
        k_out[p + i] = fast_k_value(rsi[i], highest, lowest);
    });
    sma_core(&k_out[p + fk - 1..], fd, &mut d_out[lookback..]);
    k_out[..lookback].fill(f64::NAN);
    d_out[..lookback].fill(f64::NAN);
    Ok(())
}

/// Streaming [`stochrsi`].
#[derive(Debug, Clone)]
pub struct StochRsi {
    rsi: Rsi,
    extremes: Extremes,
    fast_d: Sma,
    periods: (usize, usize, usize),
}

impl StochRsi {
    pub fn new(period_: usize, fast_k: usize, fast_d: usize) -> Result<Self, TaError> {
        let p = period("STOCHRSI", "period", period_, 2)?;
        let fast_k = period("STOCHRSI", "fast %K period", fast_k, 1)?;
        let fast_d = period("STOCHRSI", "fast %D period", fast_d, 1)?;
        Ok(Self {
            rsi: Rsi::talib_order(p)?,
            extremes: Extremes::new(fast_k),
            fast_d: Sma::smoothing(fast_d)?,
            periods: (p, fast_k, fast_d),
        })
    }
}

impl Indicator for StochRsi {
    type Input = f64;
    type Output = StochValue;

    #[inline]
    fn update(&mut self, x: f64) -> Option<StochValue> {
        let r = self.rsi.update(x)?;
        let ((highest, _), (lowest, _)) = self.extremes.push(r, r)?;
        let k = fast_k_value(r, highest, lowest);
        let d = self.fast_d.update(k)?;
        Some(StochValue { k, d })
    }

    fn lookback(&self) -> usize {
        stochrsi_lookback(self.periods.0, self.periods.1, self.periods.2)
    }

    fn reset(&mut self) {
        self.rsi.reset();
        self.extremes.reset();
        self.fast_d.reset();
    }
}

// ---- WILLR ----

/// Williams' %R (TA-Lib `WILLR`, default period 14), from 0 (at the high) to −100.
pub fn willr(high: &[f64], low: &[f64], close: &[f64], period_: usize, out: &mut [f64]) -> Result<(), TaError> {
    same_len("WILLR", close.len(), &[high.len(), low.len(), out.len()])?;
    let p = period("WILLR", "period", period_, 2)?;
    if warm_up(out, p - 1) {
        for_each_range(high, low, p, |i, highest, lowest| {
            out[i] = willr_value(close[i], highest, lowest);
        });
    }
    Ok(())
}

#[inline(always)]
fn willr_value(close: f64, highest: f64, lowest: f64) -> f64 {
    let diff = (highest - lowest) / (-100.0);
    if diff != 0.0 { (highest - close) / diff } else { 0.0 }
}

/// Streaming [`willr`].
#[derive(Debug, Clone)]
pub struct WillR {
    period: usize,
    extremes: Extremes,
}

impl WillR {
    pub fn new(period_: usize) -> Result<Self, TaError> {
        let p = period("WILLR", "period", period_, 2)?;
        Ok(Self {
            period: p,
            extremes: Extremes::new(p),
        })
    }
}

impl Indicator for WillR {
    type Input = Bar;
    type Output = f64;

    #[inline]
    fn update(&mut self, b: Bar) -> Option<f64> {
        let ((highest, _), (lowest, _)) = self.extremes.push(b.high, b.low)?;
        Some(willr_value(b.close, highest, lowest))
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }

    fn reset(&mut self) {
        self.extremes.reset();
    }
}

// ---- AROON ----

/// Aroon down and up of one bar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AroonValue {
    pub down: f64,
    pub up: f64,
}

/// Aroon (TA-Lib `AROON`, default period 14): how recent the highest high (up) and lowest low
/// (down) of the last `period + 1` bars are, in percent.
pub fn aroon(high: &[f64], low: &[f64], period_: usize, down: &mut [f64], up: &mut [f64]) -> Result<(), TaError> {
    same_len("AROON", high.len(), &[low.len(), down.len(), up.len()])?;
    let p = period("AROON", "period", period_, 2)?;
    let any = warm_up(up, p);
    warm_up(down, p);
    if any {
        let factor = 100.0 / p as f64;
        for_each_window(high, low, p + 1, |i, (_, high_at), (_, low_at)| {
            down[i] = aroon_value(factor, p, i - low_at);
            up[i] = aroon_value(factor, p, i - high_at);
        });
    }
    Ok(())
}

#[inline(always)]
fn aroon_value(factor: f64, p: usize, age: usize) -> f64 {
    factor * (p as i64 - age as i64) as f64
}

/// Streaming [`aroon`].
#[derive(Debug, Clone)]
pub struct Aroon {
    period: usize,
    extremes: Extremes,
}

impl Aroon {
    pub fn new(period_: usize) -> Result<Self, TaError> {
        let p = period("AROON", "period", period_, 2)?;
        Ok(Self {
            period: p,
            extremes: Extremes::new(p + 1),
        })
    }
}

impl Indicator for Aroon {
    type Input = Bar;
    type Output = AroonValue;

    #[inline]
    fn update(&mut self, b: Bar) -> Option<AroonValue> {
        let today = self.extremes.today;
        let ((_, high_at), (_, low_at)) = self.extremes.push(b.high, b.low)?;
        let factor = 100.0 / self.period as f64;
        Some(AroonValue {
            down: aroon_value(factor, self.period, today - low_at),
            up: aroon_value(factor, self.period, today - high_at),
        })
    }

    fn lookback(&self) -> usize {
        self.period
    }

    fn reset(&mut self) {
        self.extremes.reset();
    }
}
