//! What an archive's file name and folder say: symbol, timeframe, period and market.
//! `data/futures/um/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01.zip` says all four.

use std::path::Path;

use candlekeep_core::{Market, Timeframe};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveName {
    pub symbol: String,
    pub timeframe: Timeframe,
    /// `[start, end)` in epoch ms of the month or day the file holds.
    pub period: Option<(i64, i64)>,
    /// From the folder layout (`spot/`, `futures/um/`), when present.
    pub market: Option<Market>,
}

/// Parses `SYMBOL-INTERVAL-YYYY-MM[-DD].(zip|csv)`; `None` when the name is not in that form.
pub fn describe(path: &Path) -> Option<ArchiveName> {
    let name = path.file_name()?.to_str()?;
    // Extensions in any case: a `.ZIP` copied from another system is the same file.
    let stem = [".zip", ".csv"]
        .iter()
        .find_map(|ext| {
            let cut = name.len().checked_sub(ext.len())?;
            let tail = name.get(cut..)?;
            tail.eq_ignore_ascii_case(ext).then(|| &name[..cut])
        })
        .unwrap_or(name);
    let mut parts = stem.split('-');
    let symbol = parts.next()?.to_owned();
    let timeframe: Timeframe = parts.next()?.parse().ok()?;
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: Option<u32> = match parts.next() {
        Some(d) => Some(d.parse().ok()?),
        None => None,
    };
    if parts.next().is_some()
        || symbol.is_empty()
        || !symbol.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return None;
    }
    let period = period_ms(year, month, day);
    let components: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_ascii_lowercase())
        .collect();
    let market = if components.windows(2).any(|w| w[0] == "futures" && w[1] == "um") {
        Some(Market::UsdM)
    } else if components.iter().any(|c| c == "spot") {
        Some(Market::Spot)
    } else {
        None
    };
    Some(ArchiveName {
        symbol,
        timeframe,
        period,
        market,
    })
}

fn period_ms(year: i32, month: u32, day: Option<u32>) -> Option<(i64, i64)> {
    use candlekeep_core::time::{date_ms, month_ms};
    // A year far outside any archive is a mistaken name; it would also overflow `year + 1`.
    if !(1970..=9998).contains(&year) {
        return None;
    }
    match day {
        Some(d) => date_ms(year, month, d).map(|start| (start, start + candlekeep_core::time::DAY_MS)),
        None => month_ms(year, month),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_and_layouts() {
        let n = describe(Path::new(
            "data/futures/um/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01.zip",
        ))
        .unwrap();
        assert_eq!(n.symbol, "BTCUSDT");
        assert_eq!(n.timeframe, Timeframe::H1);
        assert_eq!(n.market, Some(Market::UsdM));
        assert_eq!(n.period, Some((1_704_067_200_000, 1_706_745_600_000)));
        let d = describe(Path::new("/x/spot/daily/klines/ETHUSDT/1h/ETHUSDT-1h-2023-10-27.csv")).unwrap();
        assert_eq!(d.market, Some(Market::Spot));
        assert_eq!(d.period, Some((1_698_364_800_000, 1_698_451_200_000)));
        assert_eq!(describe(Path::new("BTCUSDT-1h-2024-01.zip")).unwrap().market, None);
        assert!(describe(Path::new("prices.csv")).is_none());
        // Issue 12 item 19: an upper-case extension used to leave the name undescribed.
        assert_eq!(describe(Path::new("BTCUSDT-1h-2024-01.ZIP")).unwrap().symbol, "BTCUSDT");
        assert_eq!(
            describe(Path::new("BTCUSDT-1h-2024-01-02.Csv")).unwrap().timeframe,
            Timeframe::H1
        );
        assert!(describe(Path::new("BTCUSDT-1s-2024-01.zip")).is_none());
        assert!(describe(Path::new("BTCUSDT-1h-2024-13.zip")).unwrap().period.is_none());
    }
}
