#!/usr/bin/env python3
"""Golden outputs of TA-Lib for `crates/ta`'s exactness tests.

Writes a JSON file of input series and cases: each case names a TA-Lib function, its
parameters, the series (and how many of its bars) it ran on, and every output (`null` where
TA-Lib has no value), or the error TA-Lib raised for parameters it refuses.

    scripts/ta_golden.py                      # -> crates/ta/tests/golden/talib.json
    scripts/ta_golden.py --real CSV.gz --out target/ta-conformance/NAME.json

The first form uses a fixed, seeded, real-looking series and edge cases (flat prices, a single
spike, minimal lengths, periods 1 and 2); its output is committed. The second runs every
indicator with default parameters on a real hourly history (`open_time_ms,open,high,low,close,
volume`, gzip), for the conformance test; its output is not committed.

Needs `TA-Lib` and `numpy` from PyPI (`pip install TA-Lib numpy`).
"""

import argparse
import csv
import gzip
import json
import math
import os
import sys

import numpy as np
import talib

# name -> (inputs, default parameters, output names), in TA-Lib's Python argument order.
INDICATORS = {
    "SMA": (["close"], {"timeperiod": 30}, ["real"]),
    "EMA": (["close"], {"timeperiod": 30}, ["real"]),
    "WMA": (["close"], {"timeperiod": 30}, ["real"]),
    "DEMA": (["close"], {"timeperiod": 30}, ["real"]),
    "TEMA": (["close"], {"timeperiod": 30}, ["real"]),
    "RSI": (["close"], {"timeperiod": 14}, ["real"]),
    "MACD": (["close"], {"fastperiod": 12, "slowperiod": 26, "signalperiod": 9}, ["macd", "signal", "hist"]),
    "BBANDS": (["close"], {"timeperiod": 5, "nbdevup": 2.0, "nbdevdn": 2.0}, ["upper", "middle", "lower"]),
    "ATR": (["high", "low", "close"], {"timeperiod": 14}, ["real"]),
    "NATR": (["high", "low", "close"], {"timeperiod": 14}, ["real"]),
    "TRANGE": (["high", "low", "close"], {}, ["real"]),
    "STDDEV": (["close"], {"timeperiod": 5, "nbdev": 1.0}, ["real"]),
    "VAR": (["close"], {"timeperiod": 5}, ["real"]),
    "OBV": (["close", "volume"], {}, ["real"]),
    "AD": (["high", "low", "close", "volume"], {}, ["real"]),
    "ADX": (["high", "low", "close"], {"timeperiod": 14}, ["real"]),
    "PLUS_DI": (["high", "low", "close"], {"timeperiod": 14}, ["real"]),
    "MINUS_DI": (["high", "low", "close"], {"timeperiod": 14}, ["real"]),
    "STOCH": (
        ["high", "low", "close"],
        {"fastk_period": 5, "slowk_period": 3, "slowd_period": 3},
        ["slowk", "slowd"],
    ),
    "STOCHRSI": (["close"], {"timeperiod": 14, "fastk_period": 5, "fastd_period": 3}, ["fastk", "fastd"]),
    "CCI": (["high", "low", "close"], {"timeperiod": 14}, ["real"]),
    "MFI": (["high", "low", "close", "volume"], {"timeperiod": 14}, ["real"]),
    "ROC": (["close"], {"timeperiod": 10}, ["real"]),
    "MOM": (["close"], {"timeperiod": 10}, ["real"]),
    "WILLR": (["high", "low", "close"], {"timeperiod": 14}, ["real"]),
    "AROON": (["high", "low"], {"timeperiod": 14}, ["down", "up"]),
}

# Parameter sets beyond the defaults, run on the market series.
VARIANTS = {
    "SMA": [{"timeperiod": 2}, {"timeperiod": 1}, {"timeperiod": 200}],
    "EMA": [{"timeperiod": 2}, {"timeperiod": 1}, {"timeperiod": 9}],
    "WMA": [{"timeperiod": 2}, {"timeperiod": 1}, {"timeperiod": 7}],
    "DEMA": [{"timeperiod": 2}, {"timeperiod": 9}],
    "TEMA": [{"timeperiod": 2}, {"timeperiod": 9}],
    "RSI": [{"timeperiod": 2}, {"timeperiod": 1}, {"timeperiod": 7}],
    "MACD": [
        {"fastperiod": 5, "slowperiod": 35, "signalperiod": 5},
        {"fastperiod": 26, "slowperiod": 12, "signalperiod": 9},
        # Not signal period 1: TA-Lib 0.6.4 then answers one bar early, with an uninitialised
        # first MACD value and a signal line shifted by two bars (crates/ta tests period 1 itself).
        {"fastperiod": 3, "slowperiod": 5, "signalperiod": 2},
        {"fastperiod": 2, "slowperiod": 2, "signalperiod": 2},
    ],
    "BBANDS": [
        {"timeperiod": 20, "nbdevup": 2.0, "nbdevdn": 2.0},
        {"timeperiod": 20, "nbdevup": 2.5, "nbdevdn": 1.5},
        {"timeperiod": 10, "nbdevup": 1.0, "nbdevdn": 1.0},
        {"timeperiod": 10, "nbdevup": 1.0, "nbdevdn": 3.0},
        {"timeperiod": 2, "nbdevup": 2.0, "nbdevdn": 2.0},
    ],
    "ATR": [{"timeperiod": 1}, {"timeperiod": 2}],
    "NATR": [{"timeperiod": 1}, {"timeperiod": 2}],
    "STDDEV": [{"timeperiod": 20, "nbdev": 2.0}, {"timeperiod": 2, "nbdev": 1.0}, {"timeperiod": 1, "nbdev": 1.0}],
    "VAR": [{"timeperiod": 20}, {"timeperiod": 2}, {"timeperiod": 1}],
    "ADX": [{"timeperiod": 2}, {"timeperiod": 1}, {"timeperiod": 7}],
    "PLUS_DI": [{"timeperiod": 2}, {"timeperiod": 1}],
    "MINUS_DI": [{"timeperiod": 2}, {"timeperiod": 1}],
    "STOCH": [
        {"fastk_period": 14, "slowk_period": 3, "slowd_period": 3},
        {"fastk_period": 1, "slowk_period": 1, "slowd_period": 1},
        {"fastk_period": 2, "slowk_period": 2, "slowd_period": 2},
    ],
    "STOCHRSI": [
        {"timeperiod": 14, "fastk_period": 14, "fastd_period": 3},
        {"timeperiod": 2, "fastk_period": 1, "fastd_period": 1},
        {"timeperiod": 2, "fastk_period": 2, "fastd_period": 2},
    ],
    "CCI": [{"timeperiod": 2}, {"timeperiod": 1}, {"timeperiod": 20}],
    "MFI": [{"timeperiod": 2}, {"timeperiod": 1}],
    "ROC": [{"timeperiod": 1}, {"timeperiod": 2}],
    "MOM": [{"timeperiod": 1}, {"timeperiod": 2}],
    "WILLR": [{"timeperiod": 2}, {"timeperiod": 1}],
    "AROON": [{"timeperiod": 2}, {"timeperiod": 1}, {"timeperiod": 25}],
}


def market(n=600, seed=20261121):
    """A seeded random walk with volatility clustering, intrabar ranges and volume."""
    rng = np.random.default_rng(seed)
    close = np.empty(n)
    openp = np.empty(n)
    high = np.empty(n)
    low = np.empty(n)
    volume = np.empty(n)
    price, vol = 30000.0, 0.01
    for i in range(n):
        vol = max(0.002, min(0.05, vol * math.exp(rng.normal(0.0, 0.15))))
        o = price
        c = round(o * math.exp(rng.normal(0.0, vol)), 2)
        h = round(max(o, c) * (1.0 + abs(rng.normal(0.0, vol / 2))), 2)
        lo = round(min(o, c) * (1.0 - abs(rng.normal(0.0, vol / 2))), 2)
        openp[i], close[i], high[i], low[i] = o, c, h, lo
        volume[i] = round(abs(rng.normal(500.0, 200.0)) * (1.0 + 20.0 * vol), 6)
        price = c
    return {"open": openp, "high": high, "low": low, "close": close, "volume": volume}


def flat(n=80):
    ones = np.ones(n)
    return {"open": ones * 100.0, "high": ones * 100.0, "low": ones * 100.0, "close": ones * 100.0, "volume": ones * 10.0}


def spike(n=80, at=40):
    s = flat(n)
    s = {k: v.copy() for k, v in s.items()}
    s["high"][at], s["close"][at], s["volume"][at] = 150.0, 140.0, 1000.0
    s["open"][at + 1], s["low"][at + 1] = 140.0, 90.0
    return s


def number(x):
    x = float(x)
    return None if math.isnan(x) else x


def run(name, series, params, length=None):
    inputs, _, outputs = INDICATORS[name]
    args = [np.ascontiguousarray(series[i][:length], dtype=np.float64) for i in inputs]
    try:
        got = getattr(talib, name)(*args, **params)
    except Exception as e:  # TA-Lib refuses the parameters
        return {"error": str(e)}
    if not isinstance(got, tuple):
        got = (got,)
    return {"outputs": {o: [number(v) for v in g] for o, g in zip(outputs, got)}}


def lookback(result):
    values = next(iter(result["outputs"].values()))
    return next((i for i, v in enumerate(values) if v is not None), len(values))


def case(name, series_name, series, params, length=None):
    c = {"indicator": name, "series": series_name, "params": params}
    if length is not None:
        c["len"] = length
    c.update(run(name, series, params, length))
    return c


def golden_cases():
    series = {"market": market(), "flat": flat(), "spike": spike()}
    cases = []
    for name, (_, defaults, _) in INDICATORS.items():
        cases.append(case(name, "market", series["market"], defaults))
        for variant in VARIANTS.get(name, []):
            cases.append(case(name, "market", series["market"], variant))
        for edge in ("flat", "spike"):
            cases.append(case(name, edge, series[edge], defaults))
        # Minimal lengths: one bar short of the first value, and exactly enough for one.
        full = run(name, series["market"], defaults)
        lb = lookback(full)
        for length in (lb, lb + 1):
            cases.append(case(name, "market", series["market"], defaults, length))
    return series, cases


def read_history(path):
    with gzip.open(path, "rt") as f:
        rows = list(csv.DictReader(f))
    # The last bar of some histories may still have been forming when saved.
    rows = rows[:-1]
    return {k: np.array([float(r[k]) for r in rows]) for k in ("open", "high", "low", "close", "volume")}


def write(path, series, cases):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    doc = {
        "talib": talib.__ta_version__.decode() if isinstance(talib.__ta_version__, bytes) else talib.__ta_version__,
        "python_talib": talib.__version__,
        "series": {k: {c: [float(x) for x in v] for c, v in s.items()} for k, s in series.items()},
        "cases": cases,
    }
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"{path}: {len(cases)} cases, TA-Lib {doc['talib']}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", help="a real hourly history (csv.gz) to run every indicator on, with defaults")
    ap.add_argument("--out", default="crates/ta/tests/golden/talib.json")
    a = ap.parse_args()
    if a.real:
        history = read_history(a.real)
        cases = [case(name, "real", history, defaults) for name, (_, defaults, _) in INDICATORS.items()]
        write(a.out, {"real": history}, cases)
    else:
        write(a.out, *golden_cases())


if __name__ == "__main__":
    main()
