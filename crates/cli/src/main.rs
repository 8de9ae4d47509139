//! The `candlekeep` binary.

mod commands;
mod logging;
mod progress;
mod signals;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

/// Candlekeep keeps a complete, verified history of crypto candles with their provenance.
#[derive(Debug, Parser)]
#[command(name = "candlekeep", version, about, long_about = None)]
struct Cli {
    /// Configuration file (created by `candlekeep init`).
    #[arg(long, global = true, value_name = "FILE", default_value = "candlekeep.toml")]
    config: PathBuf,
    /// Database to use: sqlite:data/candlekeep.db or postgres://user:password@host/db
    /// (overrides the config file).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Use simulated venues (Binance, OKX, Bybit, CryptoCompare, CoinGecko) on 127.0.0.1 instead
    /// of the internet (synthetic prices, stored in data/candlekeep-demo.db unless
    /// --database-url says otherwise).
    #[arg(long, global = true)]
    demo: bool,
    /// With --demo: simulate this many more coins (SIM001USDT, SIM002USDT, …, on both markets)
    /// beyond the 20 named ones, for universe-sized runs.
    #[arg(long, global = true, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=999))]
    demo_extra_coins: u32,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a commented candlekeep.toml and create the database.
    Init(commands::init::Args),
    /// Fetch the history of a date range; resumes where an earlier run stopped.
    Backfill(commands::collect::BackfillArgs),
    /// Fetch the newest closed candles of every configured series.
    Sync(commands::collect::SyncArgs),
    /// Load Binance public-archive files (.zip or .csv; folders are searched).
    Import(commands::import::Args),
    /// Show, per series: first and last candle, count, completeness, missing bars, age, candles
    /// per source; --cross-check: how sources agree.
    Status(commands::status::Args),
    /// List the gap ledger (missing hours within each series' listed lifetime); --fill repairs
    /// open gaps through the fallback chain.
    Gaps(commands::gaps::Args),
    /// Judge each series day by day (completeness, rejects, flags, divergence, fallback
    /// share, one score), worst first, with freshness.
    Quality(commands::quality::Args),
    /// The latest values of the standard indicator set (TA-Lib's definitions) for each stored
    /// series, RSI marked overbought or oversold; saved for the dashboard.
    Indicators(commands::indicators::Args),
    /// Share backfill and sync with other workers through PostgreSQL: units of work are claimed
    /// under leases, one worker plans them, and a dead worker's units move on to the others.
    Worker(commands::worker::Args),
    /// Copy a whole store to another database (SQLite to PostgreSQL or back), verifying every
    /// table's row count and content hash.
    Migrate(commands::migrate::Args),
    /// Run the service: the scheduler ([schedule]) and the HTTP API (/api/v1, OpenAPI at
    /// /api/v1/openapi.json) in one process; --demo serves simulated venues with recent history.
    Serve(commands::serve::Args),
}

#[tokio::main]
async fn main() -> ExitCode {
    // A bad .env stops the run: using only the lines before the bad one could mean another
    // database.
    if let Err(e) = candlekeep_app::config::load_dotenv() {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    // The service logs what it does; a one-off command only warnings (its output says the rest).
    let logged = match &cli.command {
        Command::Serve(args) => logging::init(args.log_format, args.log_dir.as_deref(), "info"),
        _ => logging::init(logging::Format::Text, None, "warn"),
    };
    let _log_guard = match logged {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let serving = matches!(cli.command, Command::Serve(_));

    // Before any job starts: from here on a signal stops a job at a commit boundary, with its
    // record, instead of killing it mid-run.
    if let Err(e) = signals::install() {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    let global = commands::Global {
        config: cli.config,
        database_url: cli.database_url,
        demo: cli.demo,
        demo_extra_coins: cli.demo_extra_coins,
    };
    let result = match cli.command {
        Command::Init(args) => commands::init::run(&global, args).await,
        Command::Backfill(args) => commands::collect::backfill(&global, args).await,
        Command::Sync(args) => commands::collect::sync(&global, args).await,
        Command::Import(args) => commands::import::run(&global, args).await,
        Command::Status(args) => commands::status::run(&global, args).await,
        Command::Gaps(args) => commands::gaps::run(&global, args).await,
        Command::Quality(args) => commands::quality::run(&global, args).await,
        Command::Indicators(args) => commands::indicators::run(&global, args).await,
        Command::Worker(args) => commands::worker::run(&global, args).await,
        Command::Migrate(args) => commands::migrate::run(&global, args).await,
        Command::Serve(args) => commands::serve::run(&global, args).await,
    };
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    };
    // Asked to stop: the exit status says so even where the job had nothing left to stop. The
    // service stopping on a signal is its normal end.
    if serving {
        return code;
    }
    signals::received().map_or(code, signals::Signal::exit_code)
}
