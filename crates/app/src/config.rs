//! `candlekeep.toml`: defaults, the file, then `CANDLEKEEP_<SECTION>_<KEY>` environment variables
//! (after `.env`), then command-line flags — each later one wins. Owns the `Config` type, its
//! loading and validation, `.env`, the commented template, and each venue's settings as its
//! source takes them.

use std::{path::Path, time::Duration};

use anyhow::{Context, Result, bail};
use candlekeep_core::{Instrument, Market, SourceId, Timeframe};
use candlekeep_sources::{
    binance::BinanceConfig,
    bybit::BybitConfig,
    coingecko::{CoinGeckoConfig, CoinGeckoPlan},
    cryptocompare::CryptoCompareConfig,
    http::HttpConfig,
    okx::OkxConfig,
};
use candlekeep_store::url::DatabaseUrl;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub database: DatabaseSection,
    pub collect: CollectSection,
    pub binance_spot: VenueSection,
    pub binance_usdm: VenueSection,
    pub universe: UniverseSection,
    pub gaps: GapsSection,
    pub quality: QualitySection,
    pub schedule: ScheduleSection,
    pub okx: OkxSection,
    pub bybit: BybitSection,
    pub cryptocompare: CryptoCompareSection,
    pub coingecko: CoinGeckoSection,
    /// Per-asset fallback chains (`SOL = ["okx-rest", "bybit-rest"]`), replacing `collect.sources`.
    pub asset_sources: std::collections::BTreeMap<String, Vec<String>>,
    pub http: HttpSection,
    pub server: ServerSection,
    pub retention: RetentionSection,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QualitySection {
    /// A close this far (percent) from the previous bar's close is flagged as a jump.
    pub jump_pct: f64,
    /// This many flat bars in a row (open = high = low = close) are flagged.
    pub flat_run: u32,
    /// Quarantined, not flagged: a bar whose high is more than this many times its low, or whose
    /// close is this many times above (or below one this-many-th of) its neighbour's.
    pub max_move_ratio: f64,
    /// A series whose newest bar closed longer ago than this is stale.
    pub stale_after_hours: u32,
    /// Days `candlekeep quality` looks back.
    pub days: u32,
}

/// When `candlekeep serve` runs each job: cron expressions in UTC (five fields, as in crontab).
/// Indicators run right after each sync rather than on a schedule of their own.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleSection {
    pub sync: String,
    pub universe: String,
    pub gap_repair: String,
    pub quality: String,
    pub retention: String,
    pub health: String,
}

impl Default for ScheduleSection {
    fn default() -> Self {
        Self {
            sync: "5 * * * *".into(),
            universe: "15 0 * * *".into(),
            gap_repair: "0 3 * * *".into(),
            quality: "30 */6 * * *".into(),
            retention: "45 3 * * *".into(),
            health: "* * * * *".into(),
        }
    }
}

impl ScheduleSection {
    /// Every job's schedule, by the key it has in `[schedule]`.
    pub fn entries(&self) -> [(&'static str, &str); 6] {
        [
            ("sync", &self.sync),
            ("universe", &self.universe),
            ("gap_repair", &self.gap_repair),
            ("quality", &self.quality),
            ("retention", &self.retention),
            ("health", &self.health),
        ]
    }
}

/// `candlekeep serve`'s HTTP API.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    /// Address and port to listen on; a non-loopback address needs `admin_token`.
    pub bind: String,
    /// Bearer token every write (`POST`) needs; empty: writes are refused. Never printed.
    pub admin_token: String,
    /// Origins allowed to call the API from a browser (CORS); empty: none.
    pub cors_origins: Vec<String>,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            admin_token: String::new(),
            cors_origins: Vec::new(),
        }
    }
}

impl std::fmt::Debug for ServerSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSection")
            .field("bind", &self.bind)
            .field(
                "admin_token",
                &if self.admin_token.is_empty() { "(none)" } else { "(set)" },
            )
            .field("cors_origins", &self.cors_origins)
            .finish()
    }
}

/// What the daily retention job deletes: nothing unless a key says so (0 keeps forever).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSection {
    /// Delete 1m candles older than this many days.
    pub keep_1m_days: u32,
    /// Delete 5m candles older than this many days.
    pub keep_5m_days: u32,
    /// Delete 15m candles older than this many days.
    pub keep_15m_days: u32,
    /// Delete finished `job_runs` rows older than this many days.
    pub job_runs_days: u32,
    /// Delete cached provider answers older than this many days.
    pub http_cache_days: u32,
}

impl RetentionSection {
    /// The candle keeps that are set: (timeframe, days).
    pub fn candle_keeps(&self) -> Vec<(Timeframe, u32)> {
        [
            (Timeframe::M1, self.keep_1m_days),
            (Timeframe::M5, self.keep_5m_days),
            (Timeframe::M15, self.keep_15m_days),
        ]
        .into_iter()
        .filter(|(_, d)| *d > 0)
        .collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GapsSection {
    pub repair_days: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UniverseSection {
    pub max_coins: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoinGeckoSection {
    pub base_url: String,
    /// Never printed.
    pub api_key: String,
    pub plan: CoinGeckoPlan,
    pub requests_per_minute: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CryptoCompareSection {
    pub base_url: String,
    /// Never printed.
    pub api_key: String,
    pub requests_per_minute: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OkxSection {
    pub base_url: String,
    pub requests_per_2s: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BybitSection {
    pub base_url: String,
    pub requests_per_5s: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSection {
    pub url: String,
    /// PostgreSQL: connections this process may open.
    pub pool_size: u32,
    /// TimescaleDB: candle chunks older than this many days are compressed.
    pub compress_after_days: u32,
    /// SQLite: how long a write waits for another process's write to the same file.
    pub busy_timeout_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CollectSection {
    pub assets: Vec<String>,
    pub quote: String,
    pub markets: Vec<String>,
    pub timeframe: String,
    /// The fallback chain, best first; sources that do not serve a market are skipped for it.
    pub sources: Vec<String>,
    pub sync_initial_days: u32,
    pub concurrency: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VenueSection {
    pub base_url: String,
    pub weight_per_minute: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSection {
    pub timeout_secs: u64,
    pub max_attempts: u32,
    pub max_ban_wait_secs: u64,
    /// Every wait of one request (rate-limit pauses, bans, retry backoff) adds up to at most
    /// this; then the request ends with an error naming the venue and the time waited.
    pub max_total_wait_secs: u64,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite:data/candlekeep.db";

/// The demo's synthetic candles never share a file with real ones.
pub const DEMO_DATABASE_URL: &str = "sqlite:data/candlekeep-demo.db";

impl Default for Config {
    fn default() -> Self {
        let spot = BinanceConfig::default_for(Market::Spot);
        let usdm = BinanceConfig::default_for(Market::UsdM);
        Self {
            database: DatabaseSection {
                url: DEFAULT_DATABASE_URL.into(),
                pool_size: 8,
                compress_after_days: 30,
                busy_timeout_secs: 30,
            },
            collect: CollectSection::default(),
            binance_spot: VenueSection {
                base_url: spot.base_url,
                weight_per_minute: spot.weight_limit,
            },
            binance_usdm: VenueSection {
                base_url: usdm.base_url,
                weight_per_minute: usdm.weight_limit,
            },
            universe: UniverseSection { max_coins: 200 },
            gaps: GapsSection { repair_days: 30 },
            schedule: ScheduleSection::default(),
            quality: QualitySection {
                jump_pct: 20.0,
                flat_run: 3,
                max_move_ratio: 100.0,
                stale_after_hours: 2,
                days: 30,
            },
            okx: OkxSection::default(),
            bybit: BybitSection::default(),
            cryptocompare: CryptoCompareSection::default(),
            coingecko: CoinGeckoSection::default(),
            asset_sources: Default::default(),
            http: HttpSection::default(),
            server: ServerSection::default(),
            retention: RetentionSection::default(),
        }
    }
}

impl Default for DatabaseSection {
    fn default() -> Self {
        Config::default().database
    }
}

impl Default for CollectSection {
    fn default() -> Self {
        Self {
            assets: vec!["BTC".into(), "ETH".into()],
            quote: "USDT".into(),
            markets: vec!["spot".into(), "usdm".into()],
            timeframe: "1h".into(),
            sources: DEFAULT_CHAIN.iter().map(|s| s.as_str().to_owned()).collect(),
            sync_initial_days: 30,
            concurrency: 16,
        }
    }
}

impl Default for QualitySection {
    fn default() -> Self {
        Config::default().quality
    }
}

impl Default for GapsSection {
    fn default() -> Self {
        Config::default().gaps
    }
}

impl Default for UniverseSection {
    fn default() -> Self {
        Config::default().universe
    }
}

impl Default for CoinGeckoSection {
    fn default() -> Self {
        let d = CoinGeckoConfig::default();
        Self {
            base_url: d.base_url,
            api_key: String::new(),
            plan: d.plan,
            requests_per_minute: d.requests_per_minute,
        }
    }
}

impl Default for CryptoCompareSection {
    fn default() -> Self {
        let d = CryptoCompareConfig::default();
        Self {
            base_url: d.base_url,
            api_key: String::new(),
            requests_per_minute: d.requests_per_minute,
        }
    }
}

impl Default for OkxSection {
    fn default() -> Self {
        let d = OkxConfig::default();
        Self {
            base_url: d.base_url,
            requests_per_2s: d.requests_per_2s,
        }
    }
}

impl Default for BybitSection {
    fn default() -> Self {
        let d = BybitConfig::default();
        Self {
            base_url: d.base_url,
            requests_per_5s: d.requests_per_5s,
        }
    }
}

/// The default fallback chain.
pub const DEFAULT_CHAIN: [SourceId; 6] = [
    SourceId::BinanceUsdmRest,
    SourceId::BinanceSpotRest,
    SourceId::OkxRest,
    SourceId::BybitRest,
    SourceId::CryptoCompare,
    SourceId::CoinGecko,
];

impl Default for VenueSection {
    fn default() -> Self {
        Config::default().binance_spot
    }
}

impl Default for HttpSection {
    fn default() -> Self {
        let d = HttpConfig::default();
        Self {
            timeout_secs: d.timeout.as_secs(),
            max_attempts: d.max_attempts,
            max_ban_wait_secs: d.max_ban_wait.as_secs(),
            max_total_wait_secs: d.max_total_wait.as_secs(),
        }
    }
}

/// The commented file `candlekeep init` writes.
pub const TEMPLATE: &str = r#"# Candlekeep configuration.
# Every key can be overridden by an environment variable CANDLEKEEP_<SECTION>_<KEY>, for example
# CANDLEKEEP_DATABASE_URL=sqlite:/var/lib/candlekeep.db or CANDLEKEEP_COLLECT_ASSETS=BTC,ETH,SOL.
# A .env file in the working directory is read first, if present.

[database]
# sqlite:PATH — an embedded SQLite file (created if missing), or
# postgres://user:password@host:5432/db — PostgreSQL (TimescaleDB when the extension is available),
# where several `candlekeep worker` processes can share the work. libpq URL parameters work, e.g.
# ?options=-c%20search_path%3Dcandlekeep to keep the tables in their own schema.
url = "sqlite:data/candlekeep.db"
# PostgreSQL: connections this process may open.
pool_size = 8
# TimescaleDB: compress candle chunks older than this many days (compressed chunks still take
# late revisions).
compress_after_days = 30
# SQLite: one process writes the file at a time; another one waits this long for its turn, then
# stops with an error (nothing half-written). Several writers at once need PostgreSQL.
busy_timeout_secs = 30

[collect]
# Base assets to collect, each quoted in `quote` (BTC + USDT = BTCUSDT).
assets = ["BTC", "ETH"]
quote = "USDT"
# spot = Binance spot, usdm = Binance USD-M perpetual futures.
markets = ["spot", "usdm"]
# 1m, 5m, 15m, 1h, 4h or 1d.
timeframe = "1h"
# The fallback chain, best first. A bar the first source cannot deliver (outage, not listed yet,
# error after retries) is fetched from the next; each stored candle names its source, and a
# lower-priority source never overwrites a better one. Sources that do not serve a market are
# skipped for it (Binance USD-M has no spot bars, CryptoCompare and CoinGecko only spot), so spot
# and futures series never mix. CoinGecko serves 1h bars of the last day and 4h bars of the last
# 30 days, without volume, for coins of the universe. Known: binance-usdm-rest,
# binance-spot-rest, okx-rest, bybit-rest, cryptocompare, coingecko.
sources = ["binance-usdm-rest", "binance-spot-rest", "okx-rest", "bybit-rest", "cryptocompare", "coingecko"]
# How far back `sync` starts for a series that has no history yet.
sync_initial_days = 30
# Series fetched at the same time (each venue's weight budget is still shared).
concurrency = 16

[binance_spot]
base_url = "https://data-api.binance.vision"
# Request weight per minute this program may use (Binance allows 6000 per IP).
weight_per_minute = 6000

[binance_usdm]
base_url = "https://fapi.binance.com"
# Binance allows 2400 per IP on USD-M futures.
weight_per_minute = 2400

[universe]
# How many coins by market cap `sync --symbols-only` ranks, and `--max-coins` defaults to.
max_coins = 200

[gaps]
# How far back `candlekeep gaps --fill` repairs by default (the service does this daily).
repair_days = 30

[schedule]
# When `candlekeep serve` runs each job, as cron expressions in UTC (minute hour day month
# weekday). A job never overlaps itself; runs missed while the service was down are made up by
# one run at start. Indicators are computed right after each sync.
sync = "5 * * * *"
universe = "15 0 * * *"
gap_repair = "0 3 * * *"
quality = "30 */6 * * *"
retention = "45 3 * * *"
health = "* * * * *"

[server]
# Where `candlekeep serve` listens. Binding anything but a loopback address needs admin_token.
bind = "127.0.0.1:8080"
# Bearer token for every write (POST) of the API; empty refuses writes. Better set through
# CANDLEKEEP_SERVER_ADMIN_TOKEN than written here.
admin_token = ""
# Origins allowed to call the API from a browser (CORS); empty allows none.
cors_origins = []

[retention]
# Nothing is deleted unless a key below is above 0 (days to keep). Candles of a delisted coin
# are never deleted for being delisted.
keep_1m_days = 0
keep_5m_days = 0
keep_15m_days = 0
job_runs_days = 0
http_cache_days = 0

[quality]
# Flagged, not rejected: a close more than jump_pct percent from the previous one, and flat_run
# flat bars in a row. Impossible bars (high below the body, negative, off-grid, …) are always
# quarantined in the rejects table.
jump_pct = 20.0
flat_run = 3
# Quarantined as impossible: a bar whose high is more than max_move_ratio times its low, or whose
# close is more than max_move_ratio times above (or below 1/max_move_ratio of) the close of the
# nearest accepted bar before it (a zero price is always quarantined).
max_move_ratio = 100.0
# A series whose newest bar closed longer ago than this is reported stale.
stale_after_hours = 2
# Days `candlekeep quality` looks back.
days = 30

[coingecko]
# Demo and keyless: https://api.coingecko.com/api/v3; Pro: https://pro-api.coingecko.com/api/v3.
base_url = "https://api.coingecko.com/api/v3"
# Your API key, sent as a header and never printed (better set CANDLEKEEP_COINGECKO_API_KEY).
api_key = ""
# demo or pro: which header carries the key.
plan = "demo"
# Calls per minute (Demo plan: 30).
requests_per_minute = 30

[okx]
base_url = "https://www.okx.com"
# Requests per 2 s on /market/candles (OKX allows 40 per IP); history-candles gets half.
requests_per_2s = 40

[bybit]
base_url = "https://api.bybit.com"
# Requests per 5 s. Bybit allows 600 per IP and bans for 10 minutes beyond, so keep a margin.
requests_per_5s = 300

[cryptocompare]
base_url = "https://min-api.cryptocompare.com"
# Optional API key, sent as "Authorization: Apikey …" and never printed.
api_key = ""
# Calls per minute (keyless accounts were allowed 300).
requests_per_minute = 150

# Per-asset fallback chains, replacing collect.sources for that asset, e.g.
#   SOL = ["okx-rest", "bybit-rest", "binance-spot-rest"]
# or in the environment CANDLEKEEP_ASSET_SOURCES_SOL=okx-rest,bybit-rest,binance-spot-rest.
[asset_sources]

[http]
timeout_secs = 30
# Attempts per request on server errors, timeouts and broken answers (with backoff and jitter).
max_attempts = 6
# Longest IP ban (HTTP 418) worth waiting out; a longer one stops the job with an error.
max_ban_wait_secs = 600
# All the waiting one request may do (rate-limit pauses, bans, backoff) before it fails with an
# error naming the venue and the time waited; each wait is logged as it starts.
max_total_wait_secs = 1200
"#;

/// Environment variables with this prefix that are not configuration keys.
const NOT_CONFIG: &[&str] = &["CANDLEKEEP_LOG"];

impl Config {
    /// Defaults, then `path` (required to exist when `explicit`), then the environment.
    pub fn load(path: &Path, explicit: bool) -> Result<Self> {
        let mut value = toml::Value::try_from(Config::default()).context("default configuration")?;
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let file: toml::Value =
                    toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
                merge(&mut value, file);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read config file {}", path.display())),
        }
        apply_env(&mut value, std::env::vars())?;
        let config: Config = value
            .try_into()
            .with_context(|| format!("bad configuration (from {} or the environment)", path.display()))?;
        config.validate()?;
        Ok(config)
    }

    /// [`Config::load`], then a run's own choices: `database_url` (a flag) replaces
    /// `database.url`; `demo` moves the default database to [`DEMO_DATABASE_URL`]. The URL is
    /// checked here, before any command runs, so a malformed one never reaches a message that
    /// would print it, nor becomes the name of a new file.
    pub fn load_for_run(path: &Path, explicit: bool, database_url: Option<&str>, demo: bool) -> Result<Self> {
        let mut config = Config::load(path, explicit)?;
        if let Some(url) = database_url {
            config.database.url = url.to_owned();
        } else if demo && config.database.url == DEFAULT_DATABASE_URL {
            config.database.url = DEMO_DATABASE_URL.into();
        }
        DatabaseUrl::parse(&config.database.url).context("database.url (or --database-url)")?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        self.timeframe()?;
        self.markets()?;
        self.check_ranges()?;
        let quote = self.collect.quote.trim().to_ascii_uppercase();
        Instrument::new(Market::Spot, "BTC", &quote).context("collect.quote (or CANDLEKEEP_COLLECT_QUOTE)")?;
        if !(self.quality.max_move_ratio.is_finite() && self.quality.max_move_ratio > 1.0) {
            bail!(
                "quality.max_move_ratio must be a number above 1 (it is {})",
                self.quality.max_move_ratio
            );
        }
        parse_chain("collect.sources", &self.collect.sources)?;
        for (asset, chain) in &self.asset_sources {
            parse_chain(&format!("asset_sources.{asset}"), chain)?;
        }
        Ok(())
    }

    /// Every number within a range where the code that uses it can neither overflow nor do
    /// something absurd (a timeout of centuries panics when added to the clock; a universe of
    /// four billion coins aborts on allocation).
    fn check_ranges(&self) -> Result<()> {
        const DAY_SECS: u64 = 86_400;
        let d = &self.database;
        in_range("database.pool_size", d.pool_size, 1, 1_000)?;
        in_range("database.compress_after_days", d.compress_after_days, 1, 36_500)?;
        in_range("database.busy_timeout_secs", d.busy_timeout_secs, 0, DAY_SECS)?;
        in_range(
            "collect.sync_initial_days",
            self.collect.sync_initial_days,
            1,
            MAX_DAYS_BACK,
        )?;
        in_range("collect.concurrency", self.collect.concurrency, 1, 1_024)?;
        in_range(
            "binance_spot.weight_per_minute",
            self.binance_spot.weight_per_minute,
            1,
            1_000_000,
        )?;
        in_range(
            "binance_usdm.weight_per_minute",
            self.binance_usdm.weight_per_minute,
            1,
            1_000_000,
        )?;
        in_range("universe.max_coins", self.universe.max_coins, 1, MAX_COINS)?;
        in_range("gaps.repair_days", self.gaps.repair_days, 1, MAX_DAYS_BACK)?;
        self.server.bind.parse::<std::net::SocketAddr>().with_context(|| {
            format!(
                "server.bind must be an address and port like 127.0.0.1:8080, not {:?}",
                self.server.bind
            )
        })?;
        let r = &self.retention;
        for (key, days) in [
            ("retention.keep_1m_days", r.keep_1m_days),
            ("retention.keep_5m_days", r.keep_5m_days),
            ("retention.keep_15m_days", r.keep_15m_days),
            ("retention.job_runs_days", r.job_runs_days),
            ("retention.http_cache_days", r.http_cache_days),
        ] {
            in_range(key, days, 0, MAX_DAYS_BACK)?;
        }
        for (key, expression) in self.schedule.entries() {
            candlekeep_engine::schedule::Cron::parse(expression).with_context(|| format!("schedule.{key}"))?;
        }
        let q = &self.quality;
        if !(q.jump_pct.is_finite() && q.jump_pct > 0.0 && q.jump_pct <= 1_000_000.0) {
            bail!(
                "quality.jump_pct must be above 0 and at most 1000000, not {}",
                q.jump_pct
            );
        }
        in_range("quality.flat_run", q.flat_run, 1, 1_000_000)?;
        in_range("quality.stale_after_hours", q.stale_after_hours, 1, 24 * 36_500)?;
        in_range("quality.days", q.days, 1, MAX_DAYS_BACK)?;
        in_range("okx.requests_per_2s", self.okx.requests_per_2s, 2, 100_000)?;
        in_range("bybit.requests_per_5s", self.bybit.requests_per_5s, 1, 100_000)?;
        in_range(
            "cryptocompare.requests_per_minute",
            self.cryptocompare.requests_per_minute,
            1,
            1_000_000,
        )?;
        in_range(
            "coingecko.requests_per_minute",
            self.coingecko.requests_per_minute,
            1,
            1_000_000,
        )?;
        in_range("http.timeout_secs", self.http.timeout_secs, 1, DAY_SECS)?;
        in_range("http.max_attempts", self.http.max_attempts, 1, 100)?;
        in_range("http.max_ban_wait_secs", self.http.max_ban_wait_secs, 0, 7 * DAY_SECS)?;
        in_range(
            "http.max_total_wait_secs",
            self.http.max_total_wait_secs,
            1,
            7 * DAY_SECS,
        )?;
        Ok(())
    }

    pub fn timeframe(&self) -> Result<Timeframe> {
        self.collect.timeframe.parse().context("collect.timeframe")
    }

    pub fn markets(&self) -> Result<Vec<Market>> {
        parse_markets(&self.collect.markets.join(",")).context("collect.markets (or CANDLEKEEP_COLLECT_MARKETS)")
    }

    pub fn http(&self) -> HttpConfig {
        HttpConfig {
            timeout: Duration::from_secs(self.http.timeout_secs.max(1)),
            max_attempts: self.http.max_attempts.max(1),
            max_ban_wait: Duration::from_secs(self.http.max_ban_wait_secs),
            max_total_wait: Duration::from_secs(self.http.max_total_wait_secs),
            ..HttpConfig::default()
        }
    }

    /// The fallback chain of `asset` (per-asset list, else `collect.sources`).
    pub fn chain(&self, asset: &str) -> Result<Vec<SourceId>> {
        // Keys are compared without case: `sol = [...]` in the file and
        // CANDLEKEEP_ASSET_SOURCES_SOL both mean SOL.
        let per_asset = self
            .asset_sources
            .iter()
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(asset));
        match per_asset {
            Some((key, list)) => parse_chain(&format!("asset_sources.{key}"), list),
            None => parse_chain("collect.sources", &self.collect.sources),
        }
    }

    pub fn coingecko(&self) -> CoinGeckoConfig {
        CoinGeckoConfig {
            base_url: self.coingecko.base_url.clone(),
            api_key: Some(self.coingecko.api_key.clone()).filter(|k| !k.trim().is_empty()),
            plan: self.coingecko.plan,
            requests_per_minute: self.coingecko.requests_per_minute,
        }
    }

    pub fn cryptocompare(&self) -> CryptoCompareConfig {
        CryptoCompareConfig {
            base_url: self.cryptocompare.base_url.clone(),
            api_key: Some(self.cryptocompare.api_key.clone()).filter(|k| !k.trim().is_empty()),
            requests_per_minute: self.cryptocompare.requests_per_minute,
        }
    }

    pub fn okx(&self) -> OkxConfig {
        OkxConfig {
            base_url: self.okx.base_url.clone(),
            requests_per_2s: self.okx.requests_per_2s,
        }
    }

    pub fn bybit(&self) -> BybitConfig {
        BybitConfig {
            base_url: self.bybit.base_url.clone(),
            requests_per_5s: self.bybit.requests_per_5s,
        }
    }

    pub fn binance(&self, market: Market) -> BinanceConfig {
        let v = match market {
            Market::Spot => &self.binance_spot,
            Market::UsdM => &self.binance_usdm,
        };
        BinanceConfig {
            base_url: v.base_url.clone(),
            weight_limit: v.weight_per_minute,
            weight_window: Duration::from_secs(60),
        }
    }

    /// Instruments for `assets` (or the configured ones) on `markets`, each once, in the order
    /// given. `BTC` and `BTCUSDT` both mean BTC quoted in `collect.quote`; a symbol quoted in
    /// another stablecoin (`BTCUSDC` while the quote is USDT) is refused rather than turned into
    /// `BTCUSDCUSDT`.
    pub fn instruments(&self, assets: Option<&[String]>, markets: &[Market]) -> Result<Vec<Instrument>> {
        let assets = assets.unwrap_or(&self.collect.assets);
        if assets.is_empty() {
            bail!("no assets to collect: set collect.assets or pass --symbols");
        }
        let quote = self.collect.quote.trim().to_ascii_uppercase();
        let mut bases: Vec<String> = Vec::new();
        for asset in assets {
            let a = asset.trim().to_ascii_uppercase();
            if a.is_empty() {
                continue;
            }
            let base = match a.strip_suffix(&quote) {
                Some(base) if !base.is_empty() => base.to_owned(),
                _ => {
                    if let Some(other) = STABLE_QUOTES
                        .iter()
                        .find(|q| **q != quote && a.len() > q.len() && a.ends_with(*q))
                    {
                        bail!(
                            "asset {asset:?} is quoted in {other}, but collect.quote is {quote}: give the base asset \
                             ({}) or set collect.quote (CANDLEKEEP_COLLECT_QUOTE={other})",
                            &a[..a.len() - other.len()]
                        );
                    }
                    a
                }
            };
            // `--symbols BTC,BTC,btc,BTCUSDT` is one series, fetched once.
            if !bases.contains(&base) {
                bases.push(base);
            }
        }
        if bases.is_empty() {
            bail!("no assets to collect: set collect.assets or pass --symbols");
        }
        let mut out = Vec::new();
        for market in markets {
            for base in &bases {
                out.push(Instrument::new(*market, base, &quote).with_context(|| format!("asset {base:?}"))?);
            }
        }
        Ok(out)
    }
}

/// Quote assets that are never part of a base asset's name, so a symbol ending in one of them
/// names its quote (unlike BTC, ETH or USD: WBTC, STETH and PYUSD are assets).
const STABLE_QUOTES: [&str; 5] = ["FDUSD", "USDT", "USDC", "BUSD", "TUSD"];

/// The most coins `universe.max_coins` and `--max-coins` may ask for (CoinGecko ranks a few
/// thousand with a market cap; far more is a typo).
pub const MAX_COINS: u32 = 10_000;

/// Days back from now that still land after 2009 (dates before are refused anyway).
pub const MAX_DAYS_BACK: u32 = 6_000;

/// `value` within `min..=max`, else an error naming the key.
fn in_range<T: PartialOrd + std::fmt::Display>(key: &str, value: T, min: T, max: T) -> Result<()> {
    if value < min || value > max {
        bail!("{key} must be between {min} and {max}, not {value}");
    }
    Ok(())
}

/// A fallback chain: known REST sources, each once, at least one.
pub fn parse_chain(what: &str, names: &[String]) -> Result<Vec<SourceId>> {
    let mut chain = Vec::new();
    for name in names {
        let id: SourceId = name
            .trim()
            .parse()
            .map_err(anyhow::Error::msg)
            .with_context(|| what.to_owned())?;
        if id == SourceId::BinanceArchive {
            bail!("{what}: binance-archive is loaded with `candlekeep import`, not fetched");
        }
        if chain.contains(&id) {
            bail!("{what}: {id} is listed twice");
        }
        chain.push(id);
    }
    if chain.is_empty() {
        bail!("{what}: the fallback chain is empty");
    }
    Ok(chain)
}

pub fn parse_markets(list: &str) -> Result<Vec<Market>> {
    let mut out = Vec::new();
    for m in list.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let market: Market = m.parse()?;
        if !out.contains(&market) {
            out.push(market);
        }
    }
    if out.is_empty() {
        bail!("no markets given: use spot, usdm or spot,usdm");
    }
    Ok(out)
}

fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_table() && v.is_table() => merge(existing, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Applies `CANDLEKEEP_<SECTION>_<KEY>=value`, typed like the key it replaces.
fn apply_env(value: &mut toml::Value, vars: impl Iterator<Item = (String, String)>) -> Result<()> {
    let Some(table) = value.as_table_mut() else {
        return Ok(());
    };
    for (name, raw) in vars {
        let Some(rest) = name.strip_prefix("CANDLEKEEP_") else {
            continue;
        };
        if NOT_CONFIG.contains(&name.as_str()) {
            continue;
        }
        let rest = rest.to_ascii_lowercase();
        // `[asset_sources]` has no keys until one is set: CANDLEKEEP_ASSET_SOURCES_<ASSET> adds
        // (or replaces) that asset's chain.
        if let Some(asset) = rest.strip_prefix("asset_sources_").filter(|a| !a.is_empty()) {
            let chains = table
                .entry("asset_sources")
                .or_insert_with(|| toml::Value::Table(Default::default()));
            if let Some(chains) = chains.as_table_mut() {
                let asset = asset.to_ascii_uppercase();
                chains.retain(|k, _| !k.eq_ignore_ascii_case(&asset));
                chains.insert(asset, list_value(&raw));
            }
            continue;
        }
        let target = table.iter_mut().find_map(|(section, keys)| {
            let key = rest.strip_prefix(section.as_str())?.strip_prefix('_')?.to_owned();
            keys.as_table_mut()?
                .get_mut(&key)
                .map(|slot| (section.clone(), key, slot))
        });
        let Some((section, key, slot)) = target else {
            bail!(
                "environment variable {name} names no configuration key (expected CANDLEKEEP_<SECTION>_<KEY>, e.g. CANDLEKEEP_DATABASE_URL)"
            );
        };
        let bad = || format!("environment variable {name}={raw:?} is not a valid {section}.{key}");
        *slot = match slot {
            toml::Value::Integer(_) => toml::Value::Integer(raw.trim().parse().with_context(bad)?),
            toml::Value::Float(_) => {
                let f: f64 = raw.trim().parse().with_context(bad)?;
                if !f.is_finite() {
                    bail!("{}: not a finite number", bad());
                }
                toml::Value::Float(f)
            }
            toml::Value::Boolean(_) => toml::Value::Boolean(raw.trim().parse().with_context(bad)?),
            toml::Value::Array(_) => list_value(&raw),
            _ => toml::Value::String(raw),
        };
    }
    Ok(())
}

/// A comma-separated environment value as a TOML list of strings.
fn list_value(raw: &str) -> toml::Value {
    toml::Value::Array(
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| toml::Value::String(s.into()))
            .collect(),
    )
}

/// Reads `.env` in the working directory into the environment (variables already set win). The
/// whole file is checked first: a line that does not parse is an error naming the file and line,
/// since loading the lines before it and silently dropping the rest would, for one, leave
/// CANDLEKEEP_DATABASE_URL unset and create and use the wrong database.
pub fn load_dotenv() -> Result<()> {
    let path = Path::new(".env");
    if check_dotenv(path)? {
        dotenvy::from_path(path).with_context(|| format!("cannot load {}", path.display()))?;
    }
    Ok(())
}

/// Whether `path` exists, after checking that every line of it parses.
fn check_dotenv(path: &Path) -> Result<bool> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let lines_read = std::rc::Rc::new(std::cell::Cell::new(0));
    let reader = LineByLine {
        rest: text,
        lines_read: lines_read.clone(),
    };
    let mut parsed_through = 0;
    for item in dotenvy::from_read_iter(reader) {
        match item {
            Ok(_) => parsed_through = lines_read.get(),
            Err(e) => {
                // The failing entry starts at the first line after the last good one that is
                // neither blank nor a comment (a quoted value may span several lines).
                let line = text
                    .split(|&b| b == b'\n')
                    .enumerate()
                    .skip(parsed_through)
                    .find(|(_, l)| {
                        let l = String::from_utf8_lossy(l);
                        let l = l.trim();
                        !l.is_empty() && !l.starts_with('#')
                    })
                    .map_or(parsed_through + 1, |(i, _)| i + 1);
                // The line itself is not shown: it may hold a password or an API key.
                let why = match e {
                    dotenvy::Error::LineParse(..) => {
                        "expected NAME=VALUE (quote a value with spaces; a quote must be closed)"
                    }
                    _ => "not valid UTF-8 text",
                };
                bail!(
                    "{} line {line} does not parse: {why}; nothing from the file was used",
                    path.display()
                );
            }
        }
    }
    Ok(true)
}

/// Hands out one line per read, so the count of lines handed out says how far the `.env`
/// parser (which reads through a buffer, a line at a time) has got.
struct LineByLine<'a> {
    rest: &'a [u8],
    lines_read: std::rc::Rc<std::cell::Cell<usize>>,
}

impl std::io::Read for LineByLine<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let line_end = self
            .rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.rest.len(), |i| i + 1);
        let n = line_end.min(buf.len());
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        if n > 0 && n == line_end {
            self.lines_read.set(self.lines_read.get() + 1);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn template_is_the_defaults() {
        let from_template: Config = toml::from_str(TEMPLATE).unwrap();
        assert_eq!(
            toml::Value::try_from(from_template).unwrap(),
            toml::Value::try_from(Config::default()).unwrap()
        );
    }

    #[test]
    fn environment_overrides_keys_with_underscored_sections() {
        let mut v = toml::Value::try_from(Config::default()).unwrap();
        apply_env(
            &mut v,
            env(&[
                ("CANDLEKEEP_BINANCE_SPOT_BASE_URL", "http://127.0.0.1:9"),
                ("CANDLEKEEP_BINANCE_USDM_WEIGHT_PER_MINUTE", "1200"),
                ("CANDLEKEEP_COLLECT_ASSETS", "SOL, XRP"),
                ("CANDLEKEEP_DATABASE_URL", "sqlite:/tmp/x.db"),
                ("CANDLEKEEP_LOG", "debug"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        let c: Config = v.try_into().unwrap();
        assert_eq!(c.binance_spot.base_url, "http://127.0.0.1:9");
        assert_eq!(c.binance_usdm.weight_per_minute, 1200);
        assert_eq!(c.collect.assets, vec!["SOL", "XRP"]);
        assert_eq!(c.database.url, "sqlite:/tmp/x.db");
    }

    #[test]
    fn bad_environment_values_are_named() {
        let mut v = toml::Value::try_from(Config::default()).unwrap();
        let e = apply_env(&mut v, env(&[("CANDLEKEEP_HTTP_TIMEOUT_SECS", "soon")])).unwrap_err();
        assert!(format!("{e:#}").contains("CANDLEKEEP_HTTP_TIMEOUT_SECS"));
        let e = apply_env(&mut v, env(&[("CANDLEKEEP_HTTP_TIMEOUTS", "5")])).unwrap_err();
        assert!(e.to_string().contains("names no configuration key"));
    }

    #[test]
    fn environment_sets_floats_and_per_asset_chains() {
        let mut v = toml::Value::try_from(Config::default()).unwrap();
        apply_env(
            &mut v,
            env(&[
                ("CANDLEKEEP_QUALITY_JUMP_PCT", "25.5"),
                ("CANDLEKEEP_QUALITY_MAX_MOVE_RATIO", "50.5"),
                ("CANDLEKEEP_HTTP_MAX_TOTAL_WAIT_SECS", "90"),
                ("CANDLEKEEP_ASSET_SOURCES_BTC", "okx-rest, bybit-rest"),
            ]),
        )
        .unwrap();
        let c: Config = v.try_into().unwrap();
        assert_eq!(c.quality.jump_pct, 25.5);
        assert_eq!(c.quality.max_move_ratio, 50.5);
        assert_eq!(c.http().max_total_wait, Duration::from_secs(90));
        assert_eq!(c.chain("BTC").unwrap(), vec![SourceId::OkxRest, SourceId::BybitRest]);
        assert_eq!(c.chain("ETH").unwrap(), DEFAULT_CHAIN.to_vec());
        let mut v = toml::Value::try_from(Config::default()).unwrap();
        for bad in ["fast", "inf", "NaN"] {
            let e = apply_env(&mut v, env(&[("CANDLEKEEP_QUALITY_JUMP_PCT", bad)])).unwrap_err();
            assert!(format!("{e:#}").contains("CANDLEKEEP_QUALITY_JUMP_PCT"), "{bad}");
        }
    }

    #[test]
    fn numbers_are_range_checked() {
        let mut c = Config::default();
        c.database.busy_timeout_secs = u64::MAX;
        assert!(format!("{:#}", c.validate().unwrap_err()).contains("database.busy_timeout_secs"));
        let mut c = Config::default();
        c.quality.max_move_ratio = 1.0;
        assert!(format!("{:#}", c.validate().unwrap_err()).contains("quality.max_move_ratio"));
        let mut c = Config::default();
        c.http.max_total_wait_secs = 0;
        assert!(format!("{:#}", c.validate().unwrap_err()).contains("http.max_total_wait_secs"));
        let mut c = Config::default();
        c.universe.max_coins = u32::MAX;
        assert!(format!("{:#}", c.validate().unwrap_err()).contains("universe.max_coins"));
        let mut c = Config::default();
        c.collect.markets = vec!["options".into()];
        assert!(format!("{:#}", c.validate().unwrap_err()).contains("collect.markets"));
        let mut c = Config::default();
        c.schedule.gap_repair = "0 25 * * *".into();
        let err = format!("{:#}", c.validate().unwrap_err());
        assert!(
            err.contains("schedule.gap_repair") && err.contains("0 25 * * *"),
            "{err}"
        );
        Config::default().validate().unwrap();
    }

    #[test]
    fn symbols_are_deduplicated_and_other_quotes_refused() {
        let c = Config::default();
        let i = c
            .instruments(
                Some(&["BTC".into(), "btc".into(), "BTCUSDT".into(), "ETH".into(), "".into()]),
                &[Market::Spot],
            )
            .unwrap();
        assert_eq!(
            i.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
            vec!["spot:BTCUSDT", "spot:ETHUSDT"]
        );
        let e = c.instruments(Some(&["BTCUSDC".into()]), &[Market::Spot]).unwrap_err();
        assert!(e.to_string().contains("quoted in USDC"), "{e}");
        // Assets whose names end like a non-stablecoin quote are assets, not symbols.
        let i = c.instruments(Some(&["WBTC".into()]), &[Market::Spot]).unwrap();
        assert_eq!(i[0].to_string(), "spot:WBTCUSDT");
    }

    #[test]
    fn dotenv_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "A=1\n\n# c\nB C D\nE=2\n").unwrap();
        let e = check_dotenv(&path).unwrap_err().to_string();
        assert!(e.contains(".env line 4"), "{e}");
        std::fs::write(&path, "A=\"x\ny\"\nB=2\n").unwrap();
        assert!(check_dotenv(&path).unwrap());
        assert!(!check_dotenv(&dir.path().join("missing")).unwrap());
    }

    #[test]
    fn instruments_from_assets() {
        let c = Config::default();
        let i = c
            .instruments(Some(&["btc".into(), "ETHUSDT".into()]), &[Market::UsdM])
            .unwrap();
        assert_eq!(
            i.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
            vec!["usdm:BTCUSDT", "usdm:ETHUSDT"]
        );
        assert!(c.instruments(Some(&["BTC/USD".into()]), &[Market::Spot]).is_err());
    }
}
