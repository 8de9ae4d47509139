//! Runs any indicator by its TA-Lib name and parameters, in batch and in streaming form, over a
//! series of bars; and reads TA-Lib's golden files (`scripts/ta_golden.py`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use candlekeep_ta::{self as ta, Bar, Indicator, TaError};
use serde_json::{Map, Value};

/// Parallel columns of bars.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub open: Vec<f64>,
    pub high: Vec<f64>,
    pub low: Vec<f64>,
    pub close: Vec<f64>,
    pub volume: Vec<f64>,
}

impl Series {
    pub fn from_json(v: &Value) -> Self {
        let col = |k: &str| -> Vec<f64> { v[k].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect() };
        Self {
            open: col("open"),
            high: col("high"),
            low: col("low"),
            close: col("close"),
            volume: col("volume"),
        }
    }

    pub fn truncated(&self, n: usize) -> Self {
        Self {
            open: self.open[..n].to_vec(),
            high: self.high[..n].to_vec(),
            low: self.low[..n].to_vec(),
            close: self.close[..n].to_vec(),
            volume: self.volume[..n].to_vec(),
        }
    }

    pub fn len(&self) -> usize {
        self.close.len()
    }

    pub fn bar(&self, i: usize) -> Bar {
        Bar {
            open: self.open[i],
            high: self.high[i],
            low: self.low[i],
            close: self.close[i],
            volume: self.volume[i],
        }
    }
}

pub type Outputs = Vec<(&'static str, Vec<f64>)>;

/// A named output of a streaming indicator's value.
type Column<T> = (&'static str, fn(&T) -> f64);

fn int(params: &Map<String, Value>, k: &str) -> usize {
    params[k].as_u64().unwrap() as usize
}

fn real(params: &Map<String, Value>, k: &str) -> f64 {
    params[k].as_f64().unwrap()
}

/// The batch form of `name` (a TA-Lib function name) with TA-Lib's parameter names.
pub fn batch(name: &str, params: &Map<String, Value>, s: &Series) -> Result<Outputs, TaError> {
    let n = s.len();
    let (h, l, c, v) = (&s.high[..], &s.low[..], &s.close[..], &s.volume[..]);
    let mut a = vec![0.0; n];
    let mut b = vec![0.0; n];
    let mut d = vec![0.0; n];
    let p = || int(params, "timeperiod");
    match name {
        "SMA" => ta::sma(c, p(), &mut a)?,
        "EMA" => ta::ema(c, p(), &mut a)?,
        "WMA" => ta::wma(c, p(), &mut a)?,
        "DEMA" => ta::dema(c, p(), &mut a)?,
        "TEMA" => ta::tema(c, p(), &mut a)?,
        "RSI" => ta::rsi(c, p(), &mut a)?,
        "MACD" => {
            let (f, sl, sg) = (
                int(params, "fastperiod"),
                int(params, "slowperiod"),
                int(params, "signalperiod"),
            );
            ta::macd(c, f, sl, sg, &mut a, &mut b, &mut d)?;
            return Ok(vec![("macd", a), ("signal", b), ("hist", d)]);
        }
        "BBANDS" => {
            ta::bbands(
                c,
                p(),
                real(params, "nbdevup"),
                real(params, "nbdevdn"),
                &mut a,
                &mut b,
                &mut d,
            )?;
            return Ok(vec![("upper", a), ("middle", b), ("lower", d)]);
        }
        "ATR" => ta::atr(h, l, c, p(), &mut a)?,
        "NATR" => ta::natr(h, l, c, p(), &mut a)?,
        "TRANGE" => ta::trange(h, l, c, &mut a)?,
        "STDDEV" => ta::stddev(c, p(), real(params, "nbdev"), &mut a)?,
        "VAR" => ta::var(c, p(), &mut a)?,
        "OBV" => ta::obv(c, v, &mut a)?,
        "AD" => ta::ad(h, l, c, v, &mut a)?,
        "ADX" => ta::adx(h, l, c, p(), &mut a)?,
        "PLUS_DI" => ta::plus_di(h, l, c, p(), &mut a)?,
        "MINUS_DI" => ta::minus_di(h, l, c, p(), &mut a)?,
        "STOCH" => {
            let (fk, sk, sd) = (
                int(params, "fastk_period"),
                int(params, "slowk_period"),
                int(params, "slowd_period"),
            );
            ta::stoch(h, l, c, fk, sk, sd, &mut a, &mut b)?;
            return Ok(vec![("slowk", a), ("slowd", b)]);
        }
        "STOCHRSI" => {
            let (fk, fd) = (int(params, "fastk_period"), int(params, "fastd_period"));
            ta::stochrsi(c, p(), fk, fd, &mut a, &mut b)?;
            return Ok(vec![("fastk", a), ("fastd", b)]);
        }
        "CCI" => ta::cci(h, l, c, p(), &mut a)?,
        "MFI" => ta::mfi(h, l, c, v, p(), &mut a)?,
        "ROC" => ta::roc(c, p(), &mut a)?,
        "MOM" => ta::mom(c, p(), &mut a)?,
        "WILLR" => ta::willr(h, l, c, p(), &mut a)?,
        "AROON" => {
            ta::aroon(h, l, p(), &mut a, &mut b)?;
            return Ok(vec![("down", a), ("up", b)]);
        }
        other => panic!("no indicator {other}"),
    }
    Ok(vec![("real", a)])
}

/// Feeds a streaming indicator one input at a time; NaN where it answers `None`.
fn feed<I: Indicator>(mut ind: I, inputs: impl Iterator<Item = I::Input>, outs: &[Column<I::Output>]) -> Outputs {
    let mut cols: Vec<Vec<f64>> = vec![Vec::new(); outs.len()];
    for x in inputs {
        let v = ind.update(x);
        for (col, (_, get)) in cols.iter_mut().zip(outs) {
            col.push(v.as_ref().map_or(f64::NAN, get));
        }
    }
    outs.iter().map(|(n, _)| *n).zip(cols).collect()
}

fn id(v: &f64) -> f64 {
    *v
}

/// The streaming form of `name`, fed bar by bar.
pub fn streaming(name: &str, params: &Map<String, Value>, s: &Series) -> Result<Outputs, TaError> {
    let close = s.close.iter().copied();
    let bars = (0..s.len()).map(|i| s.bar(i));
    let p = || int(params, "timeperiod");
    let real: &[Column<f64>] = &[("real", id)];
    Ok(match name {
        "SMA" => feed(ta::Sma::new(p())?, close, real),
        "EMA" => feed(ta::Ema::new(p())?, close, real),
        "WMA" => feed(ta::Wma::new(p())?, close, real),
        "DEMA" => feed(ta::Dema::new(p())?, close, real),
        "TEMA" => feed(ta::Tema::new(p())?, close, real),
        "RSI" => feed(ta::Rsi::new(p())?, close, real),
        "MACD" => feed(
            ta::Macd::new(
                int(params, "fastperiod"),
                int(params, "slowperiod"),
                int(params, "signalperiod"),
            )?,
            close,
            &[("macd", |v| v.macd), ("signal", |v| v.signal), ("hist", |v| v.hist)],
        ),
        "BBANDS" => feed(
            ta::Bbands::new(p(), real_param(params, "nbdevup"), real_param(params, "nbdevdn"))?,
            close,
            &[("upper", |v| v.upper), ("middle", |v| v.middle), ("lower", |v| v.lower)],
        ),
        "ATR" => feed(ta::Atr::new(p())?, bars, real),
        "NATR" => feed(ta::Natr::new(p())?, bars, real),
        "TRANGE" => feed(ta::TrueRange::new(), bars, real),
        "STDDEV" => feed(ta::StdDev::new(p(), real_param(params, "nbdev"))?, close, real),
        "VAR" => feed(ta::Var::new(p())?, close, real),
        "OBV" => feed(ta::Obv::new(), bars, real),
        "AD" => feed(ta::Ad::new(), bars, real),
        "ADX" => feed(ta::Adx::new(p())?, bars, real),
        "PLUS_DI" => feed(ta::PlusDi::new(p())?, bars, real),
        "MINUS_DI" => feed(ta::MinusDi::new(p())?, bars, real),
        "STOCH" => feed(
            ta::Stoch::new(
                int(params, "fastk_period"),
                int(params, "slowk_period"),
                int(params, "slowd_period"),
            )?,
            bars,
            &[("slowk", |v| v.k), ("slowd", |v| v.d)],
        ),
        "STOCHRSI" => feed(
            ta::StochRsi::new(p(), int(params, "fastk_period"), int(params, "fastd_period"))?,
            close,
            &[("fastk", |v| v.k), ("fastd", |v| v.d)],
        ),
        "CCI" => feed(ta::Cci::new(p())?, bars, real),
        "MFI" => feed(ta::Mfi::new(p())?, bars, real),
        "ROC" => feed(ta::Roc::new(p())?, close, real),
        "MOM" => feed(ta::Mom::new(p())?, close, real),
        "WILLR" => feed(ta::WillR::new(p())?, bars, real),
        "AROON" => feed(ta::Aroon::new(p())?, bars, &[("down", |v| v.down), ("up", |v| v.up)]),
        other => panic!("no indicator {other}"),
    })
}

fn real_param(params: &Map<String, Value>, k: &str) -> f64 {
    real(params, k)
}

/// Whether `got` is TA-Lib's `want` within 1e-9 relative error (NaN exactly where TA-Lib has
/// no value).
pub fn close_enough(got: f64, want: Option<f64>) -> bool {
    match want {
        None => got.is_nan(),
        Some(w) => got == w || (got - w).abs() <= 1e-9 * w.abs().max(got.abs()),
    }
}
