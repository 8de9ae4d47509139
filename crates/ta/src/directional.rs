//! Wilder's directional movement: +DI, −DI and ADX, in TA-Lib's steps (sums over the first
//! `period − 1` bars, then Wilder's smoothing; ADX starts as the mean of the first `period` DX).

use crate::range::true_range;
use crate::util::{is_zero, period, same_len, warm_up};
use crate::{Bar, Indicator, TaError, bars, run};

/// Smoothed +DM, −DM and true range.
#[derive(Debug, Clone)]
struct Movement {
    period: usize,
    seen: usize,
    prev: Bar,
    plus_dm: f64,
    minus_dm: f64,
    tr: f64,
}

/// This bar's directional moves: (+, −), each 0 unless it is the larger and positive.
#[inline]
fn moves(prev: &Bar, b: &Bar) -> (f64, f64) {
    moves_of(prev.high, prev.low, b.high, b.low)
}

#[inline(always)]
fn moves_of(prev_high: f64, prev_low: f64, high: f64, low: f64) -> (f64, f64) {
    let up = high - prev_high;
    let down = prev_low - low;
    // Selects rather than branches: which move wins is a coin toss on real prices, and
    // mispredicted branches cost more than the arithmetic.
    let plus = if up > 0.0 && up > down { up } else { 0.0 };
    let minus = if down > 0.0 && up < down { down } else { 0.0 };
    (plus, minus)
}

impl Movement {
    fn new(p: usize) -> Self {
        Self {
            period: p,
            seen: 0,
            prev: Bar::default(),
            plus_dm: 0.0,
            minus_dm: 0.0,
            tr: 0.0,
        }
    }

    /// `Some((+DM, −DM, TR))` from bar `period` on.
    #[inline]
    fn update(&mut self, b: Bar) -> Option<(f64, f64, f64)> {
        self.seen += 1;
        if self.seen == 1 {
            self.prev = b;
            return None;
        }
        let (up, down) = moves(&self.prev, &b);
        let tr = true_range(b.high, b.low, self.prev.close);
        self.prev = b;
        if self.seen < self.period + 1 {
            self.plus_dm += up;
            self.minus_dm += down;
            self.tr += tr;
            return None;
        }
        let decay = decay(self.period);
        self.plus_dm = wilder(self.plus_dm, decay, up);
        self.minus_dm = wilder(self.minus_dm, decay, down);
        self.tr = wilder(self.tr, decay, tr);
        Some((self.plus_dm, self.minus_dm, self.tr))
    }

    fn reset(&mut self) {
        *self = Self::new(self.period);
    }
}

/// What Wilder's smoothing keeps of the previous value: 1 − 1/period.
#[inline(always)]
fn decay(period: usize) -> f64 {
    1.0 - 1.0 / period as f64
}

/// Wilder's smoothing step, TA-Lib's `v − v/period + x` as `v·(1 − 1/period) + x`: one multiply
/// instead of a division on the chain of dependent steps (about twice as fast); values move by
/// a unit or two in the last place, well inside the 1e-9 tolerance, and both forms use it.
#[inline(always)]
fn wilder(v: f64, decay: f64, x: f64) -> f64 {
    (v * decay) + x
}

#[inline]
fn di(dm: f64, tr: f64) -> f64 {
    if is_zero(tr) { 0.0 } else { 100.0 * (dm / tr) }
}

/// +DI or −DI.
#[derive(Debug, Clone)]
struct Directional {
    movement: Movement,
    plus: bool,
}

impl Directional {
    #[inline]
    fn update(&mut self, b: Bar) -> Option<f64> {
        if self.movement.period == 1 {
            // TA-Lib's unsmoothed period 1: the move over the true range, not in percent.
            let m = &mut self.movement;
            m.seen += 1;
            let prev = std::mem::replace(&mut m.prev, b);
            if m.seen == 1 {
                return None;
            }
            let (up, down) = moves(&prev, &b);
            let dm = if self.plus { up } else { down };
            if dm == 0.0 {
                return Some(0.0);
            }
            let tr = true_range(b.high, b.low, prev.close);
            return Some(if is_zero(tr) { 0.0 } else { dm / tr });
        }
        let (plus, minus, tr) = self.movement.update(b)?;
        Some(di(if self.plus { plus } else { minus }, tr))
    }
}

/// +DI or −DI of period 2 or more over slices: [`Movement`]'s steps for one side only.
fn di_batch(high: &[f64], low: &[f64], close: &[f64], p: usize, plus: bool, out: &mut [f64]) {
    if !warm_up(out, p) {
        return;
    }
    let decay = decay(p);
    let side = |i: usize| {
        let (up, down) = moves_of(high[i - 1], low[i - 1], high[i], low[i]);
        if plus { up } else { down }
    };
    let (mut dm, mut tr) = (0.0, 0.0);
    for i in 1..p {
        dm += side(i);
        tr += true_range(high[i], low[i], close[i - 1]);
    }
    for i in p..close.len() {
        let m = side(i);
        dm = wilder(dm, decay, m);
        tr = wilder(tr, decay, true_range(high[i], low[i], close[i - 1]));
        out[i] = di(dm, tr);
    }
}

pub fn di_lookback(period: usize) -> usize {
    period.max(1)
}

pub fn adx_lookback(period: usize) -> usize {
    (2 * period).saturating_sub(1)
}

macro_rules! di_indicator {
    ($name:ident, $func:ident, $talib:literal, $plus:literal, $doc:literal) => {
        #[doc = $doc]
        pub fn $func(high: &[f64], low: &[f64], close: &[f64], period_: usize, out: &mut [f64]) -> Result<(), TaError> {
            same_len($talib, close.len(), &[high.len(), low.len(), out.len()])?;
            let mut ind = $name::new(period_)?;
            let p = ind.0.movement.period;
            if p == 1 {
                run(&mut ind, bars(high, low, close, None), out);
            } else {
                di_batch(high, low, close, p, $plus, out);
            }
            Ok(())
        }

        #[doc = concat!("Streaming [`", stringify!($func), "`].")]
        #[derive(Debug, Clone)]
        pub struct $name(Directional);

        impl $name {
            pub fn new(period_: usize) -> Result<Self, TaError> {
                Ok(Self(Directional {
                    movement: Movement::new(period($talib, "period", period_, 1)?),
                    plus: $plus,
                }))
            }
        }

        impl Indicator for $name {
            type Input = Bar;
            type Output = f64;

            fn update(&mut self, b: Bar) -> Option<f64> {
                self.0.update(b)
            }

            fn lookback(&self) -> usize {
                di_lookback(self.0.movement.period)
            }

            fn reset(&mut self) {
                self.0.movement.reset();
            }
        }
    };
}

di_indicator!(
    PlusDi,
    plus_di,
    "PLUS_DI",
    true,
    "Plus directional indicator (TA-Lib `PLUS_DI`, default period 14)."
);
di_indicator!(
    MinusDi,
    minus_di,
    "MINUS_DI",
    false,
    "Minus directional indicator (TA-Lib `MINUS_DI`, default period 14)."
);

/// Average directional index (TA-Lib `ADX`, default period 14).
pub fn adx(high: &[f64], low: &[f64], close: &[f64], period_: usize, out: &mut [f64]) -> Result<(), TaError> {
    same_len("ADX", close.len(), &[high.len(), low.len(), out.len()])?;
    let p = period("ADX", "period", period_, 2)?;
    let lookback = adx_lookback(p);
    if !warm_up(out, lookback) {
        return Ok(());
    }
    // `Movement` and `Adx::update`'s steps over slices.
    let (pf, decay) = (p as f64, decay(p));
    let (mut plus, mut minus, mut tr) = (0.0, 0.0, 0.0);
    for i in 1..p {
        let (up, down) = moves_of(high[i - 1], low[i - 1], high[i], low[i]);
        plus += up;
        minus += down;
        tr += true_range(high[i], low[i], close[i - 1]);
    }
    let mut value = 0.0;
    for i in p..close.len() {
        let (up, down) = moves_of(high[i - 1], low[i - 1], high[i], low[i]);
        plus = wilder(plus, decay, up);
        minus = wilder(minus, decay, down);
        tr = wilder(tr, decay, true_range(high[i], low[i], close[i - 1]));
        let dx = dx(plus, minus, tr);
        if i < lookback {
            value += dx.unwrap_or(0.0);
        } else if i == lookback {
            value += dx.unwrap_or(0.0);
            value /= pf;
            out[i] = value;
        } else {
            if let Some(dx) = dx {
                value = ((value * (p - 1) as f64) + dx) * (1.0 / pf);
            }
            out[i] = value;
        }
    }
    Ok(())
}

/// Streaming [`adx`].
#[derive(Debug, Clone)]
pub struct Adx {
    movement: Movement,
    dx_seen: usize,
    value: f64,
}

impl Adx {
    pub fn new(period_: usize) -> Result<Self, TaError> {
        Ok(Self {
            movement: Movement::new(period("ADX", "period", period_, 2)?),
            dx_seen: 0,
            value: 0.0,
        })
    }
}

/// DX of smoothed moves, `None` where TA-Lib skips the bar (a zero range or zero DI sum).
#[inline]
fn dx(plus: f64, minus: f64, tr: f64) -> Option<f64> {
    if is_zero(tr) {
        return None;
    }
    let (minus_di, plus_di) = (100.0 * (minus / tr), 100.0 * (plus / tr));
    let sum = minus_di + plus_di;
    (!is_zero(sum)).then(|| 100.0 * ((minus_di - plus_di).abs() / sum))
}

impl Indicator for Adx {
    type Input = Bar;
    type Output = f64;

    #[inline]
    fn update(&mut self, b: Bar) -> Option<f64> {
        let (plus, minus, tr) = self.movement.update(b)?;
        let p = self.movement.period;
        let dx = dx(plus, minus, tr);
        if self.dx_seen < p {
            self.dx_seen += 1;
            self.value += dx.unwrap_or(0.0);
            if self.dx_seen < p {
                return None;
            }
            self.value /= p as f64;
        } else if let Some(dx) = dx {
            // As Wilder's step above: TA-Lib's (v·(p − 1) + dx) / p with a multiply.
            self.value = ((self.value * (p - 1) as f64) + dx) * (1.0 / p as f64);
        }
        Some(self.value)
    }

    fn lookback(&self) -> usize {
        adx_lookback(self.movement.period)
    }

    fn reset(&mut self) {
        self.movement.reset();
        self.dx_seen = 0;
        self.value = 0.0;
    }
}
