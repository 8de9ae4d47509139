//! Progress for long jobs: a bar on a terminal, plain log lines (every few seconds) otherwise.

use std::{
    io::IsTerminal,
    sync::Mutex,
    time::{Duration, Instant},
};

use candlekeep_engine::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct CliProgress {
    bar: Option<ProgressBar>,
    plain: Mutex<Plain>,
    unit: &'static str,
}

struct Plain {
    total: u64,
    done: u64,
    last: Instant,
    started: Instant,
}

const PLAIN_EVERY: Duration = Duration::from_secs(2);

impl CliProgress {
    pub fn new(unit: &'static str) -> Self {
        // The bar is drawn on stderr: only where stderr is a terminal (never into a log file).
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(&format!(
                "{{spinner}} [{{elapsed_precise}}] {{bar:30}} {{human_pos}}/{{human_len}} {unit}, eta {{eta}}  {{wide_msg}}"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let now = Instant::now();
        Self {
            bar,
            plain: Mutex::new(Plain {
                total: 0,
                done: 0,
                last: now,
                started: now,
            }),
            unit,
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for CliProgress {
    fn start(&self, total: u64) {
        if total == 0 {
            eprintln!("nothing to fetch: everything asked for is already stored");
            return;
        }
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        } else if let Ok(mut p) = self.plain.lock() {
            p.total = total;
            eprintln!("starting: {total} {} to go", self.unit);
        }
    }

    fn advance(&self, units: u64, message: &str) {
        if let Some(bar) = &self.bar {
            bar.inc(units);
            bar.set_message(message.to_owned());
            return;
        }
        if let Ok(mut p) = self.plain.lock() {
            p.done += units;
            if p.last.elapsed() >= PLAIN_EVERY || p.done >= p.total {
                p.last = Instant::now();
                let pct = if p.total == 0 {
                    100.0
                } else {
                    100.0 * p.done as f64 / p.total as f64
                };
                eprintln!(
                    "progress: {}/{} {} ({pct:.1}%) after {:.0}s — {message}",
                    p.done,
                    p.total,
                    self.unit,
                    p.started.elapsed().as_secs_f64()
                );
            }
        }
    }

    fn note(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(message),
            None => eprintln!("{message}"),
        }
    }
}
