//! The packed-block format of the candle read cache (`candle_blocks`), shared by both backends:
//! the bars of one series in spans of [`BLOCK_BARS`] bars, packed into one value per span.
//!
//! Why: a long read of rows costs a function call and an allocation per value (PostgreSQL
//! formats each one it sends; SQLite steps and decodes each row), while one packed block of a
//! thousand bars is one value. A block always holds exactly the bars stored in its span when it
//! was packed: every write to `candles` deletes the blocks its bars fall in, in its own
//! transaction, and a block is packed from rows read in the transaction that stores it. Only
//! spans that have closed are packed, so the hourly sync of the newest bar does not keep
//! rewriting blocks. A block that does not decode counts as missing and is packed again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use candlekeep_core::{Candle, Timeframe};

/// The blocks one long read looks at: a series and the range `[from, to)` of open times.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockRead {
    pub id: i64,
    pub tf: Timeframe,
    pub from: i64,
    pub to: i64,
}

/// A decoded block's bars, shared between the cache and the reads that use it.
pub(crate) type Bars = Arc<Vec<Candle>>;

/// Decoded blocks kept in memory, shared by every connection of one store, so a repeated long
/// read costs one small query (each block's version) and a copy, not a decode.
///
/// An entry is used only while the block in the database still has the version it was decoded
/// from: a write deletes the blocks it touches and a pack stores a new version, so a stale entry
/// never matches again (whichever process wrote), and is evicted when the cache is full (least
/// recently used first). The lock is held for a lookup or an insert, never across a query.
#[derive(Debug)]
pub(crate) struct BlockCache {
    inner: Mutex<CacheInner>,
    max_bars: usize,
}

#[derive(Debug, Default)]
struct CacheInner {
    entries: HashMap<(i64, Timeframe, i64), CacheEntry>,
    bars: usize,
    clock: u64,
    /// Per series, the block starts whose cached versions a read found current, and when.
    fresh: HashMap<(i64, Timeframe), Fresh>,
    /// Per series, bumped by every write of this process to it; `all` by a write to every series.
    generations: HashMap<(i64, Timeframe), u64>,
    all: u64,
}

#[derive(Debug)]
struct Fresh {
    at: std::time::Instant,
    generation: (u64, u64),
    first: i64,
    last: i64,
    /// The version of each block the read found current: an entry replaced since (a slower
    /// read putting back what it fetched earlier) is not trusted.
    versions: HashMap<i64, i64>,
}

/// A generation of one series' cache (see [`BlockCache::generation`]).
pub(crate) type Generation = (u64, u64);

impl CacheInner {
    fn generation(&self, id: i64, tf: Timeframe) -> Generation {
        (self.all, self.generations.get(&(id, tf)).copied().unwrap_or(0))
    }
}

#[derive(Debug)]
struct CacheEntry {
    version: i64,
    bars: Bars,
    used: u64,
}

/// Bars the block cache of one store holds at most: about 90 MB of decoded candles, a year of
/// hourly bars for a hundred series.
pub(crate) const CACHE_BARS: usize = 1_000_000;

impl Default for BlockCache {
    fn default() -> Self {
        Self::new(CACHE_BARS)
    }
}

impl BlockCache {
    pub(crate) fn new(max_bars: usize) -> Self {
        Self {
            inner: Mutex::default(),
            max_bars,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The blocks of `listed` (start, version) the cache holds at that version, and the starts it
    /// does not.
    pub(crate) fn lookup(&self, id: i64, tf: Timeframe, listed: &[(i64, i64)]) -> (BTreeMap<i64, Bars>, Vec<i64>) {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        let mut found = BTreeMap::new();
        let mut absent = Vec::new();
        for &(start, version) in listed {
            match inner.entries.get_mut(&(id, tf, start)) {
                Some(e) if e.version == version => {
                    e.used = now;
                    found.insert(start, e.bars.clone());
                }
                _ => absent.push(start),
            }
        }
        (found, absent)
    }

    /// Keeps a decoded block, evicting the least recently used ones beyond the limit.
    pub(crate) fn insert(&self, id: i64, tf: Timeframe, start: i64, version: i64, bars: Bars) {
        let mut inner = self.lock();
        inner.clock += 1;
        let used = inner.clock;
        let n = bars.len();
        if let Some(old) = inner
            .entries
            .insert((id, tf, start), CacheEntry { version, bars, used })
        {
            inner.bars -= old.bars.len();
        }
        inner.bars += n;
        if inner.bars > self.max_bars {
            // Down to three quarters at once, so a full cache is not scanned on every insert.
            let mut by_use: Vec<_> = inner.entries.iter().map(|(k, e)| (e.used, *k)).collect();
            by_use.sort_unstable();
            for (_, key) in by_use {
                if inner.bars <= self.max_bars - self.max_bars / 4 {
                    break;
                }
                if let Some(e) = inner.entries.remove(&key) {
                    inner.bars -= e.bars.len();
                }
            }
        }
    }

    /// The series' generation now: taken before a read lists versions, so that what it finds is
    /// recorded as fresh only if no write of this process came in between.
    pub(crate) fn generation(&self, id: i64, tf: Timeframe) -> Generation {
        self.lock().generation(id, tf)
    }

    /// Records that a read listing the blocks `first..=last` (`listed`: start and version) found
    /// all of them cached at those versions.
    pub(crate) fn mark_fresh(
        &self,
        id: i64,
        tf: Timeframe,
        (first, last): (i64, i64),
        listed: &[(i64, i64)],
        generation: Generation,
    ) {
        let mut inner = self.lock();
        if inner.generation(id, tf) == generation {
            let fresh = Fresh {
                at: std::time::Instant::now(),
                generation,
                first,
                last,
                versions: listed.iter().copied().collect(),
            };
            inner.fresh.insert((id, tf), fresh);
        }
    }

    /// The cached blocks of `[from, to)` when a read found them all current less than
    /// `max_age` ago and this process has not written to the series since: a repeated read then
    /// asks the database nothing. What another process wrote in the meantime shows after at
    /// most `max_age`.
    pub(crate) fn recent(
        &self,
        id: i64,
        tf: Timeframe,
        from: i64,
        to: i64,
        max_age: std::time::Duration,
    ) -> Option<BTreeMap<i64, Bars>> {
        let mut guard = self.lock();
        let generation = guard.generation(id, tf);
        // Split borrows: the fresh record is read while the entries are touched, with no copy.
        let CacheInner {
            entries, fresh, clock, ..
        } = &mut *guard;
        let fresh = fresh.get(&(id, tf))?;
        let (first, last) = (block_of(tf, from), block_of(tf, to - 1));
        if fresh.generation != generation || fresh.at.elapsed() > max_age || first < fresh.first || last > fresh.last {
            return None;
        }
        *clock += 1;
        let mut blocks = BTreeMap::new();
        let mut start = first;
        while start <= last {
            let e = entries.get_mut(&(id, tf, start))?;
            if fresh.versions.get(&start) != Some(&e.version) {
                return None;
            }
            e.used = *clock;
            blocks.insert(start, e.bars.clone());
            start += span_ms(tf);
        }
        Some(blocks)
    }

    /// This process wrote to the series: its next read asks the database again.
    pub(crate) fn forget(&self, id: i64, tf: Timeframe) {
        let mut inner = self.lock();
        *inner.generations.entry((id, tf)).or_default() += 1;
        inner.fresh.remove(&(id, tf));
    }

    /// This process wrote to every series (a copy, an index repair).
    pub(crate) fn forget_all(&self) {
        let mut inner = self.lock();
        inner.all += 1;
        inner.fresh.clear();
    }

    /// Decodes the fetched blocks (start, version, bytes) that `wanted` names into `blocks`,
    /// keeping each in the cache; one that does not decode stays missing.
    pub(crate) fn decode_into<'a>(
        &self,
        id: i64,
        tf: Timeframe,
        wanted: &[i64],
        fetched: impl IntoIterator<Item = (i64, i64, &'a [u8])>,
        blocks: &mut BTreeMap<i64, Bars>,
    ) {
        for (start, version, bytes) in fetched {
            if !wanted.contains(&start) {
                continue;
            }
            if let Some(bars) = unpack(bytes, tf, start) {
                let bars = Arc::new(bars);
                self.insert(id, tf, start, version, bars.clone());
                blocks.insert(start, bars);
            }
        }
    }
}

/// Reads of at least this many bars go through the blocks; shorter ones read the rows.
const BLOCK_READ_BARS: i64 = 2 * BLOCK_BARS;

/// Whether a read of `[from, to)` goes through the blocks: long enough, and within the span of
/// real dates. A read that asks for all time with sentinel bounds (`0..i64::MAX`) reads the rows:
/// its block arithmetic would overflow, and it would list billions of empty spans.
pub(crate) fn through_blocks(tf: Timeframe, from: i64, to: i64) -> bool {
    use candlekeep_core::time::{EARLIEST_MS, LATEST_MS};
    from >= EARLIEST_MS && to <= LATEST_MS && tf.bars_between(from, to) >= BLOCK_READ_BARS
}

/// Bars per block: a block of hourly bars spans about six weeks and packs into 66 kB.
pub(crate) const BLOCK_BARS: i64 = 1_024;

/// The first byte of every block: the layout below.
const FORMAT: u8 = 1;
const HEADER: usize = 1 + 4;
/// Presence bits, open time, open, high, low, close, volume, quote volume, trades.
const RECORD: usize = 1 + 8 * 8;
const HAS_VOLUME: u8 = 1;
const HAS_QUOTE_VOLUME: u8 = 2;
const HAS_TRADES: u8 = 4;

pub(crate) fn span_ms(tf: Timeframe) -> i64 {
    BLOCK_BARS * tf.millis()
}

pub(crate) fn block_of(tf: Timeframe, t: i64) -> i64 {
    t.div_euclid(span_ms(tf)) * span_ms(tf)
}

/// Packs bars (in time order) into a block's bytes.
pub(crate) fn pack(bars: &[Candle]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + RECORD * bars.len());
    out.push(FORMAT);
    out.extend_from_slice(&u32::try_from(bars.len()).unwrap_or(u32::MAX).to_le_bytes());
    for c in bars {
        let flag = |present: bool, bit: u8| if present { bit } else { 0 };
        let present = flag(c.volume.is_some(), HAS_VOLUME)
            | flag(c.quote_volume.is_some(), HAS_QUOTE_VOLUME)
            | flag(c.trades.is_some(), HAS_TRADES);
        out.push(present);
        out.extend_from_slice(&c.open_time_ms.to_le_bytes());
        for v in [c.open, c.high, c.low, c.close] {
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        for v in [c.volume, c.quote_volume] {
            out.extend_from_slice(&v.unwrap_or(0.0).to_bits().to_le_bytes());
        }
        out.extend_from_slice(&c.trades.unwrap_or(0).to_le_bytes());
    }
    out
}

/// The bars of a block that starts at `start`, or `None` when the bytes are not a well-formed
/// block of that span.
pub(crate) fn unpack(bytes: &[u8], tf: Timeframe, start: i64) -> Option<Vec<Candle>> {
    let (&format, rest) = bytes.split_first()?;
    let (count, records) = rest.split_first_chunk::<4>()?;
    let count = u32::from_le_bytes(*count) as usize;
    if format != FORMAT || records.len() != count.checked_mul(RECORD)? {
        return None;
    }
    let end = start + span_ms(tf);
    let mut out: Vec<Candle> = Vec::with_capacity(count);
    for r in records.chunks_exact(RECORD) {
        let present = r[0];
        let word = |i: usize| {
            let at = 1 + 8 * i;
            r.get(at..at + 8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_le_bytes)
        };
        let float = |i: usize| word(i).map(f64::from_bits);
        let open_time_ms = word(0)? as i64;
        let in_order = out.last().is_none_or(|p| p.open_time_ms < open_time_ms);
        if !in_order || open_time_ms < start || open_time_ms >= end {
            return None;
        }
        out.push(Candle {
            open_time_ms,
            open: float(1)?,
            high: float(2)?,
            low: float(3)?,
            close: float(4)?,
            volume: (present & HAS_VOLUME != 0).then_some(float(5)?),
            quote_volume: (present & HAS_QUOTE_VOLUME != 0).then_some(float(6)?),
            trades: (present & HAS_TRADES != 0).then_some(word(7)?),
        });
    }
    Some(out)
}

/// Block starts of `[from, to)` that no decodable block covers.
pub(crate) fn missing(tf: Timeframe, from: i64, to: i64, blocks: &BTreeMap<i64, Bars>) -> Vec<i64> {
    let span = span_ms(tf);
    (0..)
        .map(|k| block_of(tf, from) + k * span)
        .take_while(|s| *s < to)
        .filter(|s| !blocks.contains_key(s))
        .collect()
}

/// The bars of `[from, to)` from the blocks and, where a block is missing, the rows.
pub(crate) fn assemble(
    tf: Timeframe,
    from: i64,
    to: i64,
    blocks: BTreeMap<i64, Bars>,
    rows: Vec<Candle>,
) -> Vec<Candle> {
    let mut out = Vec::with_capacity(usize::try_from(tf.bars_between(from, to)).unwrap_or(0).min(1 << 20));
    let mut rows = rows.into_iter().peekable();
    for (start, bars) in blocks {
        while let Some(r) = rows.next_if(|r| r.open_time_ms < start) {
            out.push(r);
        }
        out.extend(
            bars.iter()
                .filter(|c| c.open_time_ms >= from && c.open_time_ms < to)
                .copied(),
        );
    }
    out.extend(rows);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn bar(t: i64) -> Candle {
        Candle {
            open_time_ms: t,
            open: 1.5,
            high: 2.0,
            low: -0.0,
            close: 1.25,
            volume: Some(10.0),
            quote_volume: None,
            trades: Some(u64::MAX),
        }
    }

    #[test]
    fn a_block_unpacks_to_the_bars_it_packed_bit_for_bit() {
        let start = block_of(Timeframe::H1, 1_700_000_000_000);
        let mut bars: Vec<Candle> = (0..BLOCK_BARS).step_by(3).map(|k| bar(start + k * H)).collect();
        bars[1].volume = None;
        bars[2].trades = None;
        bars[3].quote_volume = Some(f64::MIN_POSITIVE);
        let got = unpack(&pack(&bars), Timeframe::H1, start).unwrap();
        assert_eq!(got, bars);
        assert_eq!(got[0].low.to_bits(), (-0.0f64).to_bits());
        assert_eq!(unpack(&pack(&[]), Timeframe::H1, start), Some(Vec::new()));
    }

    #[test]
    fn damaged_or_foreign_bytes_do_not_decode() {
        let start = block_of(Timeframe::H1, 1_700_000_000_000);
        let bytes = pack(&[bar(start), bar(start + H)]);
        assert!(unpack(&bytes[..bytes.len() - 1], Timeframe::H1, start).is_none());
        assert!(unpack(&[], Timeframe::H1, start).is_none());
        let mut other_format = bytes.clone();
        other_format[0] = FORMAT + 1;
        assert!(unpack(&other_format, Timeframe::H1, start).is_none());
        // The same bytes read as another block's: the bars are outside its span.
        assert!(unpack(&bytes, Timeframe::H1, start + span_ms(Timeframe::H1)).is_none());
        let out_of_order = pack(&[bar(start + H), bar(start)]);
        assert!(unpack(&out_of_order, Timeframe::H1, start).is_none());
    }

    #[test]
    fn only_long_reads_of_real_dates_go_through_the_blocks() {
        let tf = Timeframe::H1;
        let t = 1_700_000_000_000;
        assert!(through_blocks(tf, t, t + 2 * BLOCK_BARS * H));
        assert!(!through_blocks(tf, t, t + 2 * BLOCK_BARS * H - H));
        assert!(!through_blocks(tf, 0, i64::MAX));
        assert!(!through_blocks(tf, i64::MIN, t));
    }

    #[test]
    fn the_cache_answers_only_at_the_stored_version_and_evicts_the_least_recently_used() {
        let tf = Timeframe::H1;
        let cache = BlockCache::new(6);
        let two = |t: i64| Arc::new(vec![bar(t), bar(t + H)]);
        cache.insert(1, tf, 0, 7, two(0));
        cache.insert(1, tf, 10 * H, 8, two(10 * H));
        cache.insert(1, tf, 20 * H, 2, two(20 * H));
        let (found, absent) = cache.lookup(1, tf, &[(0, 7), (10 * H, 9), (40 * H, 1)]);
        assert_eq!(found.keys().copied().collect::<Vec<_>>(), [0]);
        assert_eq!(absent, [10 * H, 40 * H], "another version or none: fetched again");
        assert!(cache.lookup(2, tf, &[(0, 7)]).0.is_empty(), "per instrument");
        // Block 0 was used last: past the limit, blocks 10h and 20h go (down to 5 bars).
        cache.insert(1, tf, 30 * H, 3, two(30 * H));
        assert_eq!(cache.lookup(1, tf, &[(10 * H, 8), (20 * H, 2)]).1, [10 * H, 20 * H]);
        assert_eq!(cache.lookup(1, tf, &[(0, 7), (30 * H, 3)]).1, Vec::<i64>::new());

        let mut blocks = BTreeMap::new();
        let good = pack(&[bar(40 * H)]);
        let start = block_of(tf, 40 * H);
        cache.decode_into(
            1,
            tf,
            &[start],
            [(start, 5, &good[..]), (99, 1, &[1u8][..])],
            &mut blocks,
        );
        assert_eq!(blocks.keys().copied().collect::<Vec<_>>(), [start]);
        assert_eq!(cache.lookup(1, tf, &[(start, 5)]).1, Vec::<i64>::new());
    }

    #[test]
    fn a_fresh_read_is_trusted_until_this_process_writes_or_it_ages() {
        let tf = Timeframe::H1;
        let span = span_ms(tf);
        let cache = BlockCache::default();
        let b0 = block_of(tf, 1_700_000_000_000);
        for k in 0..3 {
            cache.insert(1, tf, b0 + k * span, 1, Arc::new(vec![bar(b0 + k * span)]));
        }
        let listed: Vec<(i64, i64)> = (0..3).map(|k| (b0 + k * span, 1)).collect();
        let blocks = (b0, b0 + 2 * span);
        let long = std::time::Duration::from_secs(60);
        assert!(cache.recent(1, tf, b0, b0 + 3 * span, long).is_none(), "never checked");
        let before = cache.generation(1, tf);
        cache.mark_fresh(1, tf, blocks, &listed, before);
        let got = cache.recent(1, tf, b0 + H, b0 + 2 * span + H, long).unwrap();
        assert_eq!(got.len(), 3);
        assert!(
            cache.recent(1, tf, b0, b0 + 4 * span, long).is_none(),
            "beyond what was checked"
        );
        assert!(
            cache.recent(1, tf, b0, b0 + span, std::time::Duration::ZERO).is_none(),
            "too old"
        );
        cache.forget(2, tf);
        assert!(
            cache.recent(1, tf, b0, b0 + span, long).is_some(),
            "another series was written"
        );
        cache.forget(1, tf);
        assert!(
            cache.recent(1, tf, b0, b0 + span, long).is_none(),
            "this series was written"
        );
        // A read that began before a write records nothing.
        let stale = cache.generation(1, tf);
        cache.forget(1, tf);
        cache.mark_fresh(1, tf, blocks, &listed, stale);
        assert!(cache.recent(1, tf, b0, b0 + span, long).is_none());
        cache.mark_fresh(1, tf, blocks, &listed, cache.generation(1, tf));
        assert!(cache.recent(1, tf, b0, b0 + span, long).is_some());
        // A slow read puts back an older block over the one found current: not trusted.
        cache.insert(1, tf, b0, 0, Arc::new(vec![bar(b0)]));
        assert!(
            cache.recent(1, tf, b0, b0 + span, long).is_none(),
            "an entry changed since"
        );
        let now_listed = [(b0, 0), (b0 + span, 1), (b0 + 2 * span, 1)];
        cache.mark_fresh(1, tf, blocks, &now_listed, cache.generation(1, tf));
        cache.forget_all();
        assert!(
            cache.recent(1, tf, b0, b0 + span, long).is_none(),
            "every series was written"
        );
    }

    #[test]
    fn assembling_keeps_time_order_and_the_asked_range() {
        let tf = Timeframe::H1;
        let span = span_ms(tf);
        let b0 = block_of(tf, 1_700_000_000_000);
        let blocks: BTreeMap<i64, Bars> = [(b0 + span, Arc::new(vec![bar(b0 + span), bar(b0 + span + H)]))]
            .into_iter()
            .collect();
        let rows = vec![bar(b0 + span - H), bar(b0 + 2 * span)];
        let got = assemble(tf, b0 + span - H, b0 + 2 * span + H, blocks.clone(), rows);
        let times: Vec<i64> = got.iter().map(|c| c.open_time_ms).collect();
        assert_eq!(times, [b0 + span - H, b0 + span, b0 + span + H, b0 + 2 * span]);
        let clipped = assemble(tf, b0 + span + H, b0 + 2 * span, blocks, Vec::new());
        assert_eq!(clipped.len(), 1);
        assert_eq!(missing(tf, b0, b0 + 2 * span, &BTreeMap::new()), [b0, b0 + span]);
    }
}
