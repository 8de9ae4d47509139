//! One indicator over a range (`/indicators/...?series=rsi_14`): which names are supported, how
//! many bars before the range each needs, and the computation (TA-Lib's, from `candlekeep-ta`).

use candlekeep_core::Candle;
use candlekeep_ta::TaError;

use crate::problem::ApiError;

/// What `series=` may name.
pub const SUPPORTED: &str = "rsi_N, ema_N, sma_N, atr_N, natr_N, adx_N, cci_N (N = the period, e.g. rsi_14), \
                             macd_12_26_9, macd_signal_12_26_9, macd_hist_12_26_9";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rsi,
    Ema,
    Sma,
    Atr,
    Natr,
    Adx,
    Cci,
    Macd,
    MacdSignal,
    MacdHist,
}

/// A parsed `series=` value.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    kind: Kind,
    period: usize,
}

impl Spec {
    pub fn parse(name: &str) -> Result<Self, ApiError> {
        let unknown = || ApiError::bad("series", format!("unknown series {name:?}; supported: {SUPPORTED}"));
        let fixed = match name {
            "macd_12_26_9" => Some(Kind::Macd),
            "macd_signal_12_26_9" => Some(Kind::MacdSignal),
            "macd_hist_12_26_9" => Some(Kind::MacdHist),
            _ => None,
        };
        if let Some(kind) = fixed {
            return Ok(Self { kind, period: 26 });
        }
        let (kind, period) = name.rsplit_once('_').ok_or_else(unknown)?;
        let kind = match kind {
            "rsi" => Kind::Rsi,
            "ema" => Kind::Ema,
            "sma" => Kind::Sma,
            "atr" => Kind::Atr,
            "natr" => Kind::Natr,
            "adx" => Kind::Adx,
            "cci" => Kind::Cci,
            _ => return Err(unknown()),
        };
        let period: usize = period.parse().map_err(|_| unknown())?;
        if !(2..=1_000).contains(&period) {
            return Err(ApiError::bad(
                "series",
                format!("the period of {name} must be from 2 to 1000"),
            ));
        }
        Ok(Self { kind, period })
    }

    pub fn name(&self) -> String {
        let p = self.period;
        match self.kind {
            Kind::Rsi => format!("rsi_{p}"),
            Kind::Ema => format!("ema_{p}"),
            Kind::Sma => format!("sma_{p}"),
            Kind::Atr => format!("atr_{p}"),
            Kind::Natr => format!("natr_{p}"),
            Kind::Adx => format!("adx_{p}"),
            Kind::Cci => format!("cci_{p}"),
            Kind::Macd => "macd_12_26_9".into(),
            Kind::MacdSignal => "macd_signal_12_26_9".into(),
            Kind::MacdHist => "macd_hist_12_26_9".into(),
        }
    }

    /// Bars read before the range. Windowed indicators need their lookback; recursive ones
    /// (Wilder's averages forget by 1 − 1/N a bar, an EMA by 1 − 2/(N+1)) get enough bars that
    /// what lies before them weighs under e⁻⁴⁰ ≈ 4e-18: the value of the whole history, to
    /// the last bit of an f64.
    pub fn warmup_bars(&self) -> usize {
        let p = self.period;
        match self.kind {
            Kind::Sma => p,
            Kind::Cci => p,
            Kind::Rsi | Kind::Atr | Kind::Natr => p + 40 * p,
            // ADX smooths twice.
            Kind::Adx => 2 * p + 80 * p,
            Kind::Ema => p + 20 * (p + 1),
            Kind::Macd | Kind::MacdSignal | Kind::MacdHist => 35 + 20 * 27,
        }
    }

    /// The indicator at every bar (NaN where it is not defined yet).
    pub fn compute(&self, candles: &[Candle]) -> Result<Vec<f64>, TaError> {
        let close: Vec<f64> = candles.iter().map(|c| c.close).collect();
        let high: Vec<f64> = candles.iter().map(|c| c.high).collect();
        let low: Vec<f64> = candles.iter().map(|c| c.low).collect();
        let mut out = vec![f64::NAN; candles.len()];
        let p = self.period;
        match self.kind {
            Kind::Rsi => candlekeep_ta::rsi(&close, p, &mut out)?,
            Kind::Ema => candlekeep_ta::ema(&close, p, &mut out)?,
            Kind::Sma => candlekeep_ta::sma(&close, p, &mut out)?,
            Kind::Atr => candlekeep_ta::atr(&high, &low, &close, p, &mut out)?,
            Kind::Natr => candlekeep_ta::natr(&high, &low, &close, p, &mut out)?,
            Kind::Adx => candlekeep_ta::adx(&high, &low, &close, p, &mut out)?,
            Kind::Cci => candlekeep_ta::cci(&high, &low, &close, p, &mut out)?,
            Kind::Macd | Kind::MacdSignal | Kind::MacdHist => {
                let mut signal = vec![f64::NAN; candles.len()];
                let mut hist = vec![f64::NAN; candles.len()];
                candlekeep_ta::macd(&close, 12, 26, 9, &mut out, &mut signal, &mut hist)?;
                match self.kind {
                    Kind::MacdSignal => return Ok(signal),
                    Kind::MacdHist => return Ok(hist),
                    _ => {}
                }
            }
        }
        Ok(out)
    }
}
