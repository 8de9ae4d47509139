//! `candlekeep serve`: the service. The scheduler and the HTTP API in one process, sharing one
//! store; with `--demo`, on simulated venues with recent history backfilled at first start.
//!
//! Stopping (SIGTERM, SIGINT or SIGHUP): the API stops taking requests, running jobs are cut at
//! their current await (every page they write is one transaction, so what is stored is whole
//! pages) and recorded `interrupted`, and the process exits 0. A second signal ends it at once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use candlekeep_app::cluster::{self, QueueRole};
use candlekeep_app::jobs::{JobArgs, JobContext, JobKind};
use candlekeep_app::scheduler::{self, Clock, StoreLeader, Timing};
use candlekeep_app::service::Service;
use candlekeep_app::store::open_store;
use candlekeep_core::time::{DAY_MS, format_ms, now_ms};
use candlekeep_server::ApiState;
use candlekeep_store::CandleRead;
use tokio_util::sync::CancellationToken;

use super::Global;

/// Units of the PostgreSQL work queue this process runs at a time.
const QUEUE_SLOTS: usize = 8;

/// How long a stop waits for running jobs to record their end.
const STOP_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address and port to listen on [default: server.bind, 127.0.0.1:8080]. Any address but a
    /// loopback one needs an admin token (server.admin_token or CANDLEKEEP_SERVER_ADMIN_TOKEN).
    #[arg(long, value_name = "ADDR:PORT")]
    pub bind: Option<SocketAddr>,
    /// Log lines as text (colour on a terminal) or as JSON objects, one per line.
    #[arg(long, value_enum, default_value_t = crate::logging::Format::Text)]
    pub log_format: crate::logging::Format,
    /// Also write the log into this folder, one file per day (candlekeep.log.YYYY-MM-DD).
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// Serve the API only: no scheduled jobs in this process (jobs start only through POST
    /// /api/v1/jobs/...). For an extra API process beside a scheduling one.
    #[arg(long)]
    pub no_schedule: bool,
    /// With --demo: days of recent history backfilled at first start.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub demo_days: u32,
    /// With --demo: coins (largest first) backfilled at first start.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=200))]
    pub demo_coins: u32,
}

/// Whether `addr` only accepts connections from this machine.
fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

pub async fn run(global: &Global, args: Args) -> Result<ExitCode> {
    // What a person starting the service should read: a plain line on a terminal, a log record
    // when the log is JSON (so stderr stays one JSON object per line).
    let json = args.log_format == crate::logging::Format::Json;
    let say = |message: &str| {
        if json {
            tracing::info!("{message}");
        } else {
            eprintln!("{message}");
        }
    };
    let mut config = global.load_config()?;
    let bind: SocketAddr = match args.bind {
        Some(b) => b,
        None => config.server.bind.parse().context("server.bind")?,
    };
    let token = config.server.admin_token.trim().to_owned();
    if !is_loopback(&bind) && token.is_empty() {
        bail!(
            "refusing to listen on {bind} without an admin token: anyone who can reach it could start jobs. \
             Set server.admin_token or CANDLEKEEP_SERVER_ADMIN_TOKEN, or bind a loopback address (127.0.0.1)"
        );
    }
    if global.demo {
        let line = candlekeep_app::demo::start_with(&mut config, global.demo_extra_coins).await?;
        say(&line);
    }
    let postgres = candlekeep_app::store::is_postgres(&config.database.url);
    let owner = format!("serve-{}", std::process::id());
    if postgres {
        // The queue's slots each hold a connection while a unit runs; the API and the jobs
        // need theirs beside them.
        config.database.pool_size = config.database.pool_size.max(QUEUE_SLOTS as u32 + 8);
    }
    let store = open_store(&config).await?;
    let mut ctx = JobContext::new(config.clone(), store.clone());
    let stop_workers = CancellationToken::new();
    let mut queue_workers = None;
    if postgres {
        let role = QueueRole::new(owner.clone(), QUEUE_SLOTS);
        queue_workers =
            Some(cluster::start_workers(&config, &store, &role, ctx.events.clone(), stop_workers.clone()).await?);
        ctx.queue = Some(role);
    }
    let service = Service::new(ctx);
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let local = listener.local_addr().context("reading the listening address")?;
    tracing::info!(address = %local, backend = %store.describe().await.unwrap_or_default(), "serving");
    say(&format!(
        "candlekeep serve: API on http://{local}/api/v1 (OpenAPI at /api/v1/openapi.json); Ctrl-C stops"
    ));
    if token.is_empty() {
        say("note: no admin token is set, so POST requests (starting jobs) are refused");
    }

    // The demo's first start: the largest coins' recent history, in the background, so the API
    // answers at once and fills within seconds; the schedule starts after it (its first sync
    // then keeps those series fresh instead of racing the backfill).
    let demo_first_start = global.demo && store.series_status().await?.is_empty();
    let (coins, days) = (args.demo_coins, args.demo_days);
    let no_schedule = args.no_schedule;

    let jobs = scheduler::entries(&config.schedule).context("[schedule]")?;
    let leader = StoreLeader::for_store(&store, &owner).await?;
    let stop = service.stopping();
    let mut schedule = {
        let service = service.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            if demo_first_start {
                demo_backfill(&service, coins, days).await;
            }
            if no_schedule {
                return;
            }
            scheduler::run(
                &service,
                leader,
                jobs,
                Clock::System,
                Timing::default(),
                stop,
                &|tick| {
                    tracing::debug!(?tick, "scheduler");
                },
            )
            .await;
        })
    };

    let stop_api = CancellationToken::new();
    let mut api = tokio::spawn(candlekeep_server::serve(
        listener,
        ApiState::new(service.clone()),
        stop_api.clone().cancelled_owned(),
    ));
    let mut failure = None;
    tokio::select! {
        got = crate::signals::wait() => {
            tracing::info!(signal = ?got, "stopping: no new requests or runs; running jobs are cut at their current page");
            say("stopping: running jobs record how far they got");
        }
        ended = &mut api => {
            failure = Some(match ended {
                Ok(Ok(())) => anyhow::anyhow!("the HTTP server stopped"),
                Ok(Err(e)) => anyhow::Error::new(e).context("the HTTP server failed"),
                Err(e) => anyhow::anyhow!("the HTTP server's task ended: {e}"),
            });
        }
    }
    stop_api.cancel();
    stop_workers.cancel();
    let recorded = service.shutdown(STOP_GRACE).await;
    // Requests in flight finish; event streams are closed by the API itself.
    if tokio::time::timeout(Duration::from_secs(5), &mut api).await.is_err() {
        api.abort();
    }
    // The scheduler ends at its next look at the clock; one stuck on an unreachable database
    // is dropped (with it its leadership connection, which gives the lock up).
    if tokio::time::timeout(Duration::from_secs(5), &mut schedule)
        .await
        .is_err()
    {
        schedule.abort();
    }
    if let Some(mut w) = queue_workers
        && tokio::time::timeout(Duration::from_secs(5), &mut w).await.is_err()
    {
        w.abort();
    }
    if !recorded {
        eprintln!(
            "warning: some runs did not record their end within {STOP_GRACE:?}; they stay `running` until a later run on this host finds their process gone"
        );
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// Ranks the demo universe and backfills its `coins` largest coins' last `days` days.
async fn demo_backfill(service: &Service, coins: u32, days: u32) {
    let universe = JobArgs {
        max_coins: Some(coins),
        ..JobArgs::default()
    };
    if let Err(e) = service.run(JobKind::Universe, universe, "demo first start").await {
        tracing::warn!(error = %e, "demo: the universe could not be ranked");
        return;
    }
    let from = format_ms(now_ms() - i64::from(days) * DAY_MS);
    let backfill = JobArgs {
        max_coins: Some(coins),
        from: Some(from[..10].to_owned()),
        ..JobArgs::default()
    };
    match service.run(JobKind::Backfill, backfill, "demo first start").await {
        Ok((id, outcome)) => {
            tracing::info!(id, bars = outcome.rows_written, "demo: recent history backfilled");
            let _ = service
                .run(JobKind::Indicators, JobArgs::default(), "demo first start")
                .await;
            let _ = service
                .run(JobKind::Quality, JobArgs::default(), "demo first start")
                .await;
        }
        Err(e) => tracing::warn!(error = %e, "demo: the backfill did not start"),
    }
}
