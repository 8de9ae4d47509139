//! Indicators of the typical price (high + low + close) / 3: CCI and MFI, with TA-Lib's circular
//! buffers (sums run in buffer-slot order, as TA-Lib's do).

use crate::util::{Ring, period, same_len, warm_up};
use crate::{Bar, Indicator, TaError};

#[inline]
fn typical(b: &Bar) -> f64 {
    (b.high + b.low + b.close) / 3.0
}

// ---- CCI ----

/// Commodity channel index (TA-Lib `CCI`, default period 14): the typical price's distance from
/// its mean, over 0.015 times the mean absolute deviation; 0 where either is 0.
pub fn cci(high: &[f64], low: &[f64], close: &[f64], period_: usize, out: &mut [f64]) -> Result<(), TaError> {
    same_len("CCI", close.len(), &[high.len(), low.len(), out.len()])?;
    let p = period("CCI", "period", period_, 2)?;
    if !warm_up(out, p - 1) {
        return Ok(());
    }
    // TA-Lib's circular buffer: bar b sits in slot b % p, and every sum runs over the slots in
    // order. Two consecutive bars are computed together: their windows differ in one slot only,
    // and their two chains of additions overlap instead of waiting on each other.
    let tp = |i: usize| (high[i] + low[i] + close[i]) / 3.0;
    let mut slots = vec![0.0; p];
    for (i, slot) in slots.iter_mut().enumerate().take(p - 1) {
        *slot = tp(i);
    }
    let n = close.len();
    let mut i = p - 1;
    while i < n {
        let (k_a, last_a) = (i % p, tp(i));
        slots[k_a] = last_a;
        if i + 1 == n {
            out[i] = cci_value(&slots, last_a, None).0;
            break;
        }
        let (k_b, last_b) = ((i + 1) % p, tp(i + 1));
        let (a, b) = cci_value(&slots, last_a, Some((k_b, last_b)));
        out[i] = a;
        out[i + 1] = b.unwrap_or(f64::NAN);
        slots[k_b] = last_b;
        i += 2;
    }
    Ok(())
}

/// CCI of the window in `slots` whose newest value is `last`; with `next = (slot, value)`, also
/// that of the window where `slot` holds `value` instead (the next bar's), computed alongside.
#[inline(always)]
fn cci_value(slots: &[f64], last: f64, next: Option<(usize, f64)>) -> (f64, Option<f64>) {
    let pf = slots.len() as f64;
    let (k, v) = next.unwrap_or((usize::MAX, 0.0));
    let other = |s: usize, x: f64| if s == k { v } else { x };
    let (mut mean_a, mut mean_b) = (0.0, 0.0);
    for (s, &x) in slots.iter().enumerate() {
        mean_a += x;
        mean_b += other(s, x);
    }
    mean_a /= pf;
    mean_b /= pf;
    let (mut dev_a, mut dev_b) = (0.0, 0.0);
    for (s, &x) in slots.iter().enumerate() {
        dev_a += (x - mean_a).abs();
        dev_b += (other(s, x) - mean_b).abs();
    }
    let value = |last: f64, mean: f64, dev: f64| {
        let distance = last - mean;
        if distance != 0.0 && dev != 0.0 {
            distance / (0.015 * (dev / pf))
        } else {
            0.0
        }
    };
    (value(last, mean_a, dev_a), next.map(|(_, v)| value(v, mean_b, dev_b)))
}

/// Streaming [`cci`].
#[derive(Debug, Clone)]
pub struct Cci {
    period: usize,
    window: Ring,
}

impl Cci {
    pub fn new(period_: usize) -> Result<Self, TaError> {
        let p = period("CCI", "period", period_, 2)?;
        Ok(Self {
            period: p,
            window: Ring::new(p),
        })
    }
}

impl Indicator for Cci {
    type Input = Bar;
    type Output = f64;

    #[inline]
    fn update(&mut self, b: Bar) -> Option<f64> {
        let last = typical(&b);
        self.window.push(last);
        if !self.window.is_full() {
            return None;
        }
        Some(cci_value(self.window.slots(), last, None).0)
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }

    fn reset(&mut self) {
        self.window.clear();
    }
}

// ---- MFI ----

/// Money flow index (TA-Lib `MFI`, default period 14); 0 while the period's money flow is under 1.
pub fn mfi(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    volume: &[f64],
    period_: usize,
    out: &mut [f64],
) -> Result<(), TaError> {
    same_len("MFI", close.len(), &[high.len(), low.len(), volume.len(), out.len()])?;
    let p = period("MFI", "period", period_, 2)?;
    if !warm_up(out, p) {
        return Ok(());
    }
    // The window's flows, (positive, negative) per bar, in TA-Lib's circular order.
    let mut flows = vec![(0.0, 0.0); p];
    let (mut pos_sum, mut neg_sum) = (0.0, 0.0);
    let tp = |i: usize| (high[i] + low[i] + close[i]) / 3.0;
    let mut prev = tp(0);
    for (i, slot) in (1..=close.len() - 1).zip((0..p).cycle()) {
        let t = tp(i);
        let change = t - prev;
        prev = t;
        let flow = t * volume[i];
        if i > p {
            pos_sum -= flows[slot].0;
            neg_sum -= flows[slot].1;
        }
        let (pos, neg) = split_flow(change, flow);
        pos_sum += pos;
        neg_sum += neg;
        flows[slot] = (pos, neg);
        if i >= p {
            out[i] = mfi_value(pos_sum, neg_sum);
        }
    }
    Ok(())
}

/// A bar's money flow as (positive, negative) by the direction of the typical price. Selects,
/// not branches (the direction is a coin toss); adding a 0 flow to a sum leaves it as it was,
/// so the sums are TA-Lib's.
#[inline(always)]
fn split_flow(change: f64, flow: f64) -> (f64, f64) {
    (
        if change > 0.0 { flow } else { 0.0 },
        if change < 0.0 { flow } else { 0.0 },
    )
}

#[inline(always)]
fn mfi_value(pos_sum: f64, neg_sum: f64) -> f64 {
    let total = pos_sum + neg_sum;
    if total < 1.0 { 0.0 } else { 100.0 * (pos_sum / total) }
}

/// Streaming [`mfi`].
#[derive(Debug, Clone)]
pub struct Mfi {
    period: usize,
    seen: usize,
    prev: f64,
    positive: Ring,
    negative: Ring,
    pos_sum: f64,
    neg_sum: f64,
}

impl Mfi {
    pub fn new(period_: usize) -> Result<Self, TaError> {
        let p = period("MFI", "period", period_, 2)?;
        Ok(Self {
            period: p,
            seen: 0,
            prev: 0.0,
            positive: Ring::new(p),
            negative: Ring::new(p),
            pos_sum: 0.0,
            neg_sum: 0.0,
        })
    }
}

impl Indicator for Mfi {
    type Input = Bar;
    type Output = f64;

    #[inline]
    fn update(&mut self, b: Bar) -> Option<f64> {
        let tp = typical(&b);
        self.seen += 1;
        let change = tp - self.prev;
        self.prev = tp;
        if self.seen == 1 {
            return None;
        }
        let flow = tp * b.volume;
        let (pos, neg) = split_flow(change, flow);
        // Once the buffers are full, the flows of the bar leaving the window come off first.
        if self.positive.is_full() {
            self.pos_sum -= self.positive.oldest();
            self.neg_sum -= self.negative.oldest();
        }
        self.positive.push(pos);
        self.negative.push(neg);
        self.pos_sum += pos;
        self.neg_sum += neg;
        if self.seen <= self.period {
            return None;
        }
        let total = self.pos_sum + self.neg_sum;
        Some(if total < 1.0 {
            0.0
        } else {
            100.0 * (self.pos_sum / total)
        })
    }

    fn lookback(&self) -> usize {
        self.period
    }

    fn reset(&mut self) {
        self.seen = 0;
        self.prev = 0.0;
        self.positive.clear();
        self.negative.clear();
        self.pos_sum = 0.0;
        self.neg_sum = 0.0;
    }
}
