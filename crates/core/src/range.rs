//! A half-open span of time, `[start_ms, end_ms)`: what a request asks for, what a source
//! covered, what a gap lacks.

use std::fmt;

/// The instants `start_ms <= t < end_ms`, in epoch milliseconds. Empty when `end_ms <= start_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
pub struct TimeRange {
    pub start_ms: i64,
    pub end_ms: i64,
}

impl TimeRange {
    pub const fn new(start_ms: i64, end_ms: i64) -> Self {
        Self { start_ms, end_ms }
    }

    pub const fn is_empty(&self) -> bool {
        self.end_ms <= self.start_ms
    }

    /// Length in milliseconds (zero when empty).
    pub const fn len_ms(&self) -> i64 {
        if self.is_empty() {
            0
        } else {
            self.end_ms - self.start_ms
        }
    }

    pub const fn contains(&self, t: i64) -> bool {
        self.start_ms <= t && t < self.end_ms
    }

    /// The part both ranges share, if any.
    pub fn intersect(&self, other: TimeRange) -> Option<TimeRange> {
        let r = TimeRange::new(self.start_ms.max(other.start_ms), self.end_ms.min(other.end_ms));
        (!r.is_empty()).then_some(r)
    }

    /// The bounds as a tuple, for code that still speaks in pairs.
    pub const fn as_pair(&self) -> (i64, i64) {
        (self.start_ms, self.end_ms)
    }
}

impl From<(i64, i64)> for TimeRange {
    fn from((start_ms, end_ms): (i64, i64)) -> Self {
        Self { start_ms, end_ms }
    }
}

impl From<TimeRange> for (i64, i64) {
    fn from(r: TimeRange) -> Self {
        (r.start_ms, r.end_ms)
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}, {})",
            crate::time::format_ms(self.start_ms),
            crate::time::format_ms(self.end_ms)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_open_bounds() {
        let r = TimeRange::new(10, 20);
        assert!(r.contains(10) && r.contains(19) && !r.contains(20) && !r.contains(9));
        assert_eq!(r.len_ms(), 10);
        assert!(TimeRange::new(5, 5).is_empty());
        assert_eq!(TimeRange::new(7, 3).len_ms(), 0);
    }

    #[test]
    fn intersection_is_none_when_ranges_only_touch() {
        assert_eq!(TimeRange::new(0, 10).intersect(TimeRange::new(10, 20)), None);
        assert_eq!(
            TimeRange::new(0, 15).intersect(TimeRange::new(10, 20)),
            Some(TimeRange::new(10, 15))
        );
    }
}
