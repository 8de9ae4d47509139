//! MACD: the fast EMA minus the slow EMA, its EMA (the signal line) and their difference, as
//! TA-Lib computes them: the fast EMA is seeded where the slow one is, from the mean of the
//! `fast` inputs ending there, and periods given the wrong way round are swapped.

use crate::ma::{EmaStep, per_to_k};
use crate::util::{Ring, period, same_len, warm_up};
use crate::{Indicator, TaError};

/// One bar's MACD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MacdValue {
    pub macd: f64,
    pub signal: f64,
    pub hist: f64,
}

fn periods(fast: usize, slow: usize, signal: usize) -> Result<(usize, usize, usize), TaError> {
    let fast = period("MACD", "fast period", fast, 2)?;
    let slow = period("MACD", "slow period", slow, 2)?;
    let signal = period("MACD", "signal period", signal, 1)?;
    Ok(if slow < fast {
        (slow, fast, signal)
    } else {
        (fast, slow, signal)
    })
}

pub fn macd_lookback(fast: usize, slow: usize, signal: usize) -> usize {
    fast.max(slow).saturating_sub(1) + signal.saturating_sub(1)
}

/// MACD (TA-Lib `MACD`, defaults 12, 26, 9), into three outputs.
#[allow(clippy::too_many_arguments)]
pub fn macd(
    input: &[f64],
    fast: usize,
    slow: usize,
    signal: usize,
    macd_out: &mut [f64],
    signal_out: &mut [f64],
    hist_out: &mut [f64],
) -> Result<(), TaError> {
    let (fast, slow, signal) = periods(fast, slow, signal)?;
    same_len("MACD", input.len(), &[macd_out.len(), signal_out.len(), hist_out.len()])?;
    let lookback = (slow - 1) + (signal - 1);
    let any = warm_up(macd_out, lookback);
    warm_up(signal_out, lookback);
    warm_up(hist_out, lookback);
    if !any {
        return Ok(());
    }
    let start = slow - 1;
    let mut slow_ema = EmaStep::seeded(&input[..slow], per_to_k(slow));
    let mut fast_ema = EmaStep::seeded(&input[slow - fast..slow], per_to_k(fast));
    // The signal line starts from the mean of the first `signal` MACD values.
    let mut seed = fast_ema.value - slow_ema.value;
    for &x in &input[slow..slow + signal - 1] {
        seed += fast_ema.step(x) - slow_ema.step(x);
    }
    let mut signal_ema = EmaStep {
        k: per_to_k(signal),
        value: seed / signal as f64,
    };
    let first = fast_ema.value - slow_ema.value;
    macd_out[lookback] = first;
    signal_out[lookback] = signal_ema.value;
    hist_out[lookback] = first - signal_ema.value;
    debug_assert_eq!(start + signal - 1, lookback);
    for i in lookback + 1..input.len() {
        let x = input[i];
        let m = fast_ema.step(x) - slow_ema.step(x);
        let s = signal_ema.step(m);
        macd_out[i] = m;
        signal_out[i] = s;
        hist_out[i] = m - s;
    }
    Ok(())
}

/// Streaming [`macd`].
#[derive(Debug, Clone)]
pub struct Macd {
    fast: usize,
    slow: usize,
    signal: usize,
    /// The last `fast` inputs until the slow EMA is seeded.
    recent: Ring,
    seen: usize,
    slow_total: f64,
    fast_ema: EmaStep,
    slow_ema: EmaStep,
    signal_seen: usize,
    signal_total: f64,
    signal_ema: EmaStep,
}

impl Macd {
    pub fn new(fast: usize, slow: usize, signal: usize) -> Result<Self, TaError> {
        let (fast, slow, signal) = periods(fast, slow, signal)?;
        Ok(Self {
            fast,
            slow,
            signal,
            recent: Ring::new(fast),
            seen: 0,
            slow_total: 0.0,
            fast_ema: EmaStep {
                k: per_to_k(fast),
                value: 0.0,
            },
            slow_ema: EmaStep {
                k: per_to_k(slow),
                value: 0.0,
            },
            signal_seen: 0,
            signal_total: 0.0,
            signal_ema: EmaStep {
                k: per_to_k(signal),
                value: 0.0,
            },
        })
    }

    /// The MACD line at this input, once both EMAs run.
    #[inline]
    fn line(&mut self, x: f64) -> Option<f64> {
        if self.seen >= self.slow {
            return Some(self.fast_ema.step(x) - self.slow_ema.step(x));
        }
        self.seen += 1;
        self.slow_total += x;
        self.recent.push(x);
        if self.seen < self.slow {
            return None;
        }
        self.slow_ema.value = self.slow_total / self.slow as f64;
        let mut total = 0.0;
        for v in self.recent.iter() {
            total += v;
        }
        self.fast_ema.value = total / self.fast as f64;
        Some(self.fast_ema.value - self.slow_ema.value)
    }
}

impl Indicator for Macd {
    type Input = f64;
    type Output = MacdValue;

    fn update(&mut self, x: f64) -> Option<MacdValue> {
        let m = self.line(x)?;
        let s = if self.signal_seen >= self.signal {
            self.signal_ema.step(m)
        } else {
            self.signal_seen += 1;
            self.signal_total += m;
            if self.signal_seen < self.signal {
                return None;
            }
            self.signal_ema.value = self.signal_total / self.signal as f64;
            self.signal_ema.value
        };
        Some(MacdValue {
            macd: m,
            signal: s,
            hist: m - s,
        })
    }

    fn lookback(&self) -> usize {
        (self.slow - 1) + (self.signal - 1)
    }

    fn reset(&mut self) {
        if let Ok(fresh) = Self::new(self.fast, self.slow, self.signal) {
            *self = fresh;
        }
    }
}
