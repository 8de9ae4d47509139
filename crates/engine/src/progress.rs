//! How a job reports its advance (a progress bar, log lines, or nothing).

pub trait Progress: Send + Sync {
    /// The job will process `total` units (bars).
    fn start(&self, total: u64);
    /// `units` more are done; `message` says what was just done.
    fn advance(&self, units: u64, message: &str);
    /// Something worth telling the user that is not an error (a skipped file, a retry).
    fn note(&self, message: &str);
}

#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: u64) {}
    fn advance(&self, _: u64, _: &str) {}
    fn note(&self, _: &str) {}
}
