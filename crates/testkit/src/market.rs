//! A deterministic random-walk market.
//!
//! The log price at minute `m` is a sum of value-noise octaves (spacings 1, 2, 4 … 2^19 minutes,
//! amplitudes growing with the square root of the spacing), which looks like a random walk with
//! volatility clustering but can be evaluated at any instant without walking from the start.
//! Prices are kept as integer ticks so that the wire strings, and hence the parsed `f64`s, are exact.
//!
//! A coin has one walk: its spot price. Its perpetual tracks it at a small, slowly varying basis
//! (a few basis points), as funding keeps real perpetuals close to spot, so a fallback from one
//! market's venue to another's and any spot/perp comparison see realistic differences.

use candlekeep_core::{Candle, Market, Timeframe};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const OCTAVES: u32 = 20;

/// A coin the simulated venues list: base price (sets tick size) and listing dates.
#[derive(Debug, Clone, Copy)]
struct Listing {
    symbol: &'static str,
    base_price: f64,
    spot_listed_ms: i64,
    usdm_listed_ms: i64,
}

const fn ms(days_since_epoch: i64, hour: i64) -> i64 {
    days_since_epoch * 24 * HOUR_MS + hour * HOUR_MS
}

/// Listing days are days since 1970-01-01 (17395 = 2017-08-17).
const LISTINGS: [Listing; 20] = [
    Listing {
        symbol: "BTCUSDT",
        base_price: 30_000.0,
        spot_listed_ms: ms(17395, 4),
        usdm_listed_ms: ms(18147, 0),
    },
    Listing {
        symbol: "ETHUSDT",
        base_price: 2_000.0,
        spot_listed_ms: ms(17395, 4),
        usdm_listed_ms: ms(18210, 0),
    },
    Listing {
        symbol: "BNBUSDT",
        base_price: 300.0,
        spot_listed_ms: ms(17481, 2),
        usdm_listed_ms: ms(18288, 0),
    },
    Listing {
        symbol: "SOLUSDT",
        base_price: 50.0,
        spot_listed_ms: ms(18485, 6),
        usdm_listed_ms: ms(18518, 0),
    },
    Listing {
        symbol: "XRPUSDT",
        base_price: 0.5,
        spot_listed_ms: ms(17655, 8),
        usdm_listed_ms: ms(18230, 0),
    },
    Listing {
        symbol: "DOGEUSDT",
        base_price: 0.1,
        spot_listed_ms: ms(18082, 12),
        usdm_listed_ms: ms(18480, 0),
    },
    Listing {
        symbol: "ADAUSDT",
        base_price: 0.4,
        spot_listed_ms: ms(17638, 4),
        usdm_listed_ms: ms(18260, 0),
    },
    Listing {
        symbol: "LTCUSDT",
        base_price: 80.0,
        spot_listed_ms: ms(17532, 0),
        usdm_listed_ms: ms(18240, 0),
    },
    Listing {
        symbol: "LINKUSDT",
        base_price: 10.0,
        spot_listed_ms: ms(17912, 10),
        usdm_listed_ms: ms(18250, 0),
    },
    Listing {
        symbol: "DOTUSDT",
        base_price: 8.0,
        spot_listed_ms: ms(18492, 23),
        usdm_listed_ms: ms(18500, 0),
    },
    Listing {
        symbol: "AVAXUSDT",
        base_price: 20.0,
        spot_listed_ms: ms(18527, 6),
        usdm_listed_ms: ms(18530, 0),
    },
    Listing {
        symbol: "TRXUSDT",
        base_price: 0.08,
        spot_listed_ms: ms(17693, 11),
        usdm_listed_ms: ms(18270, 0),
    },
    Listing {
        symbol: "XLMUSDT",
        base_price: 0.12,
        spot_listed_ms: ms(17682, 9),
        usdm_listed_ms: ms(18280, 0),
    },
    Listing {
        symbol: "BCHUSDT",
        base_price: 250.0,
        spot_listed_ms: ms(18228, 10),
        usdm_listed_ms: ms(18240, 0),
    },
    Listing {
        symbol: "NEARUSDT",
        base_price: 3.0,
        spot_listed_ms: ms(18549, 5),
        usdm_listed_ms: ms(18560, 0),
    },
    Listing {
        symbol: "ATOMUSDT",
        base_price: 10.0,
        spot_listed_ms: ms(18010, 0),
        usdm_listed_ms: ms(18300, 0),
    },
    Listing {
        symbol: "UNIUSDT",
        base_price: 6.0,
        spot_listed_ms: ms(18522, 0),
        usdm_listed_ms: ms(18525, 0),
    },
    Listing {
        symbol: "FILUSDT",
        base_price: 5.0,
        spot_listed_ms: ms(18535, 0),
        usdm_listed_ms: ms(18540, 0),
    },
    Listing {
        symbol: "ETCUSDT",
        base_price: 20.0,
        spot_listed_ms: ms(17710, 0),
        usdm_listed_ms: ms(18290, 0),
    },
    Listing {
        symbol: "APTUSDT",
        base_price: 8.0,
        spot_listed_ms: ms(19283, 0),
        usdm_listed_ms: ms(19283, 0),
    },
];

/// One simulated bar with prices as integer ticks (exact), ready to print in either wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimCandle {
    pub open_time_ms: i64,
    pub close_time_ms: i64,
    pub open: i64,
    pub high: i64,
    pub low: i64,
    pub close: i64,
    /// Base volume in units of 10^-`qty_decimals`.
    pub volume: i64,
    /// Quote volume in units of 10^-`quote_decimals`.
    pub quote_volume: i64,
    pub trades: u64,
    pub taker_buy_volume: i64,
    pub price_decimals: u32,
    pub qty_decimals: u32,
    pub quote_decimals: u32,
}

impl SimCandle {
    /// The same bar as another venue prints it: prices scaled by `1 + basis_bp / 10,000`
    /// (monotonic, so the bar stays consistent) and `share_pct` % of the volume.
    pub fn at_venue(&self, basis_bp: i64, share_pct: i64) -> SimCandle {
        let price = |v: i64| (v as i128 * (10_000 + basis_bp) as i128 / 10_000) as i64;
        let share = |v: i64| (v as i128 * share_pct as i128 / 100) as i64;
        SimCandle {
            open: price(self.open),
            high: price(self.high),
            low: price(self.low),
            close: price(self.close),
            volume: share(self.volume),
            quote_volume: share(self.quote_volume),
            trades: (self.trades as i128 * share_pct as i128 / 100) as u64,
            taker_buy_volume: share(self.taker_buy_volume),
            ..*self
        }
    }

    /// The candle as a client that parsed the wire strings would hold it.
    pub fn to_candle(&self) -> Candle {
        let p = |v: i64| scaled(v, self.price_decimals);
        Candle {
            open_time_ms: self.open_time_ms,
            open: p(self.open),
            high: p(self.high),
            low: p(self.low),
            close: p(self.close),
            volume: Some(scaled(self.volume, self.qty_decimals)),
            quote_volume: Some(scaled(self.quote_volume, self.quote_decimals)),
            trades: Some(self.trades),
        }
    }
}

/// `value × 10^-decimals` as the correctly rounded `f64` (what parsing the wire string gives).
fn scaled(value: i64, decimals: u32) -> f64 {
    format_fixed(value, decimals, decimals).parse().unwrap_or(f64::NAN)
}

/// Prints integer `value × 10^-decimals` with exactly `shown` decimals (`shown >= decimals`).
pub fn format_fixed(value: i64, decimals: u32, shown: u32) -> String {
    let unit = 10i64.pow(decimals);
    let (sign, v) = if value < 0 { ("-", -value) } else { ("", value) };
    if shown == 0 {
        return format!("{sign}{v}");
    }
    let frac = format!("{:0width$}", v % unit, width = decimals as usize);
    format!("{sign}{}.{frac}{}", v / unit, "0".repeat((shown - decimals) as usize))
}

/// The simulated market: a seed plus the venue-wide outage pattern.
#[derive(Debug, Clone)]
pub struct SimMarket {
    seed: u64,
    outages: bool,
    /// Synthetic coins `SIM001USDT`… beyond the 20 named ones (for universe-sized runs).
    extra_coins: u32,
    /// Varies the outage pattern without changing prices: each simulated venue has its own.
    outage_salt: u64,
}

impl Default for SimMarket {
    fn default() -> Self {
        Self::new(0x00C4_0D1E_CEE9)
    }
}

impl SimMarket {
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            outages: true,
            extra_coins: 0,
            outage_salt: 0,
        }
    }

    /// Turns the venue-wide maintenance outages (missing bars) on or off.
    pub fn with_outages(mut self, on: bool) -> Self {
        self.outages = on;
        self
    }

    /// The same prices with another venue's outage pattern.
    pub fn with_outage_salt(mut self, salt: u64) -> Self {
        self.outage_salt = salt;
        self
    }

    /// Adds `n` synthetic coins `SIM001USDT`…, listed on both markets since 2022, with prices
    /// from $0.01 to $500.
    pub fn with_extra_coins(mut self, n: u32) -> Self {
        self.extra_coins = n.min(999);
        self
    }

    /// The 20 named symbols every simulated market lists.
    pub fn symbols() -> impl Iterator<Item = &'static str> {
        LISTINGS.iter().map(|l| l.symbol)
    }

    /// Every symbol this market lists: the named ones, then the synthetic ones.
    pub fn all_symbols(&self) -> Vec<String> {
        Self::symbols()
            .map(str::to_owned)
            .chain((1..=self.extra_coins).map(|i| format!("SIM{i:03}USDT")))
            .collect()
    }

    fn listing(&self, symbol: &str) -> Option<Listing> {
        if let Some(l) = LISTINGS.iter().find(|l| l.symbol == symbol) {
            return Some(*l);
        }
        let n: u32 = symbol.strip_prefix("SIM")?.strip_suffix("USDT")?.parse().ok()?;
        if n == 0 || n > self.extra_coins {
            return None;
        }
        let h = mix(self.seed, u64::from(n), 0x5153);
        Some(Listing {
            symbol: "SIM",
            base_price: 0.01 * 10f64.powf(4.7 * unit(h >> 11)),
            spot_listed_ms: ms(19000 + (h % 200) as i64, 0),
            usdm_listed_ms: ms(19000 + (h % 200) as i64 + 30, 0),
        })
    }

    /// Open time of the first bar of `symbol` on `market`, or `None` for an unknown symbol.
    pub fn listed_ms(&self, market: Market, symbol: &str) -> Option<i64> {
        self.listing(symbol).map(|l| match market {
            Market::Spot => l.spot_listed_ms,
            Market::UsdM => l.usdm_listed_ms,
        })
    }

    /// Whether the venue was down (no bars at all) during the minute starting at `t_ms`.
    /// About one outage of 1–8 hours every 4096 hours, the same for every symbol of a market.
    pub fn in_outage(&self, market: Market, t_ms: i64) -> bool {
        if !self.outages {
            return false;
        }
        let block_len = 4096 * HOUR_MS;
        let block = t_ms.div_euclid(block_len);
        let h = mix(
            self.seed ^ 0x07A9E ^ market_salt(market) ^ self.outage_salt,
            block as u64,
            0,
        );
        let start = block * block_len + (h % 4000) as i64 * HOUR_MS;
        let len = (1 + (h >> 20) % 8) as i64 * HOUR_MS;
        (start..start + len).contains(&t_ms)
    }

    /// The closed bar of `symbol` opening at `open_ms`; `None` before listing, during an outage,
    /// off the timeframe grid, or for an unknown symbol.
    pub fn candle(&self, market: Market, symbol: &str, tf: Timeframe, open_ms: i64) -> Option<SimCandle> {
        self.bar(market, symbol, tf, open_ms, open_ms + tf.millis())
    }

    /// The bar opening at `open_ms` as seen at `now_ms` (partial when the bar is still open).
    pub fn bar(&self, market: Market, symbol: &str, tf: Timeframe, open_ms: i64, now_ms: i64) -> Option<SimCandle> {
        let l = self.listing(symbol)?;
        let listed = self.listed_ms(market, symbol)?;
        if open_ms % tf.millis() != 0 || open_ms + tf.millis() <= listed || self.in_outage(market, open_ms) {
            return None;
        }
        let end_ms = now_ms.min(open_ms + tf.millis());
        if end_ms <= open_ms {
            return None;
        }
        let salt = symbol_salt(symbol) ^ market_salt(market);
        // The spot market's salt keys the walk of both markets (see the module comment).
        let walk_salt = symbol_salt(symbol) ^ market_salt(Market::Spot);
        let (price_decimals, qty_decimals) = precision(market, l.base_price);
        let quote_decimals = match market {
            Market::Spot => 8,
            Market::UsdM => 5,
        };
        let tick = 10f64.powi(price_decimals as i32);
        let premium = |t: i64| match market {
            Market::Spot => 1.0,
            Market::UsdM => 1.0 + self.basis(walk_salt, t),
        };
        let price_at = |t: i64| {
            (self.price(walk_salt, l.base_price, t) * premium(t) * tick)
                .round()
                .max(1.0) as i64
        };
        let key = mix(self.seed ^ salt, open_ms as u64, tf.millis() as u64);

        // About one bar in 20,000 is a zero-trade bar: OHLC = previous close, no volume.
        let open = price_at(open_ms);
        if key % 20_000 == 7 {
            return Some(SimCandle {
                open_time_ms: open_ms,
                close_time_ms: open_ms + tf.millis() - 1,
                open,
                high: open,
                low: open,
                close: open,
                volume: 0,
                quote_volume: 0,
                trades: 0,
                taker_buy_volume: 0,
                price_decimals,
                qty_decimals,
                quote_decimals,
            });
        }
        let close = price_at(end_ms);
        let span_hours = (end_ms - open_ms) as f64 / HOUR_MS as f64;
        let wick = 0.004 * span_hours.sqrt();
        let up = unit(key >> 11) * wick;
        let down = unit(mix(key, 1, 2) >> 11) * wick;
        let high = ((open.max(close) as f64) * (1.0 + up)).round() as i64;
        let low = (((open.min(close) as f64) * (1.0 - down)).round() as i64).max(1);

        let ret = (close - open).abs() as f64 / open as f64;
        let base_units = 1e6 / l.base_price; // about $1M traded per hour
        let vol_f = base_units * span_hours * (0.3 + 1.4 * unit(mix(key, 3, 4) >> 11)) * (1.0 + 40.0 * ret);
        let qty_scale = 10f64.powi(qty_decimals as i32);
        let volume = (vol_f * qty_scale).round().max(1.0) as i64;
        let mid = (open + high + low + close) as f64 / 4.0 / tick;
        let quote_volume = (vol_f * mid * 10f64.powi(quote_decimals as i32)).round() as i64;
        let trades = ((vol_f * mid / 900.0).round() as u64).max(1);
        let taker_buy_volume = (volume as f64 * (0.35 + 0.3 * unit(mix(key, 5, 6) >> 11))).round() as i64;
        Some(SimCandle {
            open_time_ms: open_ms,
            close_time_ms: open_ms + tf.millis() - 1,
            open,
            high,
            low,
            close,
            volume,
            quote_volume,
            trades,
            taker_buy_volume,
            price_decimals,
            qty_decimals,
            quote_decimals,
        })
    }

    /// Every closed bar in `[from_ms, to_ms)`, ascending: the ground truth a client should end with.
    pub fn candles(&self, market: Market, symbol: &str, tf: Timeframe, from_ms: i64, to_ms: i64) -> Vec<SimCandle> {
        let mut t = tf.ceil(from_ms);
        let mut out = Vec::new();
        while t < to_ms {
            if let Some(c) = self.candle(market, symbol, tf, t) {
                out.push(c);
            }
            t += tf.millis();
        }
        out
    }

    /// Spot mid price at instant `t_ms` (interpolated between minutes).
    fn price(&self, salt: u64, base: f64, t_ms: i64) -> f64 {
        let m = t_ms as f64 / MINUTE_MS as f64;
        let log_p: f64 = (0..OCTAVES)
            .map(|k| {
                let spacing = (1u64 << k) as f64;
                0.0009 * spacing.sqrt() * self.noise(salt, u64::from(k), spacing, m)
            })
            .sum();
        base * log_p.exp()
    }

    /// The perpetual's premium over spot at `t_ms`, as a fraction: +3 bp on average, drifting
    /// within about ±6 bp over days and ±2 bp over hours (never more than 11 bp either way).
    fn basis(&self, salt: u64, t_ms: i64) -> f64 {
        let m = t_ms as f64 / MINUTE_MS as f64;
        let salt = salt ^ 0xBA515;
        let slow = self.noise(salt, 0, 4096.0, m);
        let fast = self.noise(salt, 1, 256.0, m);
        (3.0 + 6.0 * slow + 2.0 * fast) * 1e-4
    }

    /// Value noise in [-1, 1] at minute `m`: random values `spacing` minutes apart (octave
    /// `octave` of the stream `salt`), linearly interpolated, so any instant is evaluated directly.
    fn noise(&self, salt: u64, octave: u64, spacing: f64, m: f64) -> f64 {
        let x = m / spacing;
        let i = x.floor();
        let f = x - i;
        let a = signed_unit(mix(self.seed ^ salt, octave, i as i64 as u64));
        let b = signed_unit(mix(self.seed ^ salt, octave, (i as i64 + 1) as u64));
        a + (b - a) * f
    }
}

/// Tick decimals for prices and quantities, from the size of the coin's price.
fn precision(market: Market, base_price: f64) -> (u32, u32) {
    let magnitude = base_price.log10().floor() as i32; // BTC 4, DOGE -1
    let price = (6 - magnitude).clamp(1, 8) as u32;
    let qty = match market {
        Market::Spot => (magnitude + 1).clamp(0, 5) as u32 + 2,
        Market::UsdM => (magnitude - 1).clamp(0, 3) as u32,
    };
    match market {
        Market::Spot => (price, qty),
        Market::UsdM => (price.saturating_sub(1).max(1), qty),
    }
}

fn market_salt(market: Market) -> u64 {
    match market {
        Market::Spot => 0x5907,
        Market::UsdM => 0xF07E_0000,
    }
}

fn symbol_salt(symbol: &str) -> u64 {
    symbol.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x1000_0000_01B3)
    })
}

/// splitmix64 over three words.
fn mix(a: u64, b: u64, c: u64) -> u64 {
    let mut z = a
        .wrapping_add(b.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(c.wrapping_mul(0xC2B2_AE3D_27D4_EB4F));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(bits: u64) -> f64 {
    (bits & ((1 << 53) - 1)) as f64 / (1u64 << 53) as f64
}

fn signed_unit(bits: u64) -> f64 {
    2.0 * unit(bits >> 11) - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 24 * HOUR_MS;

    #[test]
    fn candles_are_a_pure_function_of_the_seed() {
        let a = SimMarket::new(1).candles(Market::Spot, "BTCUSDT", Timeframe::H1, 19_000 * DAY, 19_010 * DAY);
        let b = SimMarket::new(1).candles(Market::Spot, "BTCUSDT", Timeframe::H1, 19_000 * DAY, 19_010 * DAY);
        let c = SimMarket::new(2).candles(Market::Spot, "BTCUSDT", Timeframe::H1, 19_000 * DAY, 19_010 * DAY);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn bars_are_consistent_and_continuous() {
        let m = SimMarket::new(3).with_outages(false);
        let bars = m.candles(Market::UsdM, "ETHUSDT", Timeframe::H1, 19_000 * DAY, 19_100 * DAY);
        assert_eq!(bars.len(), 2400);
        for w in bars.windows(2) {
            let (a, b) = (w[0], w[1]);
            assert!(a.high >= a.open.max(a.close) && a.low <= a.open.min(a.close) && a.low > 0);
            if b.trades > 0 && a.trades > 0 {
                assert_eq!(a.close, b.open, "next open is previous close");
            }
        }
        let first = bars[0].to_candle().close;
        let moved = bars.iter().any(|c| (c.to_candle().close / first - 1.0).abs() > 0.03);
        assert!(moved, "the walk moves by more than 3% over 100 days");
    }

    #[test]
    fn nothing_before_listing_and_outages_are_venue_wide() {
        let m = SimMarket::default();
        let listed = m.listed_ms(Market::Spot, "SOLUSDT").unwrap();
        assert!(
            m.candle(Market::Spot, "SOLUSDT", Timeframe::H1, listed - HOUR_MS)
                .is_none()
        );
        assert!(m.candle(Market::Spot, "SOLUSDT", Timeframe::H1, listed).is_some());
        assert!(m.candle(Market::Spot, "NOPEUSDT", Timeframe::H1, listed).is_none());
        let span = m.candles(Market::Spot, "BTCUSDT", Timeframe::H1, 18_000 * DAY, 18_400 * DAY);
        let missing: Vec<i64> = (18_000 * 24..18_400 * 24)
            .map(|h| h * HOUR_MS)
            .filter(|t| m.in_outage(Market::Spot, *t))
            .collect();
        assert!(!missing.is_empty());
        assert_eq!(span.len() + missing.len(), 400 * 24);
        for t in missing {
            assert!(m.candle(Market::Spot, "ETHUSDT", Timeframe::H1, t).is_none());
        }
    }

    #[test]
    fn perpetuals_track_spot_at_a_small_slowly_varying_basis() {
        let m = SimMarket::default().with_outages(false).with_extra_coins(5);
        let (from, to) = (19_700 * DAY, 19_760 * DAY);
        let mut symbols: Vec<String> = SimMarket::symbols().take(8).map(str::to_owned).collect();
        symbols.push("SIM003USDT".into());
        for symbol in &symbols {
            let spot = m.candles(Market::Spot, symbol, Timeframe::H1, from, to);
            let perp = m.candles(Market::UsdM, symbol, Timeframe::H1, from, to);
            assert_eq!(spot.len(), perp.len(), "{symbol}");
            let basis: Vec<f64> = spot
                .iter()
                .zip(&perp)
                .filter(|(s, p)| s.trades > 0 && p.trades > 0)
                .map(|(s, p)| p.to_candle().close / s.to_candle().close - 1.0)
                .collect();
            assert!(basis.len() > 1400, "{symbol}");
            let max = basis.iter().fold(0f64, |a, b| a.max(b.abs()));
            assert!(max < 0.005, "{symbol}: perp/spot - 1 reaches {max}");
            let mean = basis.iter().sum::<f64>() / basis.len() as f64;
            assert!(mean.abs() < 0.001, "{symbol}: mean basis {mean}");
            // It varies, slowly: not a constant factor, and hour to hour it moves far less than
            // the price itself.
            let (lo, hi) = basis
                .iter()
                .fold((f64::MAX, f64::MIN), |(lo, hi), b| (lo.min(*b), hi.max(*b)));
            assert!(hi - lo > 0.0003, "{symbol}: basis stays within {lo}..{hi}");
            let step = basis.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0f64, f64::max);
            assert!(step < 0.001, "{symbol}: basis jumps by {step} in an hour");
        }
    }

    #[test]
    fn fixed_formatting_is_exact() {
        assert_eq!(format_fixed(111_080_000, 8, 8), "1.11080000");
        assert_eq!(format_fixed(5_721_269, 2, 8), "57212.69000000");
        assert_eq!(format_fixed(496_263, 3, 3), "496.263");
        assert_eq!(format_fixed(7, 0, 0), "7");
        assert_eq!(format_fixed(5, 3, 3), "0.005");
    }
}
