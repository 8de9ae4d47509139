//! `candlekeep import`.

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    process::ExitCode,
    time::Instant,
};

use anyhow::{Context, Result, bail};
use candlekeep_app::config::{Config, parse_chain};
use candlekeep_app::store::open_store;
use candlekeep_core::{Market, Timeframe};
use candlekeep_engine::import::{Chains, ImportOptions, Overwrite, import_files};
use candlekeep_store::{JobLog, JobStatus};

use super::{Global, finish_job, invocation};
use crate::progress::CliProgress;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Archive files (.zip, .csv) or folders holding them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// spot or usdm, for files outside Binance's folder layout (a file whose folders say
    /// otherwise is refused).
    #[arg(long)]
    market: Option<Market>,
    /// Timeframe, for files whose names do not say it (a file whose name says otherwise is
    /// refused).
    #[arg(long)]
    timeframe: Option<Timeframe>,
    /// Symbol (e.g. BTCUSDT), for files whose names do not say it (a file whose name says
    /// otherwise is refused).
    #[arg(long)]
    symbol: Option<String>,
    /// Replace every stored bar whose values differ, whatever its source. Without it, a bar
    /// from a source ranked as high as Binance's in the fallback chain stays, and the
    /// difference goes to `cross_checks`.
    #[arg(long)]
    replace: bool,
}

/// What the archive may replace: everything with `--replace`, else by the fallback chains.
fn overwrite(config: &Config, replace: bool) -> Result<Overwrite> {
    if replace {
        return Ok(Overwrite::Any);
    }
    let mut per_asset = HashMap::new();
    for asset in config.asset_sources.keys() {
        per_asset.insert(asset.clone(), config.chain(asset)?);
    }
    Ok(Overwrite::Chains(Chains {
        per_asset,
        default: parse_chain("collect.sources", &config.collect.sources)?,
    }))
}

/// Files under `path` (or `path` itself) that can be archives, in name order.
fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    collect_under(path, out, &mut HashSet::new())
}

/// [`collect_files`], reading each folder once by its canonical path: a symlink loop (or two
/// links to one folder) must not be followed until the OS refuses 40 levels down.
fn collect_under(path: &Path, out: &mut Vec<PathBuf>, seen: &mut HashSet<PathBuf>) -> Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if meta.is_file() {
        out.push(path.to_owned());
        return Ok(());
    }
    let canonical = std::fs::canonicalize(path).with_context(|| format!("{}", path.display()))?;
    if !seen.insert(canonical) {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("reading folder {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        let name = entry
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if entry.is_dir() {
            collect_under(&entry, out, seen)?;
        } else if name.ends_with(".zip") || name.ends_with(".csv") {
            out.push(entry);
        }
    }
    Ok(())
}

pub async fn run(global: &Global, args: Args) -> Result<ExitCode> {
    let config = global.load_config()?;
    // Walking the folders reads the disk: off the runtime's threads.
    let paths = args.paths.clone();
    let files = tokio::task::spawn_blocking(move || -> Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        for p in &paths {
            collect_files(p, &mut files)?;
        }
        Ok(files)
    })
    .await
    .context("listing the archive files")??;
    if files.is_empty() {
        bail!(
            "no .zip or .csv files found in {}",
            args.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let opts = ImportOptions {
        market: args.market,
        timeframe: args.timeframe,
        symbol: args.symbol.map(|s| s.to_ascii_uppercase()),
        overwrite: overwrite(&config, args.replace)?,
    };
    let store = open_store(&config).await?;
    let job = store.job_started("import", &invocation()).await?;
    let progress = CliProgress::new("files");
    let started = Instant::now();
    let outcomes = import_files(&store, &files, &opts, &progress, crate::signals::stop_flag()).await;
    progress.finish();
    let outcomes = match outcomes {
        Ok(o) => o,
        Err(e) => {
            finish_job(&store, job, JobStatus::Failed, 0, vec![], Some(e.to_string())).await;
            return Err(e.into());
        }
    };
    let written: u64 = outcomes.iter().map(|o| o.written).sum();
    // Stopped before the last file: the files not reached are the rerun's.
    let stopped = if outcomes.len() < files.len() {
        crate::signals::stop_here(&store, job, written, vec!["binance-archive".into()]).await
    } else {
        None
    };
    if let Some(code) = stopped {
        eprintln!(
            "interrupted after {} of {} file(s), each stored whole; run the same command again to import the rest",
            outcomes.len(),
            files.len()
        );
        return Ok(code);
    }
    let ok: Vec<_> = outcomes.iter().filter(|o| o.error.is_none()).collect();
    let failed: Vec<_> = outcomes.iter().filter(|o| o.error.is_some()).collect();
    let rows: u64 = ok.iter().map(|o| o.rows).sum();
    let verified = ok.iter().filter(|o| o.checksum_verified).count();
    println!(
        "imported {} file(s): {rows} rows read, {written} written, {verified} checksum(s) verified, in {:.2}s",
        ok.len(),
        started.elapsed().as_secs_f64()
    );
    let cross_checked: u64 = ok.iter().map(|o| o.cross_checked).sum();
    if cross_checked > 0 {
        println!(
            "{cross_checked} row(s) met a stored bar of another source: where they differ, the better-ranked \
             bar stays and the pair is in cross_checks (`status --cross-check`; `--replace` overwrites)"
        );
    }
    let (status, error) = if failed.is_empty() {
        (JobStatus::Ok, None)
    } else {
        (JobStatus::Failed, Some(format!("{} file(s) refused", failed.len())))
    };
    finish_job(&store, job, status, written, vec!["binance-archive".into()], error).await;
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "error: {} of {} file(s) refused; nothing from them was stored",
            failed.len(),
            outcomes.len()
        );
        Ok(ExitCode::FAILURE)
    }
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used)] // test code: a panic is the failure report
mod tests {
    use super::*;

    /// Issue 12 item 19: a symlink loop used to be followed 40 levels deep.
    #[test]
    fn a_symlink_loop_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("spot").join("1h");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("BTCUSDT-1h-2024-01.csv"), "").unwrap();
        std::fs::write(sub.join("BTCUSDT-1h-2024-02.ZIP"), "").unwrap();
        std::os::unix::fs::symlink(dir.path(), sub.join("loop")).unwrap();
        let mut files = Vec::new();
        collect_files(dir.path(), &mut files).unwrap();
        let names: Vec<_> = files.iter().filter_map(|f| f.file_name()?.to_str()).collect();
        assert_eq!(names, ["BTCUSDT-1h-2024-01.csv", "BTCUSDT-1h-2024-02.ZIP"]);
    }
}
