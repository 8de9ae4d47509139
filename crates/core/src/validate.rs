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
    /// A price of zero: no market trades at nothing (an all-zero bar is a placeholder row).
    ZeroPrice,
    /// The bar's prices are beyond any plausible move: its high and low, or its close and its
    /// neighbours' closes, lie more than [`FlagRules::max_move_ratio`] apart.
    ImplausibleMove,
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
            Self::ZeroPrice => "zero-price",
            Self::ImplausibleMove => "implausible-move",
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
    if [c.open, c.high, c.low, c.close].contains(&0.0) {
        return Err(Reject::ZeroPrice);
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
    /// Not a flag but a rejection: a bar whose high is more than this many times its low, or
    /// whose close is more than this many times (or less than one this-many-th of) the close of
    /// the nearest accepted bar before it, cannot be true of one bar ([`implausible`]).
    pub max_move_ratio: f64,
}

impl Default for FlagRules {
    fn default() -> Self {
        Self {
            jump_pct: 20.0,
            flat_run: 3,
            max_move_ratio: 100.0,
        }
    }
}

/// Bars further apart than this are not judged against each other: over a month a price can
/// truly move any amount.
const MAX_NEIGHBOUR_DISTANCE_MS: i64 = 30 * crate::time::DAY_MS;

/// How far apart two positive prices are, as a factor ≥ 1 (infinite when one is not positive).
fn move_ratio(a: f64, b: f64) -> f64 {
    if a > 0.0 && b > 0.0 {
        if a > b { a / b } else { b / a }
    } else {
        f64::INFINITY
    }
}

/// Which of `bars` (checked, ascending, one series) are beyond any plausible move, given the
/// stored bars just before (`prev`) and just after (`next`) them. A bar is judged against the
/// nearest accepted bar before it; the first bar of a series, with nothing before it, against
/// the median close of the bars that follow it (so a lone absurd first bar cannot make every
/// true bar after it look absurd). Returns one verdict per bar.
pub fn implausible(prev: Option<&Candle>, bars: &[Candle], next: Option<&Candle>, max_ratio: f64) -> Vec<bool> {
    let mut out = Vec::with_capacity(bars.len());
    let mut last: Option<(i64, f64)> = prev.map(|p| (p.open_time_ms, p.close));
    for (i, c) in bars.iter().enumerate() {
        let mut bad = move_ratio(c.high, c.low) > max_ratio;
        if !bad {
            let reference = match last {
                Some((t, close)) if c.open_time_ms.saturating_sub(t) <= MAX_NEIGHBOUR_DISTANCE_MS => Some(close),
                Some(_) => None,
                None => {
                    let mut ahead: Vec<f64> = bars[i + 1..]
                        .iter()
                        .chain(next)
                        .take_while(|n| n.open_time_ms.saturating_sub(c.open_time_ms) <= MAX_NEIGHBOUR_DISTANCE_MS)
                        .take(5)
                        .map(|n| n.close)
                        .collect();
                    ahead.sort_by(f64::total_cmp);
                    ahead.get(ahead.len() / 2).copied()
                }
            };
            bad = reference.is_some_and(|r| move_ratio(c.close, r) > max_ratio);
        }
        if !bad {
            last = Some((c.open_time_ms, c.close));
        }
        out.push(bad);
    }
    out
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
    fn zero_prices_are_rejected() {
        let now = T + 100 * H;
        assert_eq!(
            check(&bar(T, 0.0, 0.0, 0.0, 0.0, 0.0), Timeframe::H1, now),
            Err(Reject::ZeroPrice)
        );
        assert_eq!(
            check(&bar(T, 1.0, 2.0, 0.0, 1.0, 1.0), Timeframe::H1, now),
            Err(Reject::ZeroPrice)
        );
        // Zero volume is odd, not impossible.
        assert_eq!(check(&bar(T, 1.0, 2.0, 0.5, 1.0, 0.0), Timeframe::H1, now), Ok(()));
    }

    #[test]
    fn absurd_moves_are_implausible_but_a_real_crash_is_not() {
        let prev = bar(T, 100.0, 101.0, 99.0, 100.0, 1.0);
        let b = |h: i64, c: f64| bar(T + h * H, c, c, c, c, 1.0);
        let bars = [b(1, 1e300), b(2, 101.0), b(3, 1e308), b(4, 60.0), b(5, 0.5), b(6, 55.0)];
        let got = implausible(Some(&prev), &bars, None, 100.0);
        assert_eq!(got, vec![true, false, true, false, true, false]);
        // A lone absurd first bar of a series: the bars after it decide.
        let got = implausible(None, &[b(1, 1e300), b(2, 101.0), b(3, 99.0)], None, 100.0);
        assert_eq!(got, vec![true, false, false]);
        // High and low of one bar too far apart.
        let wide = bar(T + H, 100.0, 1e6, 99.0, 100.0, 1.0);
        assert_eq!(implausible(Some(&prev), &[wide], None, 100.0), vec![true]);
        // A month apart nothing is judged; a 90% crash in an hour is true.
        assert_eq!(implausible(Some(&prev), &[b(24 * 31, 1e5)], None, 100.0), vec![false]);
        assert_eq!(implausible(Some(&prev), &[b(1, 10.0)], None, 100.0), vec![false]);
        // The stored bar after the page speaks for a page of one.
        let next = b(2, 100.0);
        assert_eq!(implausible(None, &[b(1, 1e300)], Some(&next), 100.0), vec![true]);
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
