#!/usr/bin/env python3
"""SGD on a user's own landscape as a numpy user writes it: the issue's
formula f(x) = x^2 + (1-cos(6x)) x^2/(x^2+1) + 0.05 (1-cos(60x)), its
gradient written out by hand and vectorised over trials, uniform noise of
radius level/eta, eta 0.01, one thread. The same experiment as
bench/formula_bench.sh runs in sgdscape. Prints one JSON line: the median
over REPEATS of the time for all levels together.
    formula_bench.py TRIALS STEPS REPEATS LEVEL[,LEVEL...]"""
import json
import sys
import time

import numpy as np


def grad(x):
    x2 = x * x
    q = x2 + 1.0
    return 2 * x + 6 * np.sin(6 * x) * x2 / q + (1 - np.cos(6 * x)) * 2 * x / (q * q) + 3 * np.sin(60 * x)


def run(n, steps, level, eta=0.01, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-5, 5, n)
    r = level / eta
    for _ in range(steps):
        x -= eta * (grad(x) + rng.uniform(-r, r, n))
    return x


def main():
    n, steps, reps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    levels = [float(v) for v in sys.argv[4].split(",")]
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for lv in levels:
            run(n, steps, lv)
        times.append(time.perf_counter() - t0)
    med = sorted(times)[(len(times) - 1) // 2]
    print(json.dumps({"impl": "numpy " + np.__version__, "trials": n, "steps": steps, "levels": levels,
                      "threads": 1, "median_s": med, "times_s": times,
                      "trial_steps_per_s": n * steps * len(levels) / med}))


if __name__ == "__main__":
    main()
