//! Units of backfill work (one series over one time range) and the queues that hand them out
//! ([`crate::access::WorkQueue`]): PostgreSQL's, shared by worker processes under leases
//! ([`crate::postgres::queue`]), and [`LocalQueue`], the same rules in one process's memory, for
//! the scheduler of a process on SQLite.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use candlekeep_core::{Instrument, SourceId, Timeframe, time::now_ms};

use crate::access::WorkQueue;
use crate::{StoreError, StoreHandle};

/// A failed unit is tried this many times before it is marked failed.
pub const MAX_ATTEMPTS: i64 = 3;

/// One unit to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUnit {
    pub instrument_id: i64,
    pub timeframe: Timeframe,
    pub start_ms: i64,
    pub end_ms: i64,
    pub chain: Vec<SourceId>,
}

/// A claimed unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub id: i64,
    pub instrument: Instrument,
    pub timeframe: Timeframe,
    pub start_ms: i64,
    pub end_ms: i64,
    pub chain: Vec<SourceId>,
    pub attempts: i64,
}

/// Units by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub pending: i64,
    /// Pending units under a live lease (being worked on).
    pub leased: i64,
    pub done: i64,
    pub failed: i64,
    /// Bars the counted units wrote, over all their runs.
    pub written: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pending,
    Done,
    Failed,
}

#[derive(Debug)]
struct Entry {
    unit: NewUnit,
    status: Status,
    attempts: i64,
    owner: Option<String>,
    lease_until: Option<i64>,
    written: u64,
    error: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    /// By id, which is the order units are claimed in (oldest first).
    units: BTreeMap<i64, Entry>,
    keys: HashMap<(i64, Timeframe, i64, i64), i64>,
    plans: HashMap<String, usize>,
    scheduler: Option<String>,
}

/// The work queue in this process's memory: the same rules as PostgreSQL's (one holder per unit
/// under a lease that runs out, [`MAX_ATTEMPTS`] tries, a done unit reopened when a plan reaches
/// past its end, one scheduler at a time), for the workers of one process. Nothing is persisted:
/// the plan is made again when the process starts, and the store's covered ranges make the
/// repeated work free. Views made with [`LocalQueue::worker`] share the queue.
#[derive(Debug)]
pub struct LocalQueue {
    state: Arc<Mutex<State>>,
    /// Where claimed units' instruments are looked up.
    store: StoreHandle,
    owner: String,
}

impl LocalQueue {
    /// A new, empty queue, as seen by the worker named `owner`.
    pub fn new(store: StoreHandle, owner: &str) -> Self {
        Self {
            state: Arc::default(),
            store,
            owner: owner.to_owned(),
        }
    }

    /// The same queue, as seen by another worker.
    pub fn worker(&self, owner: &str) -> Self {
        Self {
            state: self.state.clone(),
            store: self.store.clone(),
            owner: owner.to_owned(),
        }
    }

    /// The state, held only for the few map operations of one call (never across an await).
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A worker's view that is dropped gives the scheduler role up if it held it, as PostgreSQL's session
/// lock goes with its connection.
impl Drop for LocalQueue {
    fn drop(&mut self) {
        let owner = std::mem::take(&mut self.owner);
        self.with(|s| {
            if s.scheduler.as_ref() == Some(&owner) {
                s.scheduler = None;
            }
        });
    }
}

impl WorkQueue for LocalQueue {
    async fn try_schedule(&mut self) -> Result<bool, StoreError> {
        let owner = self.owner.clone();
        Ok(self.with(|s| match &s.scheduler {
            Some(holder) => *holder == owner,
            None => {
                s.scheduler = Some(owner);
                true
            }
        }))
    }

    async fn stop_scheduling(&mut self) {
        let owner = self.owner.clone();
        self.with(|s| {
            if s.scheduler.as_ref() == Some(&owner) {
                s.scheduler = None;
            }
        });
    }

    async fn enqueue(&mut self, name: &str, units: &[NewUnit], reopen_after_ms: i64) -> Result<u64, StoreError> {
        Ok(self.with(|s| {
            let mut added = 0;
            for u in units {
                let key = (u.instrument_id, u.timeframe, u.start_ms, u.end_ms);
                match s.keys.get(&key).and_then(|id| s.units.get_mut(id)) {
                    Some(e) => {
                        let reopen = match e.status {
                            Status::Failed => true,
                            Status::Done => e.unit.end_ms > reopen_after_ms,
                            Status::Pending => false,
                        };
                        if reopen {
                            e.status = Status::Pending;
                            e.unit.chain = u.chain.clone();
                            e.attempts = 0;
                            e.error = None;
                            added += 1;
                        }
                    }
                    None => {
                        let id = s.units.keys().next_back().map_or(1, |last| last + 1);
                        s.keys.insert(key, id);
                        s.units.insert(
                            id,
                            Entry {
                                unit: u.clone(),
                                status: Status::Pending,
                                attempts: 0,
                                owner: None,
                                lease_until: None,
                                written: 0,
                                error: None,
                            },
                        );
                        added += 1;
                    }
                }
            }
            s.plans.insert(name.to_owned(), units.len());
            added
        }))
    }

    async fn planned(&mut self, name: &str) -> Result<bool, StoreError> {
        Ok(self.with(|s| s.plans.contains_key(name)))
    }

    async fn claim(&mut self, lease_ms: i64) -> Result<Option<Unit>, StoreError> {
        loop {
            // The candidate is looked up before it is taken: a lookup that fails leaves it
            // pending, as PostgreSQL's transaction does.
            let now = now_ms();
            let candidate = self.with(|s| {
                s.units
                    .iter()
                    .find(|(_, e)| e.status == Status::Pending && e.lease_until.is_none_or(|t| t <= now))
                    .map(|(id, e)| (*id, e.unit.instrument_id))
            });
            let Some((id, instrument_id)) = candidate else {
                return Ok(None);
            };
            let instrument = self
                .store
                .read_with(move |s| s.instrument_of(instrument_id))
                .await?
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("work unit {id} names unknown instrument id {instrument_id}"))
                })?;
            let owner = self.owner.clone();
            let now = now_ms();
            let claimed = self.with(|s| {
                let e = s.units.get_mut(&id)?;
                // Another worker may have taken it meanwhile: then look again.
                if e.status != Status::Pending || e.lease_until.is_some_and(|t| t > now) {
                    return None;
                }
                e.owner = Some(owner);
                e.lease_until = Some(now.saturating_add(lease_ms));
                e.attempts += 1;
                Some((e.unit.clone(), e.attempts))
            });
            if let Some((unit, attempts)) = claimed {
                return Ok(Some(Unit {
                    id,
                    instrument,
                    timeframe: unit.timeframe,
                    start_ms: unit.start_ms,
                    end_ms: unit.end_ms,
                    chain: unit.chain,
                    attempts,
                }));
            }
        }
    }

    async fn renew(&mut self, id: i64, lease_ms: i64) -> Result<bool, StoreError> {
        let now = now_ms();
        let owner = self.owner.clone();
        Ok(self.with(|s| match s.units.get_mut(&id) {
            Some(e) if e.owner.as_ref() == Some(&owner) && e.status == Status::Pending => {
                // A lease that ran out may have gone to another worker meanwhile: then the owner
                // changed and this renewal is refused above.
                e.lease_until = Some(now.saturating_add(lease_ms));
                true
            }
            _ => false,
        }))
    }

    async fn finish(&mut self, id: i64, written: u64, error: Option<&str>, retry_ms: i64) -> Result<(), StoreError> {
        let now = now_ms();
        let owner = self.owner.clone();
        self.with(|s| {
            let Some(e) = s.units.get_mut(&id).filter(|e| e.owner.as_ref() == Some(&owner)) else {
                return;
            };
            e.written += written;
            match error {
                None => {
                    e.status = Status::Done;
                    e.error = None;
                    e.lease_until = None;
                }
                Some(message) => {
                    e.error = Some(message.to_owned());
                    e.status = if e.attempts >= MAX_ATTEMPTS {
                        Status::Failed
                    } else {
                        Status::Pending
                    };
                    e.lease_until = Some(now.saturating_add(retry_ms));
                }
            }
        });
        Ok(())
    }

    async fn counts(&mut self) -> Result<QueueCounts, StoreError> {
        let now = now_ms();
        Ok(self.with(|s| count(s.units.values(), now)))
    }

    async fn counts_of(&mut self, units: &[NewUnit]) -> Result<QueueCounts, StoreError> {
        let now = now_ms();
        Ok(self.with(|s| {
            let entries = units
                .iter()
                .filter_map(|u| s.keys.get(&(u.instrument_id, u.timeframe, u.start_ms, u.end_ms)))
                .filter_map(|id| s.units.get(id));
            count(entries, now)
        }))
    }
}

/// Units by state, of `entries`.
fn count<'a>(entries: impl Iterator<Item = &'a Entry>, now: i64) -> QueueCounts {
    let mut c = QueueCounts::default();
    for e in entries {
        match e.status {
            Status::Pending => {
                c.pending += 1;
                if e.owner.is_some() && e.lease_until.is_some_and(|t| t > now) {
                    c.leased += 1;
                }
            }
            Status::Done => c.done += 1,
            Status::Failed => c.failed += 1,
        }
        c.written = c.written.saturating_add(i64::try_from(e.written).unwrap_or(i64::MAX));
    }
    c
}
