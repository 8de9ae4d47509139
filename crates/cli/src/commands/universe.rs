//! `candlekeep sync --symbols-only`: refresh the universe.

use std::process::ExitCode;

use anyhow::Result;
use candlekeep_app::registry;
use candlekeep_app::store::open_store;
use candlekeep_core::Market;
use candlekeep_engine::universe;
use candlekeep_store::{JobLog, JobStatus, UniverseStore};

use super::{Global, finish_job, invocation};

pub async fn refresh(global: &Global, max_coins: Option<u32>) -> Result<ExitCode> {
    {
        let mut config = global.load_config()?;
        if global.demo {
            global.start_demo(&mut config).await?;
        }
        let max_coins = max_coins.unwrap_or(config.universe.max_coins).max(1) as usize;
        let coingecko = registry::coingecko(&config)?;
        let venues = registry::listing_sources(&config)?;
        let quote = config.collect.quote.trim().to_ascii_uppercase();

        let store = open_store(&config).await?;
        let job = store.job_started("universe", &invocation()).await?;
        // A signal drops the refresh at its next await: each venue's listings are stored in one
        // transaction, so what is stored is whole.
        let refreshed = tokio::select! {
            r = universe::refresh(&store, &coingecko, &venues, max_coins, &quote) => r,
            signal = crate::signals::wait() => {
                return Ok(crate::signals::stopped(&store, job, 0, vec![], signal).await);
            }
        };
        let report = match refreshed {
            Ok(r) => r,
            Err(e) => {
                let msg = format!("{e:#}");
                finish_job(&store, job, JobStatus::Failed, 0, vec![], Some(msg)).await;
                return Err(anyhow::Error::new(e).context("refreshing the universe"));
            }
        };
        println!("universe: {} assets ranked by market cap (CoinGecko)", report.assets);
        match &report.coins_list {
            Ok(true) => println!("coin id list: fetched (kept for 24 h)"),
            Ok(false) => println!("coin id list: cached copy is less than 24 h old"),
            Err(e) => println!("coin id list: not refreshed: {e}"),
        }
        let mut failures = Vec::new();
        let mut listed = 0;
        for (venue, market, result) in &report.venues {
            match result {
                Ok(c) => {
                    listed += c.listed;
                    println!(
                        "{:<8} {:<5} {:>5} {quote} pairs listed  ({} new, {} delisted, {} relisted)",
                        venue.to_string(),
                        market.to_string(),
                        c.listed,
                        c.new,
                        c.delisted,
                        c.relisted
                    );
                }
                Err(e) => {
                    println!("{:<8} {:<5} FAILED: {e}", venue.to_string(), market.to_string());
                    failures.push(format!("{venue} {market}: {e}"));
                }
            }
        }
        let assets = store.ranked_assets(max_coins).await?;
        let listings = store.listings().await?;
        let series = universe::series(&assets, &listings, &Market::ALL, &quote).len();
        println!("{series} series (coin × market) are listed somewhere; collect them with --max-coins {max_coins}");
        let (status, error) = if failures.is_empty() {
            (JobStatus::Ok, None)
        } else {
            (JobStatus::Failed, Some(failures.join("; ")))
        };
        finish_job(&store, job, status, listed, vec![], error).await;
        Ok(if failures.is_empty() {
            ExitCode::SUCCESS
        } else {
            eprintln!("error: some instrument lists could not be fetched; their listings were left as they were");
            ExitCode::FAILURE
        })
    }
}
