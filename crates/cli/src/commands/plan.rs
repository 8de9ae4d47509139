//! The flags that say which series a backfill, sync or worker covers, and its date range; the
//! plan itself is `candlekeep_app::plan`.

use anyhow::{Context, Result};
use candlekeep_app::config;
use candlekeep_core::Timeframe;

#[derive(Debug, clap::Args)]
pub struct Selection {
    /// Assets or symbols, comma-separated (BTC,ETH or BTCUSDT); default: collect.assets.
    #[arg(long, alias = "symbol", value_delimiter = ',', conflicts_with = "max_coins")]
    pub symbols: Option<Vec<String>>,
    /// The N largest coins of the universe (refreshed by `sync --symbols-only`) instead of
    /// --symbols; with --symbols-only, how many coins to rank (default universe.max_coins).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(config::MAX_COINS)))]
    pub max_coins: Option<u32>,
    /// Markets, comma-separated: spot, usdm; default: collect.markets.
    #[arg(long)]
    pub markets: Option<String>,
    /// 1m, 5m, 15m, 1h, 4h or 1d; default: collect.timeframe.
    #[arg(long)]
    pub timeframe: Option<Timeframe>,
}

/// `--from` and `--to`, as backfill and worker take them.
#[derive(Debug, clap::Args)]
pub struct DateRange {
    /// First day (UTC), e.g. 2020-01-01 or 2020-01-01T06:00.
    #[arg(long)]
    pub from: String,
    /// End (exclusive, UTC); default: now (a worker then keeps going as new bars close). Only
    /// closed candles are ever stored.
    #[arg(long)]
    pub to: Option<String>,
}

impl DateRange {
    /// `(from, to)` in epoch ms, checked: `from` in the past, `to` after it.
    pub fn resolve(&self) -> Result<(i64, Option<i64>)> {
        use candlekeep_core::time::{format_ms, now_ms, parse_date_ms};
        let from = parse_date_ms(&self.from).context("--from")?;
        let to = self.to.as_deref().map(parse_date_ms).transpose().context("--to")?;
        if let Some(to) = to {
            anyhow::ensure!(
                to > from,
                "--to ({}) must be after --from ({})",
                format_ms(to),
                format_ms(from)
            );
        }
        anyhow::ensure!(from < now_ms(), "--from ({}) is in the future", format_ms(from));
        Ok((from, to))
    }
}

impl Selection {
    /// The selection as the app takes it.
    pub fn to_app(&self) -> candlekeep_app::plan::Selection {
        candlekeep_app::plan::Selection {
            symbols: self.symbols.clone(),
            max_coins: self.max_coins,
            markets: self.markets.clone(),
            timeframe: self.timeframe,
            series: None,
        }
    }
}
