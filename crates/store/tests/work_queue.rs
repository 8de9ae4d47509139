//! The work queue's rules, on PostgreSQL's queue and on the in-process one: a unit is held by one
//! worker at a time under a lease that moves on when it runs out, and the scheduler role is held
//! by one process (one worker) and moves on when it leaves.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::Duration;

use candlekeep_core::{Instrument, Market, SourceId, Timeframe};
use candlekeep_store::queue::LocalQueue;
use candlekeep_store::queue::{NewUnit, QueueCounts};
use candlekeep_store::{CandleWrite, PgStore, StoreHandle, WorkQueue};
use candlekeep_testkit::pg;

const DAY: i64 = 86_400_000;

/// The rules every queue keeps, with two workers `a` and `b` on an empty queue; `b` is handed
/// back holding the scheduler role.
async fn queue_rules<Q: WorkQueue>(mut a: Q, mut b: Q, id: i64, btc: &Instrument) -> Q {
    let unit = |k: i64| NewUnit {
        instrument_id: id,
        timeframe: Timeframe::H1,
        start_ms: k * DAY,
        end_ms: (k + 1) * DAY,
        chain: vec![SourceId::BinanceSpotRest, SourceId::OkxRest],
    };

    // One scheduler at a time; when it leaves, another takes the role.
    assert!(a.try_schedule().await.unwrap());
    assert!(!b.try_schedule().await.unwrap());
    assert!(!b.planned("schedule").await.unwrap());
    assert_eq!(a.enqueue("schedule", &[unit(0), unit(1)], 0).await.unwrap(), 2);
    // Planning again adds nothing.
    assert_eq!(a.enqueue("schedule", &[unit(0), unit(1)], 0).await.unwrap(), 0);
    assert!(b.planned("schedule").await.unwrap());
    a.stop_scheduling().await;
    assert!(b.try_schedule().await.unwrap());

    // Each unit goes to one worker; a lease that runs out moves the unit on.
    let first = a.claim(1_000).await.unwrap().unwrap();
    let second = b.claim(60_000).await.unwrap().unwrap();
    assert_ne!(first.id, second.id);
    assert_eq!(&first.instrument, btc);
    assert_eq!(first.chain, vec![SourceId::BinanceSpotRest, SourceId::OkxRest]);
    assert!(b.claim(60_000).await.unwrap().is_none(), "both units are held");
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let taken = b.claim(60_000).await.unwrap().unwrap();
    assert_eq!((taken.id, taken.attempts), (first.id, 2));
    assert!(!a.renew(first.id, 1_000).await.unwrap(), "a's lease is gone");
    assert!(b.renew(taken.id, 60_000).await.unwrap());

    // A failed unit waits and is tried again; a done one is done, and reopened when planning
    // reaches past its end.
    b.finish(taken.id, 10, Some("venue down"), 0).await.unwrap();
    b.finish(second.id, 24, None, 0).await.unwrap();
    let again = b.claim(60_000).await.unwrap().unwrap();
    assert_eq!((again.id, again.attempts), (first.id, 3));
    b.finish(again.id, 0, Some("venue down"), 0).await.unwrap();
    assert_eq!(
        b.counts().await.unwrap(),
        QueueCounts {
            pending: 0,
            leased: 0,
            done: 1,
            failed: 1,
            written: 34
        }
    );
    assert_eq!(
        b.enqueue("schedule", &[unit(1)], DAY).await.unwrap(),
        1,
        "the newest unit reopens"
    );
    assert_eq!(b.counts().await.unwrap().pending, 1);
    // Counted unit by unit: the failed one, the reopened one, and one never queued (not counted).
    assert_eq!(
        b.counts_of(&[unit(0), unit(1), unit(5)]).await.unwrap(),
        QueueCounts {
            pending: 1,
            leased: 0,
            done: 0,
            failed: 1,
            written: 34
        }
    );
    // A failed unit planned again gets a new chance, its attempts reset.
    assert_eq!(b.enqueue("schedule", &[unit(0)], DAY).await.unwrap(), 1);
    assert_eq!(b.counts_of(&[unit(0)]).await.unwrap().pending, 1);
    let retried = b.claim(60_000).await.unwrap().unwrap();
    assert_eq!(retried.attempts, 1);

    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_process_queue_keeps_the_same_rules() {
    let store = StoreHandle::in_memory().unwrap();
    let btc = Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap();
    let id = store.instrument_id(&btc).await.unwrap();
    let a = LocalQueue::new(store, "a");
    let b = a.worker("b");
    let b = queue_rules(a, b, id, &btc).await;
    // A worker that goes (its view dropped, as a process's lock goes with its connection) gives
    // the role up.
    let mut c = b.worker("c");
    assert!(!c.try_schedule().await.unwrap());
    drop(b);
    assert!(c.try_schedule().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_and_the_scheduler_role_move_on() {
    if !tokio::task::spawn_blocking(pg::available).await.unwrap() {
        return;
    }
    let schema = tokio::task::spawn_blocking(|| pg::TestSchema::create().unwrap())
        .await
        .unwrap();
    let store = PgStore::connect(&schema.url).await.unwrap();
    let btc = Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap();
    let id = store.instrument_id(&btc).await.unwrap();
    let b = queue_rules(store.work_queue("a"), store.work_queue("b"), id, &btc).await;

    // A queue dropped while it holds the scheduler role takes the role's lock with it (its
    // connection is closed, not left idle in the pool holding it): another process takes over
    // as soon as the server has noticed.
    drop(b);
    let other_process = PgStore::connect(&schema.url).await.unwrap();
    let mut c = other_process.work_queue("c");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !c.try_schedule().await.unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "the dropped scheduler's lock stayed held"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
