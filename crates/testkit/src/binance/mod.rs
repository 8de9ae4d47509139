//! Simulated Binance REST venues (spot `/api/v3/klines`, USD-M `/fapi/v1/klines`).
//!
//! One [`BinanceSim`] is one venue on its own 127.0.0.1 port with its own weight budget, as the
//! real spot and futures hosts are. Faults can be switched while it runs ([`BinanceSim::set_faults`]).

mod info;
mod klines;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, routing::get};
use candlekeep_core::Market;

use crate::{
    Faults,
    limits::{self, LimitRules},
    market::SimMarket,
};

/// How a simulated venue behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub market: Market,
    pub generator: SimMarket,
    /// Request weight allowed per window (Binance: spot 6000, USD-M 2400 per minute).
    pub weight_limit: u32,
    /// Length of the fixed weight window (Binance: one minute, aligned to the clock).
    pub window: Duration,
    /// Requests a client may send after a 429 in the same window before it is banned with 418.
    pub requests_after_429_before_ban: u32,
    /// How long a 418 ban lasts (Binance: 2 minutes, escalating).
    pub ban: Duration,
    pub faults: Faults,
    /// Symbols no longer trading: left out of (USD-M) or `BREAK` in (spot) `exchangeInfo`.
    pub delisted: Vec<String>,
}

impl SimConfig {
    /// The real venue's limits: spot 6000 weight/min, USD-M 2400 weight/min.
    pub fn binance(market: Market) -> Self {
        Self {
            market,
            generator: SimMarket::default(),
            weight_limit: match market {
                Market::Spot => 6000,
                Market::UsdM => 2400,
            },
            window: Duration::from_secs(60),
            requests_after_429_before_ban: 3,
            ban: Duration::from_secs(120),
            faults: Faults::default(),
            delisted: Vec::new(),
        }
    }
}

pub(crate) struct SimState {
    config: SimConfig,
    faults: Mutex<Faults>,
    limits: Mutex<limits::WeightWindow>,
    /// Every bar served, as (symbol, open time), in the order served.
    served: Mutex<Vec<(String, i64)>>,
}

/// A running simulated venue. The server stops when the runtime it was started on stops.
#[derive(Clone)]
pub struct BinanceSim {
    addr: SocketAddr,
    state: Arc<SimState>,
}

impl std::fmt::Debug for BinanceSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BinanceSim")
            .field("addr", &self.addr)
            .field("market", &self.state.config.market)
            .finish()
    }
}

impl BinanceSim {
    /// Binds 127.0.0.1 on a free port and serves in the background on the current tokio runtime.
    pub async fn start(config: SimConfig) -> std::io::Result<Self> {
        Self::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    pub async fn start_on(config: SimConfig, bind: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(SimState {
            faults: Mutex::new(config.faults.clone()),
            served: Mutex::new(Vec::new()),
            limits: Mutex::new(limits::WeightWindow::new(LimitRules {
                weight_limit: config.weight_limit,
                window: config.window,
                grace: config.requests_after_429_before_ban,
                ban: config.ban,
            })),
            config,
        });
        let (klines_path, info_path) = match state.config.market {
            Market::Spot => ("/api/v3/klines", "/api/v3/exchangeInfo"),
            Market::UsdM => ("/fapi/v1/klines", "/fapi/v1/exchangeInfo"),
        };
        let app = Router::new()
            .route(klines_path, get(klines::handle))
            .route(info_path, get(info::handle))
            .with_state(state.clone());
        tokio::spawn(async move {
            // A serve error ends the simulated venue; clients then see connection errors.
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, state })
    }

    /// `http://127.0.0.1:PORT`, to use as the venue's base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn market(&self) -> Market {
        self.state.config.market
    }

    pub fn generator(&self) -> &SimMarket {
        &self.state.config.generator
    }

    /// Replaces the active faults (request counters for bursts restart at zero).
    pub fn set_faults(&self, faults: Faults) {
        if let Ok(mut f) = self.state.faults.lock() {
            *f = faults;
        }
    }

    /// Every kline served so far, as (symbol, open time), in the order served: a bar fetched twice
    /// appears twice.
    pub fn served_bars(&self) -> Vec<(String, i64)> {
        self.state.served.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// What the venue has seen so far.
    pub fn stats(&self) -> crate::SimStats {
        self.state.limits.lock().map(|l| l.stats()).unwrap_or_default()
    }
}
