//! `candlekeep.toml`: defaults, the file, then `CANDLEKEEP_<SECTION>_<KEY>` environment variables
//! (after `.env`), then command-line flags — each later one wins.

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
    pub okx: OkxSection,
    pub bybit: BybitSection,
    pub cryptocompare: CryptoCompareSection,
    pub coingecko: CoinGeckoSection,
    /// Per-asset fallback chains (`SOL = ["okx-rest", "bybit-rest"]`), replacing `collect.sources`.
    pub asset_sources: std::collections::BTreeMap<String, Vec<String>>,
    pub http: HttpSection,
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
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite:data/candlekeep.db";

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
[asset_sources]

[http]
timeout_secs = 30
# Attempts per request on server errors, timeouts and broken answers (with backoff and jitter).
max_attempts = 6
# Longest IP ban (HTTP 418) worth waiting out; a longer one stops the job with an error.
max_ban_wait_secs = 600
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

    fn validate(&self) -> Result<()> {
        self.timeframe()?;
        self.markets()?;
        if self.collect.concurrency == 0 {
            bail!("collect.concurrency must be at least 1");
        }
        for (name, v) in [
            ("binance_spot", &self.binance_spot),
            ("binance_usdm", &self.binance_usdm),
        ] {
            if v.weight_per_minute == 0 {
                bail!("{name}.weight_per_minute must be at least 1");
            }
        }
        if self.universe.max_coins == 0 || self.coingecko.requests_per_minute == 0 {
            bail!("universe.max_coins and coingecko.requests_per_minute must be at least 1");
        }
        if self.quality.jump_pct.is_nan() || self.quality.jump_pct <= 0.0 || self.quality.days == 0 {
            bail!("quality.jump_pct must be above 0 and quality.days at least 1");
        }
        if !(self.quality.max_move_ratio.is_finite() && self.quality.max_move_ratio > 1.0) {
            bail!(
                "quality.max_move_ratio must be a number above 1 (it is {})",
                self.quality.max_move_ratio
            );
        }
        if self.cryptocompare.requests_per_minute == 0 {
            bail!("cryptocompare.requests_per_minute must be at least 1");
        }
        if self.okx.requests_per_2s < 2 || self.bybit.requests_per_5s == 0 {
            bail!("okx.requests_per_2s must be at least 2 and bybit.requests_per_5s at least 1");
        }
        parse_chain("collect.sources", &self.collect.sources)?;
        for (asset, chain) in &self.asset_sources {
            parse_chain(&format!("asset_sources.{asset}"), chain)?;
        }
        Ok(())
    }

    pub fn timeframe(&self) -> Result<Timeframe> {
        self.collect.timeframe.parse().context("collect.timeframe")
    }

    pub fn markets(&self) -> Result<Vec<Market>> {
        parse_markets(&self.collect.markets.join(","))
    }

    pub fn http(&self) -> HttpConfig {
        HttpConfig {
            timeout: Duration::from_secs(self.http.timeout_secs.max(1)),
            max_attempts: self.http.max_attempts.max(1),
            max_ban_wait: Duration::from_secs(self.http.max_ban_wait_secs),
            ..HttpConfig::default()
        }
    }

    /// The fallback chain of `asset` (per-asset list, else `collect.sources`).
    pub fn chain(&self, asset: &str) -> Result<Vec<SourceId>> {
        match self.asset_sources.get(asset) {
            Some(list) => parse_chain(&format!("asset_sources.{asset}"), list),
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

    /// Instruments for `assets` (or the configured ones) on `markets`.
    pub fn instruments(&self, assets: Option<&[String]>, markets: &[Market]) -> Result<Vec<Instrument>> {
        let assets = assets.unwrap_or(&self.collect.assets);
        if assets.is_empty() {
            bail!("no assets to collect: set collect.assets or pass --symbols");
        }
        let quote = self.collect.quote.trim().to_ascii_uppercase();
        let mut out = Vec::new();
        for market in markets {
            for asset in assets {
                let a = asset.trim().to_ascii_uppercase();
                let base = match a.strip_suffix(&quote) {
                    Some(base) if !base.is_empty() => base,
                    _ => &a,
                };
                out.push(Instrument::new(*market, base, &quote).with_context(|| format!("asset {asset:?}"))?);
            }
        }
        Ok(out)
    }
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
            toml::Value::Boolean(_) => toml::Value::Boolean(raw.trim().parse().with_context(bad)?),
            toml::Value::Array(_) => toml::Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| toml::Value::String(s.into()))
                    .collect(),
            ),
            _ => toml::Value::String(raw),
        };
    }
    Ok(())
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
