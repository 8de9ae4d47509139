//! Where the log goes: stderr as text (colour on a terminal, `NO_COLOR` honoured) or as JSON
//! lines, and with `--log-dir` also into a file per day. The level comes from `CANDLEKEEP_LOG`
//! (`info`, `debug`, `candlekeep_app=debug,warn`...); the default is the command's.

use std::path::Path;

use anyhow::{Context, Result};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One readable line per event.
    Text,
    /// One JSON object per line (time, level, message, fields), for log collectors.
    Json,
}

/// Keeps the file writer's background thread flushing until the process ends.
pub type Guard = Option<tracing_appender::non_blocking::WorkerGuard>;

/// Sets the process's logger up. `default_level` applies unless `CANDLEKEEP_LOG` says otherwise.
pub fn init(format: Format, dir: Option<&Path>, default_level: &str) -> Result<Guard> {
    let filter = || EnvFilter::try_from_env("CANDLEKEEP_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    // Colour only on a terminal: escape codes in a log file or a pipe are noise.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let stderr = match format {
        Format::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(colour)
            .with_target(false)
            .with_filter(filter())
            .boxed(),
        Format::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_filter(filter())
            .boxed(),
    };
    let (file, guard) = match dir {
        None => (None, None),
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create log folder {}", dir.display()))?;
            let appender = tracing_appender::rolling::Builder::new()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix("candlekeep.log")
                .build(dir)
                .with_context(|| format!("cannot write logs into {}", dir.display()))?;
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let layer = match format {
                Format::Text => tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .with_ansi(false)
                    .with_filter(filter())
                    .boxed(),
                Format::Json => tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(writer)
                    .with_filter(filter())
                    .boxed(),
            };
            (Some(layer), Some(guard))
        }
    };
    tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init()
        .context("setting the logger up")?;
    Ok(guard)
}
