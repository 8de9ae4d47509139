//! What every handler shares: the service (its store, configuration, event bus and job runner),
//! the API's options, the metrics and the market table's cache.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use candlekeep_app::config::Config;
use candlekeep_app::jobs::JobContext;
use candlekeep_app::service::Service;
use candlekeep_core::Instrument;
use candlekeep_engine::events::Event;
use candlekeep_store::{CandleRead, CandleWrite, SeriesStatus, StoreHandle};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::market::MarketCache;
use crate::metrics::Metrics;
use crate::problem::{ApiError, ApiResult};

/// How the API behaves; the defaults suit `candlekeep serve`.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// The market table is recomputed at least this often, events or not (another process may
    /// write to a shared PostgreSQL database without this one hearing of it).
    pub market_max_age: Duration,
    /// ... and at most this often, however many `candles-stored` events a sync sends.
    pub market_min_interval: Duration,
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// Longest path plus query accepted (414 beyond).
    pub max_uri_bytes: usize,
    /// A request taking longer is answered 503.
    pub request_timeout: Duration,
    /// Interval of the keep-alive comments on `/events`.
    pub sse_keep_alive: Duration,
}

impl Default for ApiOptions {
    fn default() -> Self {
        Self {
            market_max_age: Duration::from_secs(5),
            market_min_interval: Duration::from_secs(1),
            max_body_bytes: 64 * 1024,
            max_uri_bytes: 8 * 1024,
            request_timeout: Duration::from_secs(30),
            sse_keep_alive: Duration::from_secs(15),
        }
    }
}

/// The API's shared state; clones share it.
#[derive(Clone)]
pub struct ApiState {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub service: Service,
    pub options: ApiOptions,
    pub shared: Arc<Shared>,
    /// Store ids of the instruments asked about (they never change once given).
    ids: Mutex<HashMap<Instrument, i64>>,
    /// Fires when the server begins to stop: open event streams end so connections can close.
    pub closing: CancellationToken,
}

/// What the event listener updates; it holds this weakly and stops once the state is gone.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub metrics: Metrics,
    pub pages: crate::pages::PageCache,
    pub market: MarketCache,
    pub series: SeriesCache,
}

/// The stored series (`series_status`), kept between requests: the store computes the list by
/// counting every candle, far too slow for each request of `/candles`. Reloaded under the same
/// rule as the market table (an event, at most every `market_min_interval`; at least every
/// `market_max_age`), and at once when a request names a series the list does not have yet.
#[derive(Debug, Default)]
pub(crate) struct SeriesCache {
    current: Mutex<Option<(Instant, Arc<Vec<SeriesStatus>>)>>,
    dirty: AtomicBool,
    loading: Arc<tokio::sync::Mutex<()>>,
}

impl SeriesCache {
    pub fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// The list held, and whether it is due for a reload.
    fn held(&self, options: &ApiOptions) -> Option<(Arc<Vec<SeriesStatus>>, bool)> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let (at, list) = current.as_ref()?;
        let age = at.elapsed();
        let due =
            age >= options.market_max_age || (self.dirty.load(Ordering::Relaxed) && age >= options.market_min_interval);
        Some((list.clone(), due))
    }
}

impl ApiState {
    pub fn new(service: Service) -> Self {
        Self::with_options(service, ApiOptions::default())
    }

    /// The state over `service`; inside a tokio runtime this also starts listening to the
    /// event bus (metrics of job runs, the market table's refresh).
    pub fn with_options(service: Service, options: ApiOptions) -> Self {
        let shared = Arc::new(Shared::default());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let events = service.context().events.subscribe();
            runtime.spawn(listen(events, Arc::downgrade(&shared)));
        }
        Self {
            inner: Arc::new(Inner {
                service,
                options,
                shared,
                ids: Mutex::default(),
                closing: CancellationToken::new(),
            }),
        }
    }

    pub fn service(&self) -> &Service {
        &self.inner.service
    }

    pub(crate) fn ctx(&self) -> &JobContext {
        self.inner.service.context()
    }

    pub(crate) fn store(&self) -> &StoreHandle {
        &self.ctx().store
    }

    pub(crate) fn config(&self) -> &Config {
        &self.ctx().config
    }

    pub(crate) fn options(&self) -> &ApiOptions {
        &self.inner.options
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.shared.metrics
    }

    pub(crate) fn pages(&self) -> &crate::pages::PageCache {
        &self.inner.shared.pages
    }

    /// The stored series, from the cache when it is fresh enough (see [`SeriesCache`]).
    pub(crate) async fn series(&self) -> ApiResult<Arc<Vec<SeriesStatus>>> {
        let cache = &self.inner.shared.series;
        if let Some((list, due)) = cache.held(self.options()) {
            // Reloaded in the background, one reload at a time: no request waits for the count.
            let guard = if due {
                cache.loading.clone().try_lock_owned().ok()
            } else {
                None
            };
            if let Some(guard) = guard {
                let state = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = state.reload_series().await {
                        tracing::warn!(error = %e, "could not reload the stored series");
                    }
                    drop(guard);
                });
            }
            return Ok(list);
        }
        let _loading = cache.loading.lock().await;
        // Another request may have loaded it while this one waited.
        if let Some((list, _)) = cache.held(self.options()) {
            return Ok(list);
        }
        self.reload_series().await
    }

    async fn reload_series(&self) -> ApiResult<Arc<Vec<SeriesStatus>>> {
        let cache = &self.inner.shared.series;
        cache.dirty.store(false, Ordering::Relaxed);
        let list = Arc::new(self.store().series_status().await?);
        *cache.current.lock().unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), list.clone()));
        Ok(list)
    }

    /// Ends the open event streams (graceful shutdown).
    pub fn close(&self) {
        self.inner.closing.cancel();
    }

    /// The store id of a series' instrument, if that series is stored; 404 otherwise.
    pub(crate) async fn stored_series(
        &self,
        instrument: &Instrument,
        timeframe: candlekeep_core::Timeframe,
    ) -> ApiResult<(i64, SeriesStatus)> {
        let find = |list: &[SeriesStatus]| {
            list.iter()
                .find(|s| &s.instrument == instrument && s.timeframe == timeframe)
                .cloned()
        };
        let status = match find(&self.series().await?) {
            Some(s) => s,
            // New since the list was loaded? Asked once more, not on every miss: a request for a
            // series that does not exist must not make the store count its candles.
            None if self.inner.shared.series.dirty.load(Ordering::Relaxed) => {
                let _loading = self.inner.shared.series.loading.lock().await;
                find(&self.reload_series().await?)
                    .ok_or_else(|| ApiError::NotFound(format!("no {timeframe} series of {instrument} is stored")))?
            }
            None => {
                return Err(ApiError::NotFound(format!(
                    "no {timeframe} series of {instrument} is stored"
                )));
            }
        };
        let cached = self
            .inner
            .ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(instrument)
            .copied();
        let id = match cached {
            Some(id) => id,
            None => {
                // The instrument is stored, so this only looks its id up (it registers nothing).
                let id = self.store().instrument_id(instrument).await?;
                self.inner
                    .ids
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(instrument.clone(), id);
                id
            }
        };
        Ok((id, status))
    }
}

/// Follows the event bus: job runs into the metrics; stored candles and ended runs make the
/// market table due for a refresh.
async fn listen(mut events: tokio::sync::broadcast::Receiver<Event>, shared: Weak<Shared>) {
    loop {
        let event = events.recv().await;
        let Some(shared) = shared.upgrade() else { return };
        match event {
            Ok(Event::JobFinished {
                job,
                status,
                duration_ms,
                written_by,
                rows_written,
                ..
            }) => {
                // Jobs that store candles without telling each series (a repair, a retention
                // run) still end here.
                if rows_written > 0 && job != "health" {
                    shared.pages.store_written();
                }
                let written: Vec<(String, u64)> = written_by.into_iter().collect();
                shared.metrics.job_finished(&job, &status, duration_ms, &written);
                // A run that stored nothing changed no table (indicators and quality rows are
                // rows too: they change the market table's RSI and score).
                if rows_written > 0 {
                    shared.market.mark_dirty();
                    shared.series.mark_dirty();
                }
            }
            Ok(Event::CandlesStored {
                instrument, timeframe, ..
            }) => {
                shared.pages.series_written((instrument, timeframe));
                shared.market.mark_dirty();
                shared.series.mark_dirty();
            }
            Ok(Event::JobStarted { .. }) => {}
            // Missed events may have been either: recompute to be safe.
            Err(RecvError::Lagged(_)) => {
                shared.pages.store_written();
                shared.market.mark_dirty();
                shared.series.mark_dirty();
            }
            Err(RecvError::Closed) => return,
        }
    }
}
