//! What the indicators share: TA-Lib's zero tests, parameter and length checks, the warm-up
//! fill of batch outputs, and the ring buffer of the streaming forms.

use crate::TaError;

/// TA-Lib's `TA_IS_ZERO`: a magnitude under 1e-8 counts as zero.
#[inline]
pub(crate) fn is_zero(v: f64) -> bool {
    -1e-8 < v && v < 1e-8
}

/// TA-Lib's `TA_IS_ZERO_OR_NEG`.
#[inline]
pub(crate) fn is_zero_or_neg(v: f64) -> bool {
    v < 1e-8
}

/// TA-Lib's largest period.
pub(crate) const MAX_PERIOD: usize = 100_000;

/// `got` when it is within TA-Lib's range for the parameter.
pub(crate) fn period(indicator: &'static str, param: &'static str, got: usize, min: usize) -> Result<usize, TaError> {
    if (min..=MAX_PERIOD).contains(&got) {
        Ok(got)
    } else {
        Err(TaError::Period {
            indicator,
            param,
            min,
            max: MAX_PERIOD,
            got,
        })
    }
}

pub(crate) fn factor(indicator: &'static str, param: &'static str, got: f64) -> Result<f64, TaError> {
    if got.is_finite() {
        Ok(got)
    } else {
        Err(TaError::Factor { indicator, param, got })
    }
}

/// Checks that every slice has `n` values.
pub(crate) fn same_len(indicator: &'static str, n: usize, lens: &[usize]) -> Result<(), TaError> {
    match lens.iter().find(|l| **l != n) {
        Some(&got) => Err(TaError::Length {
            indicator,
            expected: n,
            got,
        }),
        None => Ok(()),
    }
}

/// Writes NaN over the first `lookback` outputs (all of them when there are no more); `true`
/// when there is at least one output to compute.
pub(crate) fn warm_up(out: &mut [f64], lookback: usize) -> bool {
    let warm = lookback.min(out.len());
    out[..warm].fill(f64::NAN);
    out.len() > lookback
}

/// The last `capacity` values pushed, in slots written in turn from slot 0 (TA-Lib's circular
/// buffers sum in slot order, so the streaming forms keep the same order).
#[derive(Debug, Clone)]
pub(crate) struct Ring {
    slots: Vec<f64>,
    next: usize,
    len: usize,
}

impl Ring {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            slots: vec![0.0; capacity.max(1)],
            next: 0,
            len: 0,
        }
    }

    /// Stores `v` over the oldest value once full, and returns what it replaced.
    #[inline]
    pub(crate) fn push(&mut self, v: f64) -> Option<f64> {
        let old = (self.len == self.slots.len()).then(|| self.slots[self.next]);
        self.slots[self.next] = v;
        self.next += 1;
        if self.next == self.slots.len() {
            self.next = 0;
        }
        self.len = (self.len + 1).min(self.slots.len());
        old
    }

    /// The oldest value held, once full.
    #[inline]
    pub(crate) fn oldest(&self) -> f64 {
        if self.len == self.slots.len() {
            self.slots[self.next]
        } else {
            self.slots[0]
        }
    }

    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.len == self.slots.len()
    }

    /// The slots in slot order (not time order).
    pub(crate) fn slots(&self) -> &[f64] {
        &self.slots[..self.len]
    }

    /// The held values, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = f64> + '_ {
        let start = if self.is_full() { self.next } else { 0 };
        (0..self.len).map(move |k| self.slots[(start + k) % self.slots.len()])
    }

    pub(crate) fn clear(&mut self) {
        self.next = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_last_values_and_returns_what_it_replaces() {
        let mut r = Ring::new(3);
        assert_eq!(r.push(1.0), None);
        assert_eq!(r.push(2.0), None);
        assert!(!r.is_full());
        assert_eq!(r.push(3.0), None);
        assert_eq!(r.oldest(), 1.0);
        assert_eq!(r.push(4.0), Some(1.0));
        assert_eq!(r.iter().collect::<Vec<_>>(), [2.0, 3.0, 4.0]);
        assert_eq!(r.slots(), [4.0, 2.0, 3.0]);
        assert_eq!(r.oldest(), 2.0);
    }

    #[test]
    fn warm_up_marks_the_lookback_and_says_whether_anything_is_left() {
        let mut out = [1.0; 4];
        assert!(warm_up(&mut out, 2));
        assert!(out[0].is_nan() && out[1].is_nan() && out[2] == 1.0);
        let mut short = [1.0; 2];
        assert!(!warm_up(&mut short, 2));
        assert!(short.iter().all(|v| v.is_nan()));
    }
}
