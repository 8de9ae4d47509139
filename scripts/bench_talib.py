#!/usr/bin/env python3
"""Times TA-Lib (its C code through the Python wrapper, on NumPy arrays) on the bars that
`cargo bench -p candlekeep-ta --bench indicators` wrote to target/ta-bench/series.bin, with the
same parameters; prints {name: median seconds} as JSON. Only the TA-Lib call is timed."""

import json
import sys
import time

import numpy as np
import talib

path = sys.argv[1] if len(sys.argv) > 1 else "target/ta-bench/series.bin"
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 21
cols = np.fromfile(path, dtype="<f8")
n = cols.size // 5
o, h, l, c, v = (np.ascontiguousarray(cols[i * n:(i + 1) * n]) for i in range(5))

calls = {
    "SMA": lambda: talib.SMA(c, 30),
    "EMA": lambda: talib.EMA(c, 30),
    "WMA": lambda: talib.WMA(c, 30),
    "DEMA": lambda: talib.DEMA(c, 30),
    "TEMA": lambda: talib.TEMA(c, 30),
    "RSI": lambda: talib.RSI(c, 14),
    "MACD": lambda: talib.MACD(c, 12, 26, 9),
    "BBANDS": lambda: talib.BBANDS(c, 5, 2.0, 2.0),
    "ATR": lambda: talib.ATR(h, l, c, 14),
    "NATR": lambda: talib.NATR(h, l, c, 14),
    "TRANGE": lambda: talib.TRANGE(h, l, c),
    "STDDEV": lambda: talib.STDDEV(c, 5, 1.0),
    "VAR": lambda: talib.VAR(c, 5),
    "OBV": lambda: talib.OBV(c, v),
    "AD": lambda: talib.AD(h, l, c, v),
    "ADX": lambda: talib.ADX(h, l, c, 14),
    "PLUS_DI": lambda: talib.PLUS_DI(h, l, c, 14),
    "MINUS_DI": lambda: talib.MINUS_DI(h, l, c, 14),
    "STOCH": lambda: talib.STOCH(h, l, c, 5, 3, 0, 3, 0),
    "STOCHRSI": lambda: talib.STOCHRSI(c, 14, 5, 3, 0),
    "CCI": lambda: talib.CCI(h, l, c, 14),
    "MFI": lambda: talib.MFI(h, l, c, v, 14),
    "ROC": lambda: talib.ROC(c, 10),
    "MOM": lambda: talib.MOM(c, 10),
    "WILLR": lambda: talib.WILLR(h, l, c, 14),
    "AROON": lambda: talib.AROON(h, l, 14),
}

out = {}
for name, call in calls.items():
    call()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    times.sort()
    out[name] = times[len(times) // 2]
print(json.dumps({"bars": n, "talib": talib.__version__, "median_s": out}))
