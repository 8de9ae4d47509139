//! Moving averages: SMA, EMA, WMA, DEMA and TEMA, as TA-Lib computes them (an EMA starts from the
//! SMA of its first period; DEMA and TEMA chain EMAs of EMAs).

use crate::util::{Ring, period, same_len, warm_up};
use crate::{Indicator, TaError};

// ---- SMA ----

pub fn sma_lookback(period: usize) -> usize {
    period.saturating_sub(1)
}

/// Simple moving average (TA-Lib `SMA`, default period 30).
pub fn sma(input: &[f64], period_: usize, out: &mut [f64]) -> Result<(), TaError> {
    let p = period("SMA", "period", period_, 2)?;
    same_len("SMA", input.len(), &[out.len()])?;
    if warm_up(out, p - 1) {
        let pf = p as f64;
        let mut total = 0.0;
        for &x in &input[..p] {
            total += x;
        }
        out[p - 1] = total / pf;
        for ((o, &x), &leaving) in out[p..].iter_mut().zip(&input[p..]).zip(input) {
            total += x - leaving;
            *o = total / pf;
        }
    }
    Ok(())
}

/// The SMA of every full window of `input`, into `out` (`input.len() - p + 1` values), with
/// TA-Lib's own running sum: STOCH and STOCHRSI smooth values that sit at exactly 0 or 100,
/// where a sum rounded another way leaves a residue of 1e-14 that TA-Lib does not have.
#[inline]
pub(crate) fn sma_core(input: &[f64], p: usize, out: &mut [f64]) {
    let pf = p as f64;
    let mut total = 0.0;
    for &x in &input[..p - 1] {
        total += x;
    }
    for ((o, &x), &trailing) in out.iter_mut().zip(&input[p - 1..]).zip(input) {
        total += x;
        let t = total;
        total -= trailing;
        *o = t / pf;
    }
}

/// Streaming [`sma`].
///
/// The window's sum moves by (new − leaving) each bar: one addition on the chain of dependent
/// steps where TA-Lib's running sum has two (about twice as fast in batch); the sums differ from
/// TA-Lib's by rounding only, far inside the 1e-9 tolerance for prices.
#[derive(Debug, Clone)]
pub struct Sma {
    period: usize,
    window: Ring,
    total: f64,
    /// TA-Lib's own running sum, as [`sma_core`].
    talib_order: bool,
}

impl Sma {
    pub fn new(period_: usize) -> Result<Self, TaError> {
        Self::build(period_, 2, false)
    }

    /// The smoothing of STOCH and STOCHRSI: TA-Lib's running sum, and period 1 allowed.
    pub(crate) fn smoothing(period_: usize) -> Result<Self, TaError> {
        Self::build(period_, 1, true)
    }

    fn build(period_: usize, min: usize, talib_order: bool) -> Result<Self, TaError> {
        let p = period("SMA", "period", period_, min)?;
        Ok(Self {
            period: p,
            window: Ring::new(p),
            total: 0.0,
            talib_order,
        })
    }
}

impl Indicator for Sma {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        let pf = self.period as f64;
        if self.talib_order {
            self.total += x;
            self.window.push(x);
            if !self.window.is_full() {
                return None;
            }
            let t = self.total;
            self.total -= self.window.oldest();
            return Some(t / pf);
        }
        match self.window.push(x) {
            Some(leaving) => self.total += x - leaving,
            None => {
                self.total += x;
                if !self.window.is_full() {
                    return None;
                }
            }
        }
        Some(self.total / pf)
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }

    fn reset(&mut self) {
        self.window.clear();
        self.total = 0.0;
    }
}

// ---- EMA ----

pub fn ema_lookback(period: usize) -> usize {
    period.saturating_sub(1)
}

/// TA-Lib's smoothing factor of a period: 2 / (period + 1).
#[inline]
pub(crate) fn per_to_k(period: usize) -> f64 {
    2.0 / ((period + 1) as f64)
}

/// Exponential moving average (TA-Lib `EMA`, default period 30): the first value is the SMA of
/// the first `period` inputs.
pub fn ema(input: &[f64], period_: usize, out: &mut [f64]) -> Result<(), TaError> {
    let p = period("EMA", "period", period_, 2)?;
    same_len("EMA", input.len(), &[out.len()])?;
    if warm_up(out, p - 1) {
        let seed = EmaStep::seeded(&input[..p], per_to_k(p));
        out[p - 1] = seed.value;
        let mut ema = BlockedEma::new(seed.k, seed.value);
        for (o, &x) in out[p..].iter_mut().zip(&input[p..]) {
            *o = ema.step(x);
        }
    }
    Ok(())
}

/// The EMA recurrence e = e + k·(x − e), regrouped four inputs at a time so that consecutive
/// values do not wait on each other: with a = 1 − k and the value `base` before a block,
/// e_j = a^j·base + p_j where p_1 = k·x_1 and p_j = a·p_(j−1) + k·x_j. Only every fourth value
/// feeds the next block. The regrouping moves values by a few units in the last place (the
/// tolerance against TA-Lib is 1e-9 relative), and both forms of [`Ema`] use it, so they agree
/// bit for bit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockedEma {
    k: f64,
    a: f64,
    powers: [f64; 4],
    base: f64,
    partial: f64,
    pos: usize,
}

impl BlockedEma {
    pub(crate) fn new(k: f64, value: f64) -> Self {
        let a = 1.0 - k;
        let a2 = a * a;
        Self {
            k,
            a,
            powers: [a, a2, a2 * a, a2 * a2],
            base: value,
            partial: 0.0,
            pos: 0,
        }
    }

    #[inline(always)]
    pub(crate) fn step(&mut self, x: f64) -> f64 {
        self.partial = if self.pos == 0 {
            self.k * x
        } else {
            (self.a * self.partial) + (self.k * x)
        };
        let e = (self.powers[self.pos] * self.base) + self.partial;
        self.pos += 1;
        if self.pos == 4 {
            self.pos = 0;
            self.base = e;
        }
        e
    }
}

/// One EMA's recurrence.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EmaStep {
    pub(crate) k: f64,
    pub(crate) value: f64,
}

impl EmaStep {
    /// Seeded with the mean of `seed`, summed in order as TA-Lib does.
    #[inline]
    pub(crate) fn seeded(seed: &[f64], k: f64) -> Self {
        let mut total = 0.0;
        for &x in seed {
            total += x;
        }
        Self {
            k,
            value: total / seed.len() as f64,
        }
    }

    #[inline]
    pub(crate) fn step(&mut self, x: f64) -> f64 {
        self.value = ((x - self.value) * self.k) + self.value;
        self.value
    }
}

/// Streaming [`ema`].
#[derive(Debug, Clone)]
pub struct Ema {
    period: usize,
    k: f64,
    seen: usize,
    total: f64,
    blocked: Option<BlockedEma>,
}

impl Ema {
    pub fn new(period_: usize) -> Result<Self, TaError> {
        let p = period("EMA", "period", period_, 2)?;
        Ok(Self::unchecked(p, per_to_k(p)))
    }

    /// Any period of at least 1 with the given factor.
    pub(crate) fn unchecked(p: usize, k: f64) -> Self {
        Self {
            period: p,
            k,
            seen: 0,
            total: 0.0,
            blocked: None,
        }
    }
}

impl Indicator for Ema {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        if let Some(b) = &mut self.blocked {
            return Some(b.step(x));
        }
        self.seen += 1;
        self.total += x;
        if self.seen < self.period {
            return None;
        }
        let value = self.total / self.period as f64;
        self.blocked = Some(BlockedEma::new(self.k, value));
        Some(value)
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }

    fn reset(&mut self) {
        self.seen = 0;
        self.total = 0.0;
        self.blocked = None;
    }
}

// ---- WMA ----

pub fn wma_lookback(period: usize) -> usize {
    period.saturating_sub(1)
}

/// Linearly weighted moving average (TA-Lib `WMA`, default period 30), with TA-Lib's running
/// sums.
pub fn wma(input: &[f64], period_: usize, out: &mut [f64]) -> Result<(), TaError> {
    let p = period("WMA", "period", period_, 2)?;
    same_len("WMA", input.len(), &[out.len()])?;
    if !warm_up(out, p - 1) {
        return Ok(());
    }
    let pf = p as f64;
    let divider = ((p * (p + 1)) >> 1) as f64;
    let (mut sub, mut sum) = (0.0, 0.0);
    for (i, &x) in input[..p - 1].iter().enumerate() {
        sub += x;
        sum += x * (i + 1) as f64;
    }
    let mut trailing_value = 0.0;
    for (k, (o, &x)) in out[p - 1..].iter_mut().zip(&input[p - 1..]).enumerate() {
        (sum, sub, *o) = wma_step(sum, sub, x, trailing_value, pf, divider);
        trailing_value = input[k];
    }
    Ok(())
}

/// One WMA step: TA-Lib's running sums regrouped so that each has one addition on its chain of
/// dependent steps instead of two (about twice as fast); the sums differ from TA-Lib's by
/// rounding only, and [`Wma`] takes the same steps. Returns (sum, sub, value).
#[inline(always)]
fn wma_step(sum: f64, sub: f64, x: f64, leaving: f64, pf: f64, divider: f64) -> (f64, f64, f64) {
    let sub = sub + (x - leaving);
    let weighted = x * pf;
    ((sum + (weighted - sub)), sub, (sum + weighted) / divider)
}

/// Streaming [`wma`].
#[derive(Debug, Clone)]
pub struct Wma {
    period: usize,
    window: Ring,
    sub: f64,
    sum: f64,
    trailing_value: f64,
}

impl Wma {
    pub fn new(period_: usize) -> Result<Self, TaError> {
        let p = period("WMA", "period", period_, 2)?;
        Ok(Self {
            period: p,
            window: Ring::new(p),
            sub: 0.0,
            sum: 0.0,
            trailing_value: 0.0,
        })
    }
}

impl Indicator for Wma {
    type Input = f64;
    type Output = f64;

    fn update(&mut self, x: f64) -> Option<f64> {
        self.window.push(x);
        if !self.window.is_full() {
            self.sub += x;
            self.sum += x * self.window.slots().len() as f64;
            return None;
        }
        let divider = ((self.period * (self.period + 1)) >> 1) as f64;
        let out;
        (self.sum, self.sub, out) = wma_step(self.sum, self.sub, x, self.trailing_value, self.period as f64, divider);
        self.trailing_value = self.window.oldest();
        Some(out)
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }

    fn reset(&mut self) {
        self.window.clear();
        self.sub = 0.0;
        self.sum = 0.0;
        self.trailing_value = 0.0;
    }
}

// ---- DEMA and TEMA ----

pub fn dema_lookback(period: usize) -> usize {
    2 * period.saturating_sub(1)
}

pub fn tema_lookback(period: usize) -> usize {
    3 * period.saturating_sub(1)
}

/// Double EMA (TA-Lib `DEMA`, default period 30): 2·EMA − EMA(EMA).
pub fn dema(input: &[f64], period_: usize, out: &mut [f64]) -> Result<(), TaError> {
    same_len("DEMA", input.len(), &[out.len()])?;
    let mut d = Dema::new(period_)?;
    crate::run(&mut d, input.iter().copied(), out);
    Ok(())
}

/// Streaming [`dema`].
#[derive(Debug, Clone)]
pub struct Dema {
    first: Ema,
    second: Ema,
}

impl Dema {
    pub fn new(period_: usize) -> Result<Self, TaError> {
        let p = period("DEMA", "period", period_, 2)?;
        Ok(Self {
            first: Ema::unchecked(p, per_to_k(p)),
            second: Ema::unchecked(p, per_to_k(p)),
        })
    }
}

impl Indicator for Dema {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        let e1 = self.first.update(x)?;
        let e2 = self.second.update(e1)?;
        Some((2.0 * e1) - e2)
    }

    fn lookback(&self) -> usize {
        2 * (self.first.period - 1)
    }

    fn reset(&mut self) {
        self.first.reset();
        self.second.reset();
    }
}

/// Triple EMA (TA-Lib `TEMA`, default period 30): 3·EMA − 3·EMA(EMA) + EMA(EMA(EMA)).
pub fn tema(input: &[f64], period_: usize, out: &mut [f64]) -> Result<(), TaError> {
    same_len("TEMA", input.len(), &[out.len()])?;
    let mut t = Tema::new(period_)?;
    crate::run(&mut t, input.iter().copied(), out);
    Ok(())
}

/// Streaming [`tema`].
#[derive(Debug, Clone)]
pub struct Tema {
    first: Ema,
    second: Ema,
    third: Ema,
}

impl Tema {
    pub fn new(period_: usize) -> Result<Self, TaError> {
        let p = period("TEMA", "period", period_, 2)?;
        let e = Ema::unchecked(p, per_to_k(p));
        Ok(Self {
            first: e.clone(),
            second: e.clone(),
            third: e,
        })
    }
}

impl Indicator for Tema {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        let e1 = self.first.update(x)?;
        let e2 = self.second.update(e1)?;
        let e3 = self.third.update(e2)?;
        Some(e3 + ((3.0 * e1) - (3.0 * e2)))
    }

    fn lookback(&self) -> usize {
        3 * (self.first.period - 1)
    }

    fn reset(&mut self) {
        self.first.reset();
        self.second.reset();
        self.third.reset();
    }
}
