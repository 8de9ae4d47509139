//! The standard set: the indicators Candlekeep keeps for every series (the dashboard,
//! `candlekeep indicators` and the signals read them), computed in batch over a series' bars
//! into buffers that are reused from one series to the next.

use crate::extra::{realized_vol, trend, volume_zscore, vwap_daily};
use crate::{
    MacdValue, StochValue, TaError, adx, atr, bbands, cci, ema, macd, mfi, minus_di, natr, obv, plus_di, rsi, stoch,
};

/// Parallel columns of a series' bars, oldest first.
#[derive(Debug, Clone, Copy)]
pub struct Columns<'a> {
    pub open_time_ms: &'a [i64],
    pub high: &'a [f64],
    pub low: &'a [f64],
    pub close: &'a [f64],
    pub volume: &'a [f64],
}

/// The latest value of each indicator of the set; `None` where the series is too short for it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latest {
    /// RSI(14).
    pub rsi: Option<f64>,
    /// MACD(12, 26, 9).
    pub macd: Option<MacdValue>,
    /// Bollinger Bands (20, 2, 2): upper, middle, lower.
    pub bb_upper: Option<f64>,
    pub bb_middle: Option<f64>,
    pub bb_lower: Option<f64>,
    /// ATR(14) and NATR(14).
    pub atr: Option<f64>,
    pub natr: Option<f64>,
    /// ADX(14), +DI(14), −DI(14).
    pub adx: Option<f64>,
    pub plus_di: Option<f64>,
    pub minus_di: Option<f64>,
    /// STOCH(14, 3, 3).
    pub stoch: Option<StochValue>,
    /// EMA(20), EMA(50), EMA(200).
    pub ema_20: Option<f64>,
    pub ema_50: Option<f64>,
    pub ema_200: Option<f64>,
    /// MFI(14), CCI(20).
    pub mfi: Option<f64>,
    pub cci: Option<f64>,
    /// On-balance volume.
    pub obv: Option<f64>,
    /// Realised volatility of the last 24 bars, annualised.
    pub realized_vol: Option<f64>,
    /// Volume z-score over 20 bars.
    pub volume_z: Option<f64>,
    /// Trend score(14), −1 to +1.
    pub trend: Option<f64>,
    /// VWAP of the current UTC day.
    pub vwap: Option<f64>,
}

/// Output columns, reused across series so that computing a universe allocates once per thread.
#[derive(Debug, Default)]
pub struct Buffers {
    columns: Vec<Vec<f64>>,
}

const COLUMNS: usize = 24;

impl Buffers {
    fn take(&mut self, n: usize) -> Vec<Vec<f64>> {
        let mut cols = std::mem::take(&mut self.columns);
        cols.resize_with(COLUMNS, Vec::new);
        for c in &mut cols {
            c.clear();
            c.resize(n, 0.0);
        }
        cols
    }
}

fn last(col: &[f64]) -> Option<f64> {
    col.last().copied().filter(|v| !v.is_nan())
}

/// Computes every indicator of the set over the whole series (bars of `bar_ms` milliseconds)
/// and returns the latest values.
pub fn compute(bars: Columns<'_>, bar_ms: i64, buffers: &mut Buffers) -> Result<Latest, TaError> {
    let n = bars.close.len();
    crate::util::same_len(
        "standard set",
        n,
        &[
            bars.open_time_ms.len(),
            bars.high.len(),
            bars.low.len(),
            bars.volume.len(),
        ],
    )?;
    let mut cols = buffers.take(n);
    let (h, l, c, v) = (bars.high, bars.low, bars.close, bars.volume);
    let latest = {
        let [
            rsi_o,
            macd_o,
            signal_o,
            hist_o,
            bbu,
            bbm,
            bbl,
            atr_o,
            natr_o,
            adx_o,
            pdi,
            mdi,
            sk,
            sd,
            e20,
            e50,
            e200,
            mfi_o,
            cci_o,
            obv_o,
            rv,
            vz,
            tr,
            vw,
        ] = &mut cols[..]
        else {
            unreachable!("buffers hold {COLUMNS} columns")
        };
        rsi(c, 14, rsi_o)?;
        macd(c, 12, 26, 9, macd_o, signal_o, hist_o)?;
        bbands(c, 20, 2.0, 2.0, bbu, bbm, bbl)?;
        atr(h, l, c, 14, atr_o)?;
        natr(h, l, c, 14, natr_o)?;
        adx(h, l, c, 14, adx_o)?;
        plus_di(h, l, c, 14, pdi)?;
        minus_di(h, l, c, 14, mdi)?;
        stoch(h, l, c, 14, 3, 3, sk, sd)?;
        ema(c, 20, e20)?;
        ema(c, 50, e50)?;
        ema(c, 200, e200)?;
        mfi(h, l, c, v, 14, mfi_o)?;
        cci(h, l, c, 20, cci_o)?;
        obv(c, v, obv_o)?;
        realized_vol(c, 24, bar_ms, rv)?;
        volume_zscore(v, 20, vz)?;
        trend(h, l, c, 14, tr)?;
        vwap_daily(bars.open_time_ms, h, l, c, v, vw)?;
        Latest {
            rsi: last(rsi_o),
            macd: last(macd_o)
                .zip(last(signal_o))
                .zip(last(hist_o))
                .map(|((macd, signal), hist)| MacdValue { macd, signal, hist }),
            bb_upper: last(bbu),
            bb_middle: last(bbm),
            bb_lower: last(bbl),
            atr: last(atr_o),
            natr: last(natr_o),
            adx: last(adx_o),
            plus_di: last(pdi),
            minus_di: last(mdi),
            stoch: last(sk).zip(last(sd)).map(|(k, d)| StochValue { k, d }),
            ema_20: last(e20),
            ema_50: last(e50),
            ema_200: last(e200),
            mfi: last(mfi_o),
            cci: last(cci_o),
            obv: last(obv_o),
            realized_vol: last(rv),
            volume_z: last(vz),
            trend: last(tr),
            vwap: last(vw),
        }
    };
    buffers.columns = cols;
    Ok(latest)
}
