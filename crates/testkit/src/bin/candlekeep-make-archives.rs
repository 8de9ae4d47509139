//! Writes a Binance-layout tree of monthly 1h archives (zip + CHECKSUM) from the simulated
//! market, for the import benchmark:
//!
//! ```text
//! candlekeep-make-archives OUT_DIR [--symbols 20] [--from-year 2020] [--years 6] [--market spot|usdm]
//! ```

use std::path::PathBuf;

use candlekeep_core::{Market, Timeframe};
use candlekeep_testkit::{
    SimMarket,
    archive::{ArchiveStyle, month_start_ms, write_monthly},
};

fn flag(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_owned())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let out = PathBuf::from(
        args.get(1)
            .ok_or("usage: candlekeep-make-archives OUT_DIR [--symbols N] …")?,
    );
    let symbols: usize = flag(&args, "--symbols", "20").parse()?;
    let from_year: i32 = flag(&args, "--from-year", "2020").parse()?;
    let years: i32 = flag(&args, "--years", "6").parse()?;
    let market: Market = flag(&args, "--market", "spot").parse()?;
    let layout = match market {
        Market::Spot => "data/spot/monthly/klines",
        Market::UsdM => "data/futures/um/monthly/klines",
    };
    let market_gen = SimMarket::default();
    let (mut files, mut rows) = (0, 0);
    for symbol in SimMarket::symbols().take(symbols) {
        let dir = out.join(layout).join(symbol).join("1h");
        std::fs::create_dir_all(&dir)?;
        let listed = market_gen.listed_ms(market, symbol).unwrap_or(i64::MAX);
        for year in from_year..from_year + years {
            for month in 1..=12 {
                let next = if month == 12 {
                    month_start_ms(year + 1, 1)
                } else {
                    month_start_ms(year, month + 1)
                };
                if next <= listed {
                    continue; // Binance publishes nothing before a listing.
                }
                let style = ArchiveStyle::binance(market, year, month);
                let (_, n) = write_monthly(&dir, &market_gen, market, symbol, Timeframe::H1, (year, month), style)?;
                files += 1;
                rows += n;
            }
        }
    }
    println!("{files} files, {rows} rows in {}", out.display());
    Ok(())
}
