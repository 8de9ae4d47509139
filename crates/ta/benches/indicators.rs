//! Criterion benchmarks of the indicators:
//! - `talib/<NAME>`: each indicator's batch form over 1,000,000 bars with TA-Lib's default
//!   parameters, into a reused output. The same bars are written to
//!   `target/ta-bench/series.bin` (five little-endian f64 columns: open, high, low, close,
//!   volume) so that `scripts/bench-ta.sh` can time TA-Lib on them in the same run.
//! - `universe/standard_set`: the standard set (`candlekeep_ta::standard`) for 1,000 series of
//!   180 days of hourly bars (4.32M bars), on every core.
//!
//! `cargo bench -p candlekeep-ta --bench indicators`; `scripts/bench-ta.sh` adds TA-Lib and the
//! ratios.

use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

use candlekeep_ta::extra::{realized_vol, trend, volume_zscore};
use candlekeep_ta::standard::{self, Buffers, Columns};
use candlekeep_ta::{self as ta};
use criterion::{Criterion, criterion_group, criterion_main};

const N: usize = 1_000_000;
const H: i64 = 3_600_000;

/// A deterministic random walk with intrabar ranges and volume (xorshift, so every run and
/// machine has the same bars).
struct Bars {
    open: Vec<f64>,
    high: Vec<f64>,
    low: Vec<f64>,
    close: Vec<f64>,
    volume: Vec<f64>,
}

fn walk(n: usize, seed: u64) -> Bars {
    let mut state = seed | 1;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut b = Bars {
        open: Vec::with_capacity(n),
        high: Vec::with_capacity(n),
        low: Vec::with_capacity(n),
        close: Vec::with_capacity(n),
        volume: Vec::with_capacity(n),
    };
    let mut price = 30_000.0;
    for _ in 0..n {
        let open = price;
        price *= 1.0 + (uniform() - 0.5) * 0.02;
        b.open.push(open);
        b.close.push(price);
        b.high.push(open.max(price) * (1.0 + uniform() * 0.005));
        b.low.push(open.min(price) * (1.0 - uniform() * 0.005));
        b.volume.push(100.0 + uniform() * 900.0);
    }
    b
}

fn write_series(b: &Bars) -> std::io::Result<()> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/ta-bench");
    std::fs::create_dir_all(dir)?;
    let mut f = std::io::BufWriter::new(std::fs::File::create(format!("{dir}/series.bin"))?);
    for col in [&b.open, &b.high, &b.low, &b.close, &b.volume] {
        for v in col.iter() {
            f.write_all(&v.to_le_bytes())?;
        }
    }
    f.flush()
}

fn talib(c: &mut Criterion) {
    let b = walk(N, 0x5eed);
    if let Err(e) = write_series(&b) {
        eprintln!("could not write target/ta-bench/series.bin ({e}): TA-Lib cannot be timed on the same bars");
    }
    let (h, l, cl, v) = (&b.high[..], &b.low[..], &b.close[..], &b.volume[..]);
    let mut o1 = vec![0.0; N];
    let mut o2 = vec![0.0; N];
    let mut o3 = vec![0.0; N];
    let mut g = c.benchmark_group("talib");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    macro_rules! bench {
        ($name:literal, $call:expr) => {
            g.bench_function($name, |bencher| bencher.iter(|| black_box($call)));
        };
    }
    bench!("SMA", ta::sma(cl, 30, &mut o1));
    bench!("EMA", ta::ema(cl, 30, &mut o1));
    bench!("WMA", ta::wma(cl, 30, &mut o1));
    bench!("DEMA", ta::dema(cl, 30, &mut o1));
    bench!("TEMA", ta::tema(cl, 30, &mut o1));
    bench!("RSI", ta::rsi(cl, 14, &mut o1));
    bench!("MACD", ta::macd(cl, 12, 26, 9, &mut o1, &mut o2, &mut o3));
    bench!("BBANDS", ta::bbands(cl, 5, 2.0, 2.0, &mut o1, &mut o2, &mut o3));
    bench!("ATR", ta::atr(h, l, cl, 14, &mut o1));
    bench!("NATR", ta::natr(h, l, cl, 14, &mut o1));
    bench!("TRANGE", ta::trange(h, l, cl, &mut o1));
    bench!("STDDEV", ta::stddev(cl, 5, 1.0, &mut o1));
    bench!("VAR", ta::var(cl, 5, &mut o1));
    bench!("OBV", ta::obv(cl, v, &mut o1));
    bench!("AD", ta::ad(h, l, cl, v, &mut o1));
    bench!("ADX", ta::adx(h, l, cl, 14, &mut o1));
    bench!("PLUS_DI", ta::plus_di(h, l, cl, 14, &mut o1));
    bench!("MINUS_DI", ta::minus_di(h, l, cl, 14, &mut o1));
    bench!("STOCH", ta::stoch(h, l, cl, 5, 3, 3, &mut o1, &mut o2));
    bench!("STOCHRSI", ta::stochrsi(cl, 14, 5, 3, &mut o1, &mut o2));
    bench!("CCI", ta::cci(h, l, cl, 14, &mut o1));
    bench!("MFI", ta::mfi(h, l, cl, v, 14, &mut o1));
    bench!("ROC", ta::roc(cl, 10, &mut o1));
    bench!("MOM", ta::mom(cl, 10, &mut o1));
    bench!("WILLR", ta::willr(h, l, cl, 14, &mut o1));
    bench!("AROON", ta::aroon(h, l, 14, &mut o1, &mut o2));
    bench!("own/realized_vol", realized_vol(cl, 24, H, &mut o1));
    bench!("own/volume_zscore", volume_zscore(v, 20, &mut o1));
    bench!("own/trend", trend(h, l, cl, 14, &mut o1));
    g.finish();
}

/// 1,000 series × 180 days of hourly bars, split over the machine's cores.
fn universe(c: &mut Criterion) {
    const SERIES: usize = 1_000;
    const BARS: usize = 180 * 24;
    let series: Vec<Bars> = (0..SERIES).map(|k| walk(BARS, 0x1000 + k as u64)).collect();
    let times: Vec<i64> = (0..BARS as i64).map(|i| 1_700_000_000_000 / H * H + i * H).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut g = c.benchmark_group("universe");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("standard_set", |bencher| {
        bencher.iter(|| {
            std::thread::scope(|s| {
                for chunk in series.chunks(SERIES.div_ceil(threads)) {
                    let times = &times;
                    s.spawn(move || {
                        let mut buffers = Buffers::default();
                        for b in chunk {
                            let cols = Columns {
                                open_time_ms: times,
                                high: &b.high,
                                low: &b.low,
                                close: &b.close,
                                volume: &b.volume,
                            };
                            black_box(standard::compute(cols, H, &mut buffers).ok());
                        }
                    });
                }
            });
        });
    });
    g.finish();
}

criterion_group!(benches, talib, universe);
criterion_main!(benches);
