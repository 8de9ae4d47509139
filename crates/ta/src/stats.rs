//! Dispersion: VAR and STDDEV (population, from running sums as TA-Lib keeps them) and Bollinger
//! Bands (an SMA middle band, bands at `k` standard deviations above and below).

use crate::util::{Ring, factor, is_zero_or_neg, period, same_len, warm_up};
use crate::{Indicator, TaError};

/// Running sums of a window and of its squares.
#[derive(Debug, Clone)]
struct Moments {
    period: usize,
    window: Ring,
    total: f64,
    squares: f64,
}

impl Moments {
    fn new(p: usize) -> Self {
        Self {
            period: p,
            window: Ring::new(p),
            total: 0.0,
            squares: 0.0,
        }
    }

    /// Takes `x`; once the window is full, its mean and the sum of its squares (the leaving
    /// value comes off both sums afterwards, as in TA-Lib's loops).
    #[inline]
    fn push(&mut self, x: f64) -> Option<(f64, f64)> {
        self.total += x;
        self.squares += x * x;
        self.window.push(x);
        if !self.window.is_full() {
            return None;
        }
        let mean = self.total / self.period as f64;
        let squares = self.squares;
        let t = self.window.oldest();
        self.total -= t;
        self.squares -= t * t;
        Some((mean, squares))
    }

    /// The variance of the window ending at `x`, once full.
    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        let (mean, squares) = self.push(x)?;
        Some((squares / self.period as f64) - (mean * mean))
    }

    fn reset(&mut self) {
        self.window.clear();
        self.total = 0.0;
        self.squares = 0.0;
    }
}

#[inline]
fn var_core(input: &[f64], p: usize, out: &mut [f64]) {
    let pf = p as f64;
    let (mut total, mut squares) = (0.0, 0.0);
    for &x in &input[..p - 1] {
        total += x;
        squares += x * x;
    }
    for ((o, &x), &t) in out.iter_mut().zip(&input[p - 1..]).zip(input) {
        total += x;
        squares += x * x;
        let mean = total / pf;
        let mean_sq = squares / pf;
        total -= t;
        squares -= t * t;
        *o = mean_sq - (mean * mean);
    }
}

#[inline]
fn deviation(var: f64, k: f64) -> f64 {
    if is_zero_or_neg(var) { 0.0 } else { var.sqrt() * k }
}

/// Population variance over `period` bars (TA-Lib `VAR`, default period 5).
pub fn var(input: &[f64], period_: usize, out: &mut [f64]) -> Result<(), TaError> {
    let p = period("VAR", "period", period_, 1)?;
    same_len("VAR", input.len(), &[out.len()])?;
    if warm_up(out, p - 1) {
        var_core(input, p, &mut out[p - 1..]);
    }
    Ok(())
}

/// `k` population standard deviations over `period` bars (TA-Lib `STDDEV`, defaults 5 and 1); 0
/// where the variance is under 1e-8.
pub fn stddev(input: &[f64], period_: usize, k: f64, out: &mut [f64]) -> Result<(), TaError> {
    let p = period("STDDEV", "period", period_, 2)?;
    let k = factor("STDDEV", "k", k)?;
    same_len("STDDEV", input.len(), &[out.len()])?;
    if warm_up(out, p - 1) {
        let out = &mut out[p - 1..];
        var_core(input, p, out);
        for v in out {
            *v = deviation(*v, k);
        }
    }
    Ok(())
}

/// Streaming [`var`].
#[derive(Debug, Clone)]
pub struct Var(Moments);

impl Var {
    pub fn new(period_: usize) -> Result<Self, TaError> {
        Ok(Self(Moments::new(period("VAR", "period", period_, 1)?)))
    }
}

impl Indicator for Var {
    type Input = f64;
    type Output = f64;

    fn update(&mut self, x: f64) -> Option<f64> {
        self.0.update(x)
    }

    fn lookback(&self) -> usize {
        self.0.period - 1
    }

    fn reset(&mut self) {
        self.0.reset();
    }
}

/// Streaming [`stddev`].
#[derive(Debug, Clone)]
pub struct StdDev {
    moments: Moments,
    k: f64,
}

impl StdDev {
    pub fn new(period_: usize, k: f64) -> Result<Self, TaError> {
        Ok(Self {
            moments: Moments::new(period("STDDEV", "period", period_, 2)?),
            k: factor("STDDEV", "k", k)?,
        })
    }
}

impl Indicator for StdDev {
    type Input = f64;
    type Output = f64;

    fn update(&mut self, x: f64) -> Option<f64> {
        self.moments.update(x).map(|v| deviation(v, self.k))
    }

    fn lookback(&self) -> usize {
        self.moments.period - 1
    }

    fn reset(&mut self) {
        self.moments.reset();
    }
}

// ---- Bollinger Bands ----

/// One bar's Bollinger Bands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bands {
    pub upper: f64,
    pub middle: f64,
    pub lower: f64,
}

/// The bands of a window's SMA `middle`, the window's sum of squares `squares` already including
/// the newest value (TA-Lib's `stddev_using_precalc_ma`).
#[inline]
fn bands(middle: f64, squares: f64, pf: f64, up: f64, down: f64) -> (f64, f64, f64) {
    let var = (squares / pf) - (middle * middle);
    let sd = if is_zero_or_neg(var) { 0.0 } else { var.sqrt() };
    (middle + (sd * up), middle, middle - (sd * down))
}

/// Bollinger Bands over an SMA (TA-Lib `BBANDS` with its default moving average; defaults
/// period 5, 2 deviations up and down).
pub fn bbands(
    input: &[f64],
    period_: usize,
    up: f64,
    down: f64,
    upper: &mut [f64],
    middle: &mut [f64],
    lower: &mut [f64],
) -> Result<(), TaError> {
    let p = period("BBANDS", "period", period_, 2)?;
    let (up, down) = (factor("BBANDS", "up", up)?, factor("BBANDS", "down", down)?);
    same_len("BBANDS", input.len(), &[upper.len(), middle.len(), lower.len()])?;
    let any = warm_up(upper, p - 1);
    warm_up(middle, p - 1);
    warm_up(lower, p - 1);
    if !any {
        return Ok(());
    }
    let pf = p as f64;
    let (mut total, mut squares) = (0.0, 0.0);
    for &x in &input[..p - 1] {
        total += x;
        squares += x * x;
    }
    for i in p - 1..input.len() {
        let x = input[i];
        let t = input[i + 1 - p];
        total += x;
        let mean = total / pf;
        total -= t;
        squares += x * x;
        let (u, m, l) = bands(mean, squares, pf, up, down);
        squares -= t * t;
        upper[i] = u;
        middle[i] = m;
        lower[i] = l;
    }
    Ok(())
}

/// Streaming [`bbands`].
#[derive(Debug, Clone)]
pub struct Bbands {
    moments: Moments,
    up: f64,
    down: f64,
}

impl Bbands {
    pub fn new(period_: usize, up: f64, down: f64) -> Result<Self, TaError> {
        Ok(Self {
            moments: Moments::new(period("BBANDS", "period", period_, 2)?),
            up: factor("BBANDS", "up", up)?,
            down: factor("BBANDS", "down", down)?,
        })
    }
}

impl Indicator for Bbands {
    type Input = f64;
    type Output = Bands;

    fn update(&mut self, x: f64) -> Option<Bands> {
        let (mean, squares) = self.moments.push(x)?;
        let (upper, middle, lower) = bands(mean, squares, self.moments.period as f64, self.up, self.down);
        Some(Bands { upper, middle, lower })
    }

    fn lookback(&self) -> usize {
        self.moments.period - 1
    }

    fn reset(&mut self) {
        self.moments.reset();
    }
}
