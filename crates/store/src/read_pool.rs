//! Where long candle reads do their CPU work (SQLite's reads, copying bars out of decoded
//! blocks): a few threads of their own, at a lower CPU priority than the rest of the process.
//!
//! Why: a store serves reads and bulk writes at once, and collection must not fall behind
//! because a dashboard or a backtest reads history in a loop. The readers' threads run at nice 5
//! (a third of the scheduler's weight of a normal thread), so where they and a write compete for
//! a core the write gets three quarters of it: reads slow down a little during a bulk import
//! instead of slowing the import down, and still answer in milliseconds. (At nice 19 a write
//! barely notices them, but reads starve: p99 over 30 ms in `concurrent_reads`.) On a quiet
//! machine the priority changes nothing.

use crate::StoreError;

#[derive(Debug)]
pub(crate) struct ReadPool(rayon::ThreadPool);

impl ReadPool {
    /// [`crate::access::read_slots`] threads.
    pub(crate) fn new() -> Result<Self, StoreError> {
        rayon::ThreadPoolBuilder::new()
            .num_threads(crate::access::read_slots())
            .thread_name(|i| format!("candlekeep-read-{i}"))
            .start_handler(|_| lowest_priority())
            // A read that panics answers with an error (its sender is dropped), not an abort.
            .panic_handler(|_| {})
            .build()
            .map(Self)
            .map_err(|e| StoreError::Config(format!("cannot start the read threads: {e}")))
    }

    /// Runs `f` on a read thread and waits for it asynchronously.
    pub(crate) async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.0.spawn(move || {
            // The reader may have gone (its task was dropped): then nobody needs the answer.
            let _ = tx.send(f());
        });
        rx.await
            .map_err(|_| StoreError::Config("a candle read failed on its thread".into()))
    }
}

/// Lowers this thread's CPU priority to nice 5 (see the module docs). Where that is refused the
/// thread keeps its priority: reads are then as fast as before, and writes share the CPU evenly.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    {
        let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 5);
    }
}
