//! A store shared by concurrent async tasks: calls run on the blocking pool, one at a time.

use std::sync::{Arc, Mutex};

use candlekeep_store::BlockingStore;

use crate::JobError;

#[derive(Clone)]
pub struct SharedStore(Arc<Mutex<Box<dyn BlockingStore>>>);

impl std::fmt::Debug for SharedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedStore")
    }
}

impl SharedStore {
    pub fn new(store: Box<dyn BlockingStore>) -> Self {
        Self(Arc::new(Mutex::new(store)))
    }

    /// Runs `f` with the store on the blocking pool.
    pub async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn BlockingStore) -> Result<T, candlekeep_store::StoreError> + Send + 'static,
    ) -> Result<T, JobError> {
        let inner = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = inner
                .lock()
                .map_err(|_| JobError::Worker("store lock poisoned".into()))?;
            f(guard.as_mut()).map_err(JobError::from)
        })
        .await
        .map_err(|e| JobError::Worker(e.to_string()))?
    }

    /// Runs `f` with the store on the current thread (for synchronous callers).
    pub fn with_blocking<T>(&self, f: impl FnOnce(&mut dyn BlockingStore) -> T) -> Result<T, JobError> {
        let mut guard = self
            .0
            .lock()
            .map_err(|_| JobError::Worker("store lock poisoned".into()))?;
        Ok(f(guard.as_mut()))
    }
}
