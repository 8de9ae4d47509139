//! Whether a candle can be true ([`check`]: a bar that cannot is rejected and quarantined) and
//! whether it looks odd ([`flags`]: a bar that can be true but deserves a look is kept and
//! flagged).

use std::fmt;

use crate::{Candle, Timeframe};

/// Open times before this (2001-09-09) are seconds read as milliseconds.
const MIN_PLAUSIBLE_MS: i64 = 1_000_000_000_000;
/// Open times after this (year 5138) are microseconds read as milliseconds.
const MAX_PLAUSIBLE_MS: i64 = 100_000_000_000_000;
/// A bar may close this much after "now" (clock skew) before it counts as from the future.
const FUTURE_GRACE_MS: i64 = 60_000;

/// Why a candle cannot be true.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// high < max(open, close).
    HighBelowBody,
    /// low > min(open, close).
    LowAboveBody,
    /// A price or volume below zero, or not a finite number.
    BadNumber(&'static str),
    /// The open time is not on the timeframe's grid.
    Misaligned,
    /// The bar has not closed yet by the clock (or is from the future).
    Future,
    /// The open time is far too small or too large for milliseconds: seconds or microseconds.
    TimestampUnit,
}

impl Reject {
    /// Stable name for the `rejects` table.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::HighBelowBody => "high-below-open-or-close",
            Self::LowAboveBody => "low-above-open-or-close",
            Self::BadNumber(_) => "negative-or-non-finite",
            Self::Misaligned => "open-time-off-grid",
            Self::Future => "not-closed-yet",
            Self::TimestampUnit => "timestamp-unit",
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadNumber(field) => write!(f, "{} ({field})", self.as_str()),
            _ => f.write_str(self.as_str()),
        }
    }
}

/// Rejects a candle that cannot be true of a closed `tf` bar at `now_ms`.
pub fn check(c: &Candle, tf: Timeframe, now_ms: i64) -> Result<(), Reject> {
    let t = c.open_time_ms;
    if !(MIN_PLAUSIBLE_MS..MAX_PLAUSIBLE_MS).contains(&t) {
        return Err(Reject::TimestampUnit);
    }
    if tf.floor(t) != t {
        return Err(Reject::Misaligned);
    }
    if t + tf.millis() > now_ms + FUTURE_GRACE_MS {
        return Err(Reject::Future);
    }
    let fields = [
        ("open", Some(c.open)),
        ("high", Some(c.high)),
        ("low", Some(c.low)),
        ("close", Some(c.close)),
        ("volume", c.volume),
        ("quote_volume", c.quote_volume),
    ];
    for (name, v) in fields {
        if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
            return Err(Reject::BadNumber(name));
        }
    }
    if c.high < c.open.max(c.close) {
        return Err(Reject::HighBelowBody);
    }
    if c.low > c.open.min(c.close) {
        return Err(Reject::LowAboveBody);
    }
    Ok(())
}

/// Thresholds for [`flags`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlagRules {
    /// A close this far (in percent) from the previous bar's close is a jump.
    pub jump_pct: f64,
    /// This many consecutive bars with open = high = low = close at one price make a flat run.
    pub flat_run: usize,
}

impl Default for FlagRules {
    fn default() -> Self {
        Self {
            jump_pct: 20.0,
            flat_run: 3,
        }
    }
}

/// Something odd about a bar that can still be true.
#[derive(Debug, Clone, PartialEq)]
pub enum Flag {
    /// Close moved `pct` percent from the previous bar's close.
    Jump {
        pct: f64,
    },
    ZeroVolume,
    /// The last `len` bars, this one included, are flat at one price.
    FlatRun {
        len: usize,
    },
}

impl Flag {
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Jump { .. } => "jump",
            Self::ZeroVolume => "zero-volume",
            Self::FlatRun { .. } => "flat-run",
        }
    }

    pub fn detail(&self) -> String {
        match self {
            Self::Jump { pct } => format!("{pct:+.2}% from the previous close"),
            Self::ZeroVolume => "no volume".into(),
            Self::FlatRun { len } => format!("{len} flat bars in a row"),
        }
    }
}

fn flat(c: &Candle) -> bool {
    c.open == c.high && c.high == c.low && c.low == c.close
}

/// Flags for each bar of `bars` (ascending, one series), given up to `rules.flat_run` bars
/// stored just before them in `before` (ascending). A jump or a flat run needs the previous bar
/// to be the adjacent one (`tf` apart): across a gap nothing is judged.
pub fn flags(before: &[Candle], bars: &[Candle], tf: Timeframe, rules: FlagRules) -> Vec<(i64, Flag)> {
    let all: Vec<&Candle> = before.iter().chain(bars.iter()).collect();
    let mut out = Vec::new();
    let mut run = 0usize;
    for (i, c) in all.iter().enumerate() {
        let prev = i
            .checked_sub(1)
            .map(|j| all[j])
            .filter(|p| p.open_time_ms + tf.millis() == c.open_time_ms);
        run = match prev {
            Some(p) if flat(c) && flat(p) && p.close == c.close => run + 1,
            _ if flat(c) => 1,
            _ => 0,
        };
        if i < before.len() {
            continue;
        }
        if let Some(p) = prev.filter(|p| p.close > 0.0) {
            let pct = (c.close / p.close - 1.0) * 100.0;
            if pct.abs() > rules.jump_pct {
                out.push((c.open_time_ms, Flag::Jump { pct }));
            }
        }
        if c.volume == Some(0.0) {
            out.push((c.open_time_ms, Flag::ZeroVolume));
        }
        if rules.flat_run > 1 && run >= rules.flat_run {
            out.push((c.open_time_ms, Flag::FlatRun { len: run }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    const T: i64 = 1_700_000_000_000 / H * H;

    fn bar(t: i64, o: f64, h: f64, l: f64, c: f64, v: f64) -> Candle {
        Candle {
            open_time_ms: t,
            open: o,
            high: h,
            low: l,
            close: c,
            volume: Some(v),
            quote_volume: Some(v * c),
            trades: None,
        }
    }

    #[test]
    fn rejects_what_cannot_be_a_closed_bar() {
        let now = T + 100 * H;
        let ok = bar(T, 10.0, 12.0, 9.0, 11.0, 5.0);
        assert_eq!(check(&ok, Timeframe::H1, now), Ok(()));
        let cases = [
            (bar(T, 10.0, 10.5, 9.0, 11.0, 5.0), Reject::HighBelowBody),
            (bar(T, 10.0, 12.0, 10.5, 11.0, 5.0), Reject::LowAboveBody),
            (bar(T, 10.0, 12.0, 9.0, 11.0, -1.0), Reject::BadNumber("volume")),
            (bar(T, f64::NAN, 12.0, 9.0, 11.0, 1.0), Reject::BadNumber("open")),
            (bar(T + 60_000, 10.0, 12.0, 9.0, 11.0, 5.0), Reject::Misaligned),
            (bar(now, 10.0, 12.0, 9.0, 11.0, 5.0), Reject::Future),
            (bar(T / 1000 / H * H, 10.0, 12.0, 9.0, 11.0, 5.0), Reject::TimestampUnit),
            (bar(T * 1000, 10.0, 12.0, 9.0, 11.0, 5.0), Reject::TimestampUnit),
        ];
        for (c, why) in cases {
            assert_eq!(check(&c, Timeframe::H1, now), Err(why), "{c:?}");
        }
        // A bar without volume is not rejected for it.
        let no_volume = Candle {
            volume: None,
            quote_volume: None,
            ..ok
        };
        assert_eq!(check(&no_volume, Timeframe::H1, now), Ok(()));
    }

    #[test]
    fn flags_jumps_zero_volume_and_flat_runs_but_not_across_gaps() {
        let before = [bar(T, 100.0, 101.0, 99.0, 100.0, 1.0)];
        let bars = [
            bar(T + H, 100.0, 130.0, 100.0, 125.0, 1.0), // +25%
            bar(T + 2 * H, 125.0, 125.0, 125.0, 125.0, 0.0),
            bar(T + 3 * H, 125.0, 125.0, 125.0, 125.0, 0.0),
            bar(T + 4 * H, 125.0, 125.0, 125.0, 125.0, 0.0),
            bar(T + 6 * H, 200.0, 200.0, 200.0, 200.0, 1.0), // after a gap: no jump
        ];
        let got: Vec<(i64, &str)> = flags(&before, &bars, Timeframe::H1, FlagRules::default())
            .iter()
            .map(|(t, f)| ((t - T) / H, f.kind()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "jump"),
                (2, "zero-volume"),
                (3, "zero-volume"),
                (4, "zero-volume"),
                (4, "flat-run"),
            ]
        );
    }
}
