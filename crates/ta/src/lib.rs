//! Technical indicators that give TA-Lib's numbers: the same definitions, default parameters,
//! lookbacks and floating-point operations in the same order, checked against golden files made
//! by TA-Lib itself (`scripts/ta_golden.py`).
//!
//! Every indicator comes in two forms over one arithmetic:
//! - **batch**: a function over slices that writes one output per input bar into the caller's
//!   slice (no allocation in the loop); the first `lookback` outputs are NaN, exactly where
//!   TA-Lib has no value, and an input shorter than that gives only NaN;
//! - **streaming**: a state struct whose [`Indicator::update`] takes the next bar and answers
//!   `None` during the warm-up, then the same value the batch form gives at that bar.
//!
//! Parameters TA-Lib refuses (an SMA of period 1, say) are refused with [`TaError`].
//!
//! Besides TA-Lib's indicators, [`extra`] holds four of Candlekeep's own, documented there:
//! realised volatility, VWAP per UTC day, volume z-score and the trend score of the signals.

mod error;
mod util;

pub mod directional;
pub mod extra;
pub mod ma;
pub mod macd;
pub mod momentum;
pub mod range;
pub mod standard;
pub mod stats;
pub mod stoch;
pub mod typical;
pub mod volume;

pub use directional::{Adx, MinusDi, PlusDi, adx, minus_di, plus_di};
pub use error::TaError;
pub use ma::{Dema, Ema, Sma, Tema, Wma, dema, ema, sma, tema, wma};
pub use macd::{Macd, MacdValue, macd};
pub use momentum::{Mom, Roc, Rsi, mom, roc, rsi};
pub use range::{Atr, Natr, TrueRange, atr, natr, trange};
pub use stats::{Bands, Bbands, StdDev, Var, bbands, stddev, var};
pub use stoch::{Aroon, AroonValue, Stoch, StochRsi, StochValue, WillR, aroon, stoch, stochrsi, willr};
pub use typical::{Cci, Mfi, cci, mfi};
pub use volume::{Ad, Obv, ad, obv};

/// One bar: what the indicators over prices and volume read.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Bar {
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// The streaming form of an indicator.
pub trait Indicator {
    /// A value (`f64`) for indicators of one series, a [`Bar`] for the others.
    type Input;
    type Output;

    /// Takes the next input; `None` until the indicator has seen its lookback.
    fn update(&mut self, input: Self::Input) -> Option<Self::Output>;

    /// How many inputs come before the first output.
    fn lookback(&self) -> usize;

    /// Forgets every input, as if new.
    fn reset(&mut self);
}

/// Runs a streaming indicator of one output over `inputs`, NaN where it has none.
pub(crate) fn run<I: Indicator<Output = f64>>(ind: &mut I, inputs: impl Iterator<Item = I::Input>, out: &mut [f64]) {
    for (o, x) in out.iter_mut().zip(inputs) {
        *o = ind.update(x).unwrap_or(f64::NAN);
    }
}

/// The bars of parallel slices; no indicator reads the open (NaN here), and volume is 0 where
/// the indicator reads none.
pub(crate) fn bars<'a>(
    high: &'a [f64],
    low: &'a [f64],
    close: &'a [f64],
    volume: Option<&'a [f64]>,
) -> impl Iterator<Item = Bar> + 'a {
    (0..close.len()).map(move |i| Bar {
        open: f64::NAN,
        high: high[i],
        low: low[i],
        close: close[i],
        volume: volume.map_or(0.0, |v| v[i]),
    })
}
