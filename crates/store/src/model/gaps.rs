//! The gap ledger's rules: a series' listed lifetime, the gaps in it, why each is there, and how
//! a refresh carries the ledger forward. Gaps are the complement of the stored ranges within the
//! lifetime: arithmetic on a few ranges per series, never a walk over hours.

use std::collections::HashMap;

use candlekeep_core::{GapCause, Timeframe};

use crate::{GapRefresh, GapStatus, StoreError, subtract_ranges};

/// One stored series, its lifetime bounds from the universe and its stored ranges.
pub(crate) struct Series {
    pub id: i64,
    pub tf: Timeframe,
    /// The earliest listing the universe knows, if any.
    pub listed_at: Option<i64>,
    /// Every listing of it is delisted; the latest delisting ends its lifetime.
    pub delisted_at: Option<i64>,
    /// Bars of its timeframe before this were pruned (`retention_horizon`).
    pub horizon: Option<i64>,
    pub islands: Vec<(i64, i64)>,
}

impl Series {
    /// `[start, end)`: from the earliest listing (or the first stored bar) to the newest closed
    /// bar, or to the last delisting when every listing is delisted. Pruned hours are not part of
    /// it: it starts no earlier than the retention horizon, unless bars were stored before the
    /// horizon since (then from the first of them).
    pub fn lifetime(&self, now_ms: i64) -> (i64, i64) {
        let tf = self.tf;
        let first = self.islands.first().map_or(0, |i| i.0);
        let start = self.listed_at.map_or(first, |l| tf.ceil(l).min(first));
        let start = self.horizon.map_or(start, |h| start.max(tf.ceil(h).min(first)));
        let end = self.delisted_at.map_or(tf.floor(now_ms), |d| tf.ceil(d)).max(start);
        (start, end)
    }

    /// The missing ranges of its lifetime.
    pub fn gaps(&self, now_ms: i64) -> Vec<(i64, i64)> {
        let (start, end) = self.lifetime(now_ms);
        subtract_ranges(start, end, &self.islands)
    }
}

/// One row of a query over stored ranges, ordered by series and start.
pub(crate) struct RangeRow {
    pub id: i64,
    pub tf: String,
    pub range: (i64, i64),
    pub listed_at: Option<i64>,
    pub delisted_at: Option<i64>,
    pub horizon: Option<i64>,
}

/// Groups ordered stored-range rows into series.
pub(crate) fn group_series(rows: impl IntoIterator<Item = RangeRow>) -> Result<Vec<Series>, StoreError> {
    let mut out: Vec<Series> = Vec::new();
    for r in rows {
        if let Some(last) = out.last_mut().filter(|s| s.id == r.id && s.tf.as_str() == r.tf) {
            last.islands.push(r.range);
            continue;
        }
        out.push(Series {
            id: r.id,
            tf: r
                .tf
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("unknown timeframe {:?} in stored_ranges", r.tf)))?,
            listed_at: r.listed_at,
            delisted_at: r.delisted_at,
            horizon: r.horizon,
            islands: vec![r.range],
        });
    }
    Ok(out)
}

/// What the sources said about one series: their covered ranges and their notes.
#[derive(Default)]
pub(crate) struct Facts {
    /// (source, start, end)
    pub covered: Vec<(String, i64, i64)>,
    /// (source, start, end, note)
    pub notes: Vec<(String, i64, i64, String)>,
}

fn all_of(gap: (i64, i64), ranges: &[(i64, i64)]) -> bool {
    subtract_ranges(gap.0, gap.1, ranges).is_empty()
}

/// The note a job leaves on the hours it asked every source of a chain for and none answered:
/// what tells a failed fetch from hours never asked for.
pub const FETCH_FAILED: &str = "fetch-failed";

impl Facts {
    /// Hours some source was asked for: answered (covered), or asked and failed.
    fn requested(&self) -> Vec<(i64, i64)> {
        let mut all: Vec<(i64, i64)> = self
            .covered
            .iter()
            .map(|(_, a, b)| (*a, *b))
            .chain(self.noted(FETCH_FAILED, None))
            .collect();
        all.sort_unstable();
        let mut out: Vec<(i64, i64)> = Vec::with_capacity(all.len());
        for (a, b) in all {
            match out.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        out
    }

    /// Each gap cut where requested hours meet hours never requested, so that a gap is either
    /// wholly `not-requested` or wholly asked for.
    pub fn split_at_requests(&self, gaps: &[(i64, i64)]) -> Vec<(i64, i64)> {
        let requested = self.requested();
        let mut out = Vec::with_capacity(gaps.len());
        for &(a, b) in gaps {
            let mut parts = intersect((a, b), &requested);
            parts.extend(subtract_ranges(a, b, &requested));
            parts.sort_unstable();
            out.extend(parts);
        }
        out
    }

    fn noted(&self, note: &str, source: Option<&str>) -> Vec<(i64, i64)> {
        self.notes
            .iter()
            .filter(|(s, _, _, n)| n == note && source.is_none_or(|want| want == s))
            .map(|(_, a, b, _)| (*a, *b))
            .collect()
    }

    /// Why a gap is there, from what the sources said:
    /// - `no-trades`: a source said nothing traded in any of its hours;
    /// - `not-listed-yet`: before every listing the universe knows, or a source said the pair
    ///   did not exist yet;
    /// - `not-requested`: no source was ever asked for it (before the first or after the last
    ///   hour a backfill or sync asked for): not a failure, just not fetched yet;
    /// - `fetch-error`: some of its hours no source has answered for though they were asked
    ///   (every source failed);
    /// - `provider-history-cap`: every source that answered for all of it only said "beyond my
    ///   history";
    /// - `venue-outage`: sources answered for it and had no bars.
    pub fn cause(&self, listed_at: Option<i64>, gap: (i64, i64)) -> GapCause {
        if all_of(gap, &self.noted("no-trades", None)) {
            return GapCause::NoTrades;
        }
        if listed_at.is_some_and(|l| gap.1 <= l) || all_of(gap, &self.noted("not-listed", None)) {
            return GapCause::NotListedYet;
        }
        if intersect(gap, &self.requested()).is_empty() {
            return GapCause::NotRequested;
        }
        let covered: Vec<(i64, i64)> = self.covered.iter().map(|(_, a, b)| (*a, *b)).collect();
        if !all_of(gap, &covered) {
            return GapCause::FetchError;
        }
        let mut answering: Vec<&str> = self
            .covered
            .iter()
            .filter(|(_, a, b)| *a <= gap.0 && *b >= gap.1)
            .map(|(s, _, _)| s.as_str())
            .collect();
        answering.sort_unstable();
        answering.dedup();
        let capped = answering
            .iter()
            .filter(|s| all_of(gap, &self.noted("history-cap", Some(s))))
            .count();
        if !answering.is_empty() && capped == answering.len() {
            GapCause::ProviderHistoryCap
        } else {
            GapCause::VenueOutage
        }
    }
}

/// Marks a ledger entry repaired, naming the source of most of its bars now (ties: the first
/// name). Written once for both backends: SQLite numbers `$n` parameters in order of first
/// appearance, so they first appear here as $1, $2, $3, $4, $5.
pub(crate) const MARK_REPAIRED_SQL: &str = "UPDATE gaps SET repaired_by = ( \
       SELECT s.name FROM candles c JOIN sources s ON s.id = c.source_id WHERE c.instrument_id = $1 \
          AND c.timeframe = $2 AND c.open_time >= $3 AND c.open_time < $4 \
        GROUP BY s.name ORDER BY COUNT(*) DESC, s.name LIMIT 1), status = 'repaired', updated_at = $5 \
     WHERE instrument_id = $1 AND timeframe = $2 AND start_ms = $3 AND end_ms = $4";

/// Every stored series' ranges with its listing lifetime bounds and its timeframe's retention
/// horizon, in the shape of [`RangeRow`].
pub(crate) const SERIES_SQL: &str = "SELECT r.instrument_id, r.timeframe, r.start_ms, r.end_ms, \
        (SELECT MIN(l.listed_at) FROM listings l WHERE l.base = i.base AND l.quote = i.quote AND l.market = i.market), \
        (SELECT CASE WHEN COUNT(*) > 0 AND COUNT(l.delisted_at) = COUNT(*) THEN MAX(l.delisted_at) END \
           FROM listings l WHERE l.base = i.base AND l.quote = i.quote AND l.market = i.market), \
        (SELECT h.before_ms FROM retention_horizon h WHERE h.timeframe = r.timeframe) \
   FROM stored_ranges r JOIN instruments i ON i.id = r.instrument_id \
  ORDER BY r.instrument_id, r.timeframe, r.start_ms";

/// A series' entries that are not repaired (see [`LedgerRow`]).
pub(crate) const LEDGER_SQL: &str = "SELECT start_ms, end_ms, status, attempts, first_seen FROM gaps \
     WHERE instrument_id = $1 AND timeframe = $2 AND status <> 'repaired'";

/// What the sources said about one series ([`Facts`]): their covered ranges, then their notes.
pub(crate) const COVERED_SQL: &str =
    "SELECT source, start_ms, end_ms FROM covered_ranges WHERE instrument_id = $1 AND timeframe = $2";
pub(crate) const NOTES_SQL: &str =
    "SELECT source, start_ms, end_ms, note FROM coverage_notes WHERE instrument_id = $1 AND timeframe = $2";

/// Writes a current gap: (series, timeframe, start, end, cause, status, attempts, first seen,
/// now); an entry already there keeps its first sighting.
pub(crate) const PUT_GAP_SQL: &str = "INSERT INTO gaps (instrument_id, timeframe, start_ms, end_ms, cause, status, \
     attempts, first_seen, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (instrument_id, timeframe, start_ms, end_ms) DO UPDATE SET cause = excluded.cause, \
     status = excluded.status, attempts = excluded.attempts, updated_at = excluded.updated_at";

/// Removes one entry.
pub(crate) const DROP_ENTRY_SQL: &str =
    "DELETE FROM gaps WHERE instrument_id = $1 AND timeframe = $2 AND start_ms = $3 AND end_ms = $4";

/// A ledger entry that is not repaired yet: (start, end, status, attempts, first_seen).
pub(crate) type LedgerRow = (i64, i64, GapStatus, i64, i64);

/// A current gap as the ledger will hold it.
pub(crate) struct CurrentGap {
    pub range: (i64, i64),
    pub status: GapStatus,
    pub attempts: i64,
    pub first_seen: i64,
    /// Not in the ledger before this refresh.
    pub new: bool,
}

/// A ledger entry that no longer matches a current gap.
pub(crate) struct Superseded {
    pub entry: (i64, i64),
    /// The parts of it that are stored now: these are what is marked repaired (a partial repair
    /// never marks hours repaired that are still missing). Empty when the entry was only cut.
    pub filled: Vec<(i64, i64)>,
}

/// How a refresh changes one series' ledger.
#[derive(Default)]
pub(crate) struct Reconciled {
    /// Entries now filled wholly or in part, or cut into parts.
    pub superseded: Vec<Superseded>,
    pub gaps: Vec<CurrentGap>,
}

fn intersect(a: (i64, i64), ranges: &[(i64, i64)]) -> Vec<(i64, i64)> {
    ranges
        .iter()
        .map(|&(s, e)| (s.max(a.0), e.min(a.1)))
        .filter(|(s, e)| s < e)
        .collect()
}

/// Carries the ledger's open and unrepairable entries over to the current gaps: an entry still
/// missing whole keeps its status and attempts; of one filled in part, the filled hours are
/// repaired and what is still missing carries its attempts on as open.
pub(crate) fn reconcile(current: &[(i64, i64)], ledger: Vec<LedgerRow>, now_ms: i64) -> Reconciled {
    let mut known: HashMap<(i64, i64), (GapStatus, i64, i64)> = HashMap::new();
    let mut out = Reconciled::default();
    for (a, b, status, attempts, first_seen) in ledger {
        let remaining = intersect((a, b), current);
        if remaining == [(a, b)] {
            known.insert((a, b), (status, attempts, first_seen));
            continue;
        }
        out.superseded.push(Superseded {
            entry: (a, b),
            filled: subtract_ranges(a, b, &remaining),
        });
        for part in remaining {
            known.insert(part, (GapStatus::Open, attempts, first_seen));
        }
    }
    for &range in current {
        let (status, attempts, first_seen, new) = match known.get(&range) {
            Some(&(status, attempts, first_seen)) => (status, attempts, first_seen, false),
            None => (GapStatus::Open, 0, now_ms, true),
        };
        out.gaps.push(CurrentGap {
            range,
            status,
            attempts,
            first_seen,
            new,
        });
    }
    out
}

/// What a ledger refresh reads and writes, per backend.
pub(crate) trait LedgerRows {
    /// The series' entries that are not repaired.
    fn ledger(&mut self, id: i64, tf: Timeframe) -> Result<Vec<LedgerRow>, StoreError>;
    /// Marks an entry repaired, naming the source of most of its bars now.
    fn mark_repaired(&mut self, id: i64, tf: Timeframe, gap: (i64, i64), now_ms: i64) -> Result<(), StoreError>;
    /// Adds an entry for `part` with `entry`'s cause, status, attempts and first sighting.
    fn copy_entry(&mut self, id: i64, tf: Timeframe, entry: (i64, i64), part: (i64, i64)) -> Result<(), StoreError>;
    /// Removes an entry.
    fn drop_entry(&mut self, id: i64, tf: Timeframe, entry: (i64, i64)) -> Result<(), StoreError>;
    fn facts(&mut self, id: i64, tf: Timeframe) -> Result<Facts, StoreError>;
    fn put_gap(
        &mut self,
        id: i64,
        tf: Timeframe,
        gap: &CurrentGap,
        cause: GapCause,
        now_ms: i64,
    ) -> Result<(), StoreError>;
}

/// One change to a series' ledger, in the order a refresh makes them.
pub(crate) enum LedgerChange {
    /// [`LedgerRows::mark_repaired`].
    MarkRepaired((i64, i64)),
    /// [`LedgerRows::copy_entry`].
    CopyEntry { entry: (i64, i64), part: (i64, i64) },
    /// [`LedgerRows::drop_entry`].
    DropEntry((i64, i64)),
    /// [`LedgerRows::put_gap`].
    PutGap(CurrentGap, GapCause),
}

/// What a refresh changes in one series' ledger, given its current gaps ([`Series::gaps`]; its
/// [`Facts`] are read only when there are any, else they are the default), its facts and its
/// ledger rows; counts the series' share into `summary`.
/// Pure: each backend reads the inputs and applies the changes in order, in its own way
/// (blocking or async), inside one transaction.
pub(crate) fn plan_series(
    s: &Series,
    current: &[(i64, i64)],
    facts: &Facts,
    ledger: Vec<LedgerRow>,
    now_ms: i64,
    summary: &mut GapRefresh,
) -> Vec<LedgerChange> {
    let tf = s.tf;
    let current = facts.split_at_requests(current);
    let plan = reconcile(&current, ledger, now_ms);
    let mut changes = Vec::new();
    for old in &plan.superseded {
        if old.filled == [old.entry] {
            changes.push(LedgerChange::MarkRepaired(old.entry));
        } else {
            for &part in &old.filled {
                changes.push(LedgerChange::CopyEntry { entry: old.entry, part });
                changes.push(LedgerChange::MarkRepaired(part));
            }
            changes.push(LedgerChange::DropEntry(old.entry));
        }
        summary.repaired += u64::from(!old.filled.is_empty());
    }
    for g in plan.gaps {
        let cause = facts.cause(s.listed_at, g.range);
        summary.new += u64::from(g.new);
        if g.status == GapStatus::Open {
            summary.count_open(cause, tf.bars_between(g.range.0, g.range.1));
        }
        changes.push(LedgerChange::PutGap(g, cause));
    }
    changes
}

/// Brings every series' ledger up to date (one transaction, the caller's).
pub(crate) fn refresh(db: &mut impl LedgerRows, all: &[Series], now_ms: i64) -> Result<GapRefresh, StoreError> {
    let mut summary = GapRefresh {
        series: all.len() as u64,
        ..GapRefresh::default()
    };
    for s in all {
        let (id, tf) = (s.id, s.tf);
        let current = s.gaps(now_ms);
        let facts = if current.is_empty() {
            Facts::default()
        } else {
            db.facts(id, tf)?
        };
        let ledger = db.ledger(id, tf)?;
        for change in plan_series(s, &current, &facts, ledger, now_ms, &mut summary) {
            match change {
                LedgerChange::MarkRepaired(range) => db.mark_repaired(id, tf, range, now_ms)?,
                LedgerChange::CopyEntry { entry, part } => db.copy_entry(id, tf, entry, part)?,
                LedgerChange::DropEntry(entry) => db.drop_entry(id, tf, entry)?,
                LedgerChange::PutGap(g, cause) => db.put_gap(id, tf, &g, cause, now_ms)?,
            }
        }
    }
    Ok(summary)
}
