#!/usr/bin/env python3
"""The Figure-3 experiment as a numpy user writes it: SGD on the spiky
landscape, vectorised over trials, uniform noise of level 0.13, eta 0.01.
The same function as src/landscape/spiky.c. Prints one JSON line with the
median of REPEATS runs.   fig3_bench.py TRIALS STEPS REPEATS"""
import json
import sys
import time

import numpy as np

A1, W1, A2, W2, A, B = 0.008, 80.0, 0.35, 20.0, 1.5, 2.0


def grad(x):
    ax = np.abs(x)
    u = np.clip((ax - A) / (B - A), 0.0, 1.0)
    e = u ** 3 * (10 - 15 * u + 6 * u * u)
    de = np.sign(x) * 30 * u * u * (1 - u) ** 2 / (B - A)
    return x + A1 * W1 * np.sin(W1 * x) + A2 * (de * (1 - np.cos(W2 * x)) + e * W2 * np.sin(W2 * x))


def run(n, steps, eta=0.01, level=0.13, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-6, 6, n)
    r = level / eta
    for _ in range(steps):
        x -= eta * (grad(x) + rng.uniform(-r, r, n))
    return x


def main():
    n, steps, reps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        run(n, steps)
        times.append(time.perf_counter() - t0)
    med = sorted(times)[len(times) // 2]
    try:
        feats = np.core._multiarray_umath.__cpu_features__
        simd = ",".join(k for k in ("AVX512F", "AVX2", "FMA3") if feats.get(k))
    except AttributeError:
        simd = "unknown"
    print(json.dumps({"impl": "numpy " + np.__version__, "trials": n, "steps": steps, "threads": 1,
                      "median_s": med, "trial_steps_per_s": n * steps / med, "simd": simd}))


if __name__ == "__main__":
    main()
