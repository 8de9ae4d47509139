//! The standard indicator set (`candlekeep_ta::standard`) over stored candles: per series, the
//! latest values, computed from the newest `bars` stored bars and saved in `indicator_values`
//! for the dashboard.
//!
//! Why a window and not the whole history: an EMA or Wilder average forgets a bar by a factor of
//! at most (1 − 2/201) per bar (EMA 200), so after 5,000 bars what came before weighs under
//! 1e-21 of the value: the same number as from the first bar, at a fraction of the reading.

use candlekeep_core::{Candle, Instrument, TimeRange, Timeframe};
use candlekeep_store::{CandleRead, CandleWrite, IndicatorStore, IndicatorValue, SeriesStatus};
use candlekeep_ta::standard::{self, Buffers, Columns, Latest};

use crate::JobError;

/// Bars read per series unless told otherwise.
pub const DEFAULT_BARS: usize = 5_000;

/// RSI at or above this is overbought, at or below [`OVERSOLD`] oversold.
pub const OVERBOUGHT: f64 = 70.0;
pub const OVERSOLD: f64 = 30.0;

/// The latest indicator values of one series.
#[derive(Debug, Clone)]
pub struct SeriesIndicators {
    pub instrument: Instrument,
    pub timeframe: Timeframe,
    /// Open time and close of the newest bar.
    pub bar_ms: i64,
    pub close: f64,
    /// Bars the values were computed from.
    pub bars: usize,
    /// Every bar had a volume; otherwise the volume indicators (MFI, OBV, VWAP, volume z-score)
    /// are left out.
    pub has_volume: bool,
    pub latest: Latest,
}

impl SeriesIndicators {
    /// "overbought", "oversold" or `None`, by RSI(14).
    pub fn rsi_zone(&self) -> Option<&'static str> {
        match self.latest.rsi? {
            r if r >= OVERBOUGHT => Some("overbought"),
            r if r <= OVERSOLD => Some("oversold"),
            _ => None,
        }
    }

    /// Every value under its stored name (indicator and parameters).
    pub fn named(&self) -> Vec<(&'static str, f64)> {
        let l = &self.latest;
        let mut out: Vec<(&'static str, Option<f64>)> = vec![
            ("rsi_14", l.rsi),
            ("macd_12_26_9", l.macd.map(|m| m.macd)),
            ("macd_signal_12_26_9", l.macd.map(|m| m.signal)),
            ("macd_hist_12_26_9", l.macd.map(|m| m.hist)),
            ("bb_upper_20_2", l.bb_upper),
            ("bb_middle_20_2", l.bb_middle),
            ("bb_lower_20_2", l.bb_lower),
            ("atr_14", l.atr),
            ("natr_14", l.natr),
            ("adx_14", l.adx),
            ("plus_di_14", l.plus_di),
            ("minus_di_14", l.minus_di),
            ("stoch_k_14_3_3", l.stoch.map(|s| s.k)),
            ("stoch_d_14_3_3", l.stoch.map(|s| s.d)),
            ("ema_20", l.ema_20),
            ("ema_50", l.ema_50),
            ("ema_200", l.ema_200),
            ("cci_20", l.cci),
            ("realized_vol_24", l.realized_vol),
            ("trend_14", l.trend),
        ];
        if self.has_volume {
            out.extend([
                ("mfi_14", l.mfi),
                ("obv", l.obv),
                ("volume_z_20", l.volume_z),
                ("vwap_day", l.vwap),
            ]);
        }
        out.into_iter().filter_map(|(n, v)| Some((n, v?))).collect()
    }
}

/// Computes the set for each series from its newest `bars` stored bars; series without bars are
/// skipped. `progress(done, total)` is called after each series. The arithmetic runs on the
/// blocking pool, one series at a time, while the next series' bars are read.
pub async fn compute<S: CandleRead>(
    store: &S,
    series: &[SeriesStatus],
    bars: usize,
    progress: &mut (dyn FnMut(usize, usize) + Send),
) -> Result<Vec<SeriesIndicators>, JobError> {
    let mut scratch = Some((Buffers::default(), ColumnBuffers::default()));
    let mut out = Vec::with_capacity(series.len());
    for (k, s) in series.iter().enumerate() {
        let tf_ms = s.timeframe.millis();
        let to = s.last_open_ms + tf_ms;
        let from = (to - tf_ms * bars as i64).max(s.first_open_ms);
        let candles = store
            .candles(&s.instrument, s.timeframe, TimeRange::new(from, to))
            .await?;
        if let Some(newest) = candles.last().copied() {
            let (mut buffers, mut columns) = scratch.take().unwrap_or_default();
            let (computed, back) = tokio::task::spawn_blocking(move || {
                let has_volume = columns.fill(&candles);
                let latest = standard::compute(columns.view(), tf_ms, &mut buffers);
                (latest.map(|l| (l, has_volume, candles.len())), (buffers, columns))
            })
            .await
            .map_err(|e| JobError::Worker(format!("indicator computation stopped: {e}")))?;
            scratch = Some(back);
            let (latest, has_volume, count) = computed?;
            out.push(SeriesIndicators {
                instrument: s.instrument.clone(),
                timeframe: s.timeframe,
                bar_ms: newest.open_time_ms,
                close: newest.close,
                bars: count,
                has_volume,
                latest,
            });
        }
        progress(k + 1, series.len());
        // Reads served from memory do not wait: give the runtime's other tasks their turn.
        tokio::task::yield_now().await;
    }
    Ok(out)
}

/// Saves the latest values of every series (replacing what was stored for them).
pub async fn save<S: CandleWrite + IndicatorStore>(
    store: &S,
    computed: &[SeriesIndicators],
    now_ms: i64,
) -> Result<usize, JobError> {
    let mut values = Vec::new();
    for s in computed {
        let instrument_id = store.instrument_id(&s.instrument).await?;
        values.extend(s.named().into_iter().map(|(name, value)| IndicatorValue {
            instrument_id,
            timeframe: s.timeframe,
            name: name.to_owned(),
            bar_ms: s.bar_ms,
            value,
            computed_at_ms: now_ms,
        }));
    }
    let saved = values.len();
    store.save_indicators(values).await?;
    Ok(saved)
}

/// A series' bars as columns, reused from one series to the next.
#[derive(Debug, Default)]
struct ColumnBuffers {
    open_time_ms: Vec<i64>,
    high: Vec<f64>,
    low: Vec<f64>,
    close: Vec<f64>,
    volume: Vec<f64>,
}

impl ColumnBuffers {
    /// Takes the bars; `true` when every one has a volume (a missing one reads as 0).
    fn fill(&mut self, candles: &[Candle]) -> bool {
        self.open_time_ms.clear();
        self.high.clear();
        self.low.clear();
        self.close.clear();
        self.volume.clear();
        let mut complete = true;
        for c in candles {
            self.open_time_ms.push(c.open_time_ms);
            self.high.push(c.high);
            self.low.push(c.low);
            self.close.push(c.close);
            complete &= c.volume.is_some();
            self.volume.push(c.volume.unwrap_or(0.0));
        }
        complete
    }

    fn view(&self) -> Columns<'_> {
        Columns {
            open_time_ms: &self.open_time_ms,
            high: &self.high,
            low: &self.low,
            close: &self.close,
            volume: &self.volume,
        }
    }
}
