#!/usr/bin/env python3
"""numpy reference for `sgdscape smooth --method mc`: the same Monte Carlo estimate
g(y) = mean_j f(y - eta w_j), w_j uniform in the cube [-r, r]^d, vectorised over
samples and coordinates in chunks of ~1e6 numbers. Prints one line per run:
    landscape d n seconds throughput(samples*dims/s, wall) throughput(per CPU second)
Usage: smooth_bench.py LANDSCAPE D N [REPEATS]
    LANDSCAPE: rastrigin | quadratic (value g), spiky-grad (grad g of the Figure-3 function,
    level eta r = 0.15, as `smooth --grad-only`)"""
import sys
import time

import numpy as np


def estimate(kind, d, n, eta=0.1, r=1.0, y0=0.1, seed=1):
    rng = np.random.default_rng(seed)
    y = np.full(d, y0)
    chunk = max(1, 1_000_000 // d)
    s = s2 = 0.0
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        x = y - eta * rng.uniform(-r, r, size=(m, d))
        if kind == "rastrigin":  # phi = x^2 - 10 cos(2 pi x) + 10
            v = np.sum(x * x - 10.0 * np.cos(2.0 * np.pi * x), axis=1) + 10.0 * d
        else:  # quadratic, a = 1
            v = 0.5 * np.sum(x * x, axis=1)
        s += v.sum()
        s2 += (v * v).sum()
    mean = s / n
    return mean, np.sqrt(max(s2 / n - mean * mean, 0.0) / n)


def spiky_grad(x, A1=0.008, w1=80.0, A2=0.35, w2=20.0, a=1.5, b=2.0):
    """phi'(x) of src/landscape/spiky.c: x + A1 w1 sin(w1 x) + A2 (e' (1 - cos w2 x) + e w2 sin w2 x)"""
    w = b - a
    u = np.clip((np.abs(x) - a) / w, 0.0, 1.0)
    e = u * u * u * (10.0 - 15.0 * u + 6.0 * u * u)
    de = np.sign(x) * 30.0 * u * u * (1.0 - u) ** 2 / w
    return x + A1 * w1 * np.sin(w1 * x) + A2 * (de * (1.0 - np.cos(w2 * x)) + e * w2 * np.sin(w2 * x))


def estimate_grad(d, n, eta=0.1, r=1.5, y0=0.1, seed=1):
    rng = np.random.default_rng(seed)
    y = np.full(d, y0)
    chunk = max(1, 1_000_000 // d)
    s = np.zeros(d)
    s2 = np.zeros(d)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        g = spiky_grad(y - eta * rng.uniform(-r, r, size=(m, d)))
        s += g.sum(axis=0)
        s2 += (g * g).sum(axis=0)
    mean = s / n
    return mean[0], np.sqrt(max(s2[0] / n - mean[0] ** 2, 0.0) / n)


def main():
    kind, d, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        g, se = estimate_grad(d, n) if kind == "spiky-grad" else estimate(kind, d, n)
        dt, dc = time.perf_counter() - t, time.process_time() - c
        print(f"{kind} {d} {n} {dt:.6f} {n * d / dt:.6e} {n * d / dc:.6e} g={g:.6f} se={se:.2e}")


if __name__ == "__main__":
    main()
