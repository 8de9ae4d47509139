//! The service's scheduler under a controlled clock (tokio's paused time): minute 5 fires, a
//! running job is not started again, runs missed while down are made up by one run; and on
//! PostgreSQL, a second process takes the schedule over when the leader dies.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use candlekeep_app::jobs::JobKind;
use candlekeep_app::scheduler::{self, Clock, Leadership, PgLeader, Runner, SoleLeader, Tick, Timing};
use candlekeep_app::service::StartError;
use candlekeep_engine::schedule::Cron;
use candlekeep_store::StoreError;
use tokio_util::sync::CancellationToken;

const MIN: i64 = 60_000;
const H: i64 = 60 * MIN;
/// 2024-03-01T10:00:00Z.
const T10: i64 = 1_709_287_200_000;

/// Records each start; a run lasts `run_for` of the clock's time.
struct Recorder {
    clock: Clock,
    run_for: i64,
    last: Option<i64>,
    starts: Mutex<Vec<(JobKind, i64)>>,
    running_until: Mutex<HashMap<JobKind, i64>>,
}

impl Recorder {
    fn new(clock: Clock, run_for: i64, last: Option<i64>) -> Self {
        Self {
            clock,
            run_for,
            last,
            starts: Mutex::new(Vec::new()),
            running_until: Mutex::new(HashMap::new()),
        }
    }
    fn starts(&self) -> Vec<i64> {
        self.starts.lock().unwrap().iter().map(|(_, t)| *t).collect()
    }
}

impl Runner for Recorder {
    fn is_running(&self, kind: JobKind) -> bool {
        self.running_until
            .lock()
            .unwrap()
            .get(&kind)
            .is_some_and(|until| self.clock.now_ms() < *until)
    }
    async fn start(&self, kind: JobKind) -> Result<i64, StartError> {
        let now = self.clock.now_ms();
        let mut starts = self.starts.lock().unwrap();
        starts.push((kind, now));
        self.running_until.lock().unwrap().insert(kind, now + self.run_for);
        Ok(starts.len() as i64)
    }
    async fn last_started(&self, _: JobKind) -> Result<Option<i64>, StoreError> {
        Ok(self.last)
    }
}

/// Runs the schedule of one job from `start_ms` for `span` of controlled time.
async fn run_for(recorder: &Recorder, cron: &str, span: Duration) {
    let stop = CancellationToken::new();
    let jobs = vec![(JobKind::Sync, Cron::parse(cron).unwrap())];
    let timing = Timing {
        tick: Duration::from_secs(1),
        lead_poll: Duration::from_secs(15),
    };
    let stopper = stop.clone();
    let schedule = scheduler::run(recorder, SoleLeader, jobs, recorder.clock, timing, stop, &|_| {});
    let timer = async move {
        tokio::time::sleep(span).await;
        stopper.cancel();
    };
    tokio::join!(schedule, timer);
}

#[tokio::test(start_paused = true)]
async fn minute_five_fires_every_hour_and_not_before() {
    // Last run 09:05; the clock starts at 10:00:30.
    let clock = Clock::starting_at(T10 + 30_000);
    let recorder = Recorder::new(clock, MIN, Some(T10 - H + 5 * MIN));
    run_for(&recorder, "5 * * * *", Duration::from_secs(3 * 3600)).await;
    let starts = recorder.starts();
    assert_eq!(starts.len(), 3, "{starts:?}");
    for (k, t) in starts.iter().enumerate() {
        let fire = T10 + k as i64 * H + 5 * MIN;
        // Started within a tick of minute 5, never before it.
        assert!((fire..fire + 2_000).contains(t), "run {k} at {t}, fire at {fire}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_running_job_is_not_started_again_and_its_missed_firing_runs_once_after() {
    // Each run takes 80 minutes: the 11:05 firing finds the 10:05 run going.
    let clock = Clock::starting_at(T10);
    let recorder = Recorder::new(clock, 80 * MIN, Some(T10 - H + 5 * MIN));
    run_for(&recorder, "5 * * * *", Duration::from_secs(2 * 3600)).await;
    let starts = recorder.starts();
    // 10:05; then not 11:05 (running until 11:25); the missed firing once at 11:25.
    assert_eq!(starts.len(), 2, "{starts:?}");
    assert!((T10 + 5 * MIN..T10 + 5 * MIN + 2_000).contains(&starts[0]));
    let end = starts[0] + 80 * MIN;
    assert!((end..end + 2_000).contains(&starts[1]), "{starts:?}");
}

#[tokio::test(start_paused = true)]
async fn runs_missed_while_down_are_made_up_by_one_run_at_start() {
    // Down since 05:05: five hourly firings missed.
    let clock = Clock::starting_at(T10 + 30 * MIN);
    let recorder = Recorder::new(clock, MIN, Some(T10 - 5 * H + 5 * MIN));
    run_for(&recorder, "5 * * * *", Duration::from_secs(20 * 60)).await;
    let starts = recorder.starts();
    assert_eq!(starts.len(), 1, "one catch-up run, not five: {starts:?}");
    assert!(starts[0] < T10 + 30 * MIN + 2_000);
    // Never ran at all: one run at start too.
    let never = Recorder::new(Clock::starting_at(T10 + 30 * MIN), MIN, None);
    run_for(&never, "5 * * * *", Duration::from_secs(60)).await;
    assert_eq!(never.starts().len(), 1);
}

/// PostgreSQL, when `CANDLEKEEP_TEST_DATABASE_URL` names one.
async fn postgres() -> Option<candlekeep_store::PgStore> {
    let Ok(url) = std::env::var("CANDLEKEEP_TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("CANDLEKEEP_TEST_REQUIRE_PG").is_none(),
            "CANDLEKEEP_TEST_REQUIRE_PG is set but CANDLEKEEP_TEST_DATABASE_URL is not"
        );
        eprintln!("skipped: set CANDLEKEEP_TEST_DATABASE_URL to a PostgreSQL test database");
        return None;
    };
    Some(
        candlekeep_store::PgStore::connect_with(&url, candlekeep_store::postgres::PgOptions::default())
            .await
            .expect("connecting to the test database"),
    )
}

/// A scheduler of its own, with its own leadership, reporting what it does.
fn spawn_scheduler(
    name: &'static str,
    leader: PgLeader,
    recorder: Arc<Recorder>,
    ticks: Arc<Mutex<Vec<(&'static str, Tick)>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let jobs = vec![(JobKind::Health, Cron::parse("* * * * * *").unwrap())];
        let timing = Timing {
            tick: Duration::from_millis(50),
            lead_poll: Duration::from_millis(200),
        };
        let observe = move |t: Tick| ticks.lock().unwrap().push((name, t));
        scheduler::run(
            &*recorder,
            leader,
            jobs,
            Clock::System,
            timing,
            CancellationToken::new(),
            &observe,
        )
        .await;
    })
}

#[tokio::test]
async fn on_postgresql_one_process_schedules_and_another_takes_over_when_it_dies() {
    let Some(pg) = postgres().await else { return };
    let ticks = Arc::new(Mutex::new(Vec::new()));
    let a = Arc::new(Recorder::new(Clock::System, 0, None));
    let b = Arc::new(Recorder::new(Clock::System, 0, None));
    let leads = |ticks: &Mutex<Vec<(&str, Tick)>>, who: &str| {
        ticks
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, t)| *n == who && *t == Tick::Leading)
            .count()
    };
    let first = spawn_scheduler("a", PgLeader::new(pg.work_queue("a")), a.clone(), ticks.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while leads(&ticks, "a") == 0 {
        assert!(tokio::time::Instant::now() < deadline, "a never took the lead");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = spawn_scheduler("b", PgLeader::new(pg.work_queue("b")), b.clone(), ticks.clone());
    // While a leads, b only waits: 1.5 s of a's runs, none of b's.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(leads(&ticks, "b"), 0);
    assert!(b.starts().is_empty(), "b ran while a led: {:?}", b.starts());
    assert!(!a.starts().is_empty(), "a led but ran nothing");

    // The leader dies: its task and its lock connection go.
    first.abort();
    let _ = first.await;
    let died = tokio::time::Instant::now();
    while leads(&ticks, "b") == 0 {
        assert!(died.elapsed() < Duration::from_secs(10), "b did not take over");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(!b.starts().is_empty(), "b took the lead but ran nothing");
    second.abort();
    let _ = second.await;
    // The lock is free again for whoever comes next.
    let mut next = PgLeader::new(pg.work_queue("c"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !next.lead().await.unwrap() {
        assert!(tokio::time::Instant::now() < deadline, "the lock stayed taken");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    next.resign().await;
}
