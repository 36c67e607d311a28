#!/usr/bin/python3
"""PyTorch side of the probe benchmark (issue 9, "Benchmark, not a test").

    probe_bench.py gen SPEC DIR [--epochs 3] [--seconds 6] [--seed 1] [--threads 2]
    probe_bench.py probe SPEC DIR --points P [--threads 2] [--radius 0.5]
    probe_bench.py ours-info SGDSCAPE_BINARY
    probe_bench.py ours-row SPEC PROBE_OUT BASE_OUT WALL_SECONDS | train-row SPEC TRAIN_OUT
    probe_bench.py report ROWS.jsonl THREADS

gen: N = 128 images 3x32x32 float32 N(0,1) (taken as already normalised) and
labels of 10 classes, DIR/X.npy (N,3,32,32) and DIR/y.npy (int64), and a
trajectory of the PyTorch twin of SPEC (tools/torch_models.py, the C engine's
state_dict order): x_0 = its initialisation (parameters only, no BN buffers),
x_{t+1} = x_t - 0.05 grad f(x_t) + N(0, 1e-3^2) noise, DIR/x_EEEE.npy for
t < EPOCHS and the target DIR/xT.npy = x_EPOCHS after two more such steps (so
the inner products are well away from 0 and their relative agreement means
something). It also picks the neighbourhood points per epoch, P, so that one
side runs about SECONDS: P = SECONDS / (EPOCHS x time of a gradient) - 1,
clamped to 2..64, and the epochs of the train comparison (one step each),
SECONDS / time of a gradient, clamped to 5..40. Prints one JSON line.

probe: f = mean cross-entropy over all N images in one batch, BN in training
mode (batch statistics): exactly the f of `sgdscape probe --batch 128
--batches 1 --no-normalize`. For each x_t: 5.1 inner = <-grad f(x_t), x_T - x_t>
(float64 from the float32 gradient) and f, |grad f|; 5.2 P points w = x_t + u,
u uniform in the ball of radius R (own random draws: the values differ from
the C side's, the work is the same), <-grad f(w), x_T - x_t> at each. One
warm-up gradient, untimed; the time per gradient is the timed loop over the
E (1 + P) gradients divided by their count. Prints one JSON line.
"""
import ctypes
import json
import os
import re
import statistics
import subprocess
import sys
import time

N_IMAGES, CLASSES = 128, 10


def torch_mod():
    import torch
    return torch


def build_model(spec):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
    from torch_models import build  # the architectures, shared with the fixtures and nn_bench
    return build(spec)


def flat_params(model):
    torch = torch_mod()
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def set_params(model, x):
    torch = torch_mod()
    torch.nn.utils.vector_to_parameters(x, model.parameters())


def grad_at(model, X, y, x):
    """f(x) and grad f(x) (float32, flat) on the one batch (X, y), BN in training mode."""
    torch = torch_mod()
    set_params(model, x)
    for p in model.parameters():
        p.grad = None
    loss = torch.nn.functional.cross_entropy(model(X), y)
    loss.backward()
    return loss.item(), torch.cat([p.grad.reshape(-1) for p in model.parameters()])


def gen(a):
    import numpy as np
    torch = torch_mod()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.dir, exist_ok=True)
    X = torch.randn(N_IMAGES, 3, 32, 32)
    y = torch.randint(0, CLASSES, (N_IMAGES,))
    y[:CLASSES] = torch.arange(CLASSES)          # every class present: the C side counts max label + 1
    np.save(os.path.join(a.dir, "X.npy"), X.numpy())
    np.save(os.path.join(a.dir, "y.npy"), y.numpy().astype(np.int64))
    model = build_model(a.spec)
    model.train()
    x = flat_params(model).clone()
    times = []
    for t in range(a.epochs + 2):
        if t < a.epochs:
            np.save(os.path.join(a.dir, "x_%04d.npy" % t), x.numpy().astype(np.float32))
        t0 = time.perf_counter()
        _, g = grad_at(model, X, y, x)
        times.append(time.perf_counter() - t0)
        x = (x - 0.05 * g + 1e-3 * torch.randn(x.numel())).float()
    np.save(os.path.join(a.dir, "xT.npy"), x.numpy().astype(np.float32))
    tg = statistics.median(times[1:])
    points = int(min(64, max(2, round(a.seconds / (a.epochs * tg)) - 1)))
    train_epochs = int(min(40, max(5, round(a.seconds / tg))))
    print(json.dumps({"kind": "gen", "spec": a.spec, "params": x.numel(), "epochs": a.epochs, "points": points,
                      "train_epochs": train_epochs, "gen_grad_s": tg}))


def probe(a):
    import numpy as np
    torch = torch_mod()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed + 1000)
    X = torch.from_numpy(np.load(os.path.join(a.dir, "X.npy")))
    y = torch.from_numpy(np.load(os.path.join(a.dir, "y.npy")))
    xT = torch.from_numpy(np.load(os.path.join(a.dir, "xT.npy"))).double()
    files = sorted(f for f in os.listdir(a.dir) if re.fullmatch(r"x_\d{4}\.npy", f))
    xs = [torch.from_numpy(np.load(os.path.join(a.dir, f))) for f in files]
    model = build_model(a.spec)
    model.train()
    p = sum(q.numel() for q in model.parameters())
    if p != xT.numel():
        sys.exit("probe_bench.py: %s has %d parameters, xT.npy %d" % (a.spec, p, xT.numel()))
    grad_at(model, X, y, xs[0])                   # warm-up (allocations), untimed
    rows, nb = [], []
    t0 = time.perf_counter()
    for xt in xs:
        d = xT - xt.double()
        loss, g = grad_at(model, X, y, xt)
        g = g.double()
        rows.append({"loss": loss, "grad_norm": g.norm().item(), "inner": -torch.dot(g, d).item()})
        vals = []
        for _ in range(a.points):
            z = torch.randn(p, dtype=torch.float64)
            u = z / z.norm() * (a.radius * torch.rand(1, dtype=torch.float64).item() ** (1.0 / p))
            _, g = grad_at(model, X, y, (xt.double() + u).float())
            vals.append(-torch.dot(g.double(), d).item())
        nb.append(vals)
    secs = time.perf_counter() - t0
    ngrad = len(xs) * (1 + a.points)
    if a.f64:                                     # untimed: how far float32 itself is from the exact inner
        m64 = model.double()
        for xt, row in zip(xs, rows):
            loss, g = grad_at(m64, X.double(), y, xt.double())
            row["inner_f64"] = -torch.dot(g, xT - xt.double()).item()
            row["loss_f64"] = loss
    out = {"impl": "pytorch", "spec": a.spec, "params": p, "threads": torch.get_num_threads(),
           "epochs": len(xs), "points": a.points, "rows": rows, "nb_mean": [statistics.mean(v) for v in nb],
           "seconds": secs, "grads": ngrad, "per_grad_s": secs / ngrad}
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.dont_write_bytecode = True                # no bench/__pycache__ in the tree
    from nn_bench import torch_backend            # the same description of PyTorch's CPU kernels
    out.update(torch_backend())
    print(json.dumps(out))


def ours_info(binary):
    """The kernels the C engine reaches: OpenBLAS (dlopened as libopenblas.so.0, src/nn/blas.c) and oneDNN."""
    info = {"cpu": "?", "openblas": "?", "openblas_core": "?", "onednn": "not linked"}
    with open("/proc/cpuinfo") as f:
        m = re.search(r"model name\s*:\s*(.*)", f.read())
        info["cpu"] = m.group(1).strip() if m else "?"
    try:
        ob = ctypes.CDLL("libopenblas.so.0")
        ob.openblas_get_config.restype = ctypes.c_char_p
        ob.openblas_get_corename.restype = ctypes.c_char_p
        info["openblas"] = ob.openblas_get_config().decode().split()[1]
        info["openblas_core"] = ob.openblas_get_corename().decode()
    except (OSError, AttributeError, IndexError):
        pass
    try:
        ldd = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
        m = re.search(r"(libdnnl\.so\S*) => (\S+)", ldd)
        if m:
            lib = ctypes.CDLL(m.group(2))

            class Ver(ctypes.Structure):
                _fields_ = [("major", ctypes.c_int), ("minor", ctypes.c_int), ("patch", ctypes.c_int),
                            ("hash", ctypes.c_char_p)]
            lib.dnnl_version.restype = ctypes.POINTER(Ver)
            v = lib.dnnl_version().contents
            info["onednn"] = "oneDNN v%d.%d.%d" % (v.major, v.minor, v.patch)
    except (OSError, AttributeError):
        pass
    print(json.dumps(info))


def ours_row(spec, out, base, wall):
    """One JSON line from `sgdscape probe`'s probe.csv and manifest.json (its own `seconds`). BASE is
    the same probe on one epoch without points: its seconds (setup, reading the files, the first
    gradient's allocations) come off, so per_grad_s is the steady state, as on the PyTorch side."""
    import csv
    man = json.load(open(os.path.join(out, "manifest.json")))
    s0 = json.load(open(os.path.join(base, "manifest.json")))["seconds"]
    rows = [{"epoch": int(r["epoch"]), "loss": float(r["loss"]), "grad_norm": float(r["grad_norm"]),
             "inner": float(r["inner"]), "nb_mean": float(r["nb_mean"])}
            for r in csv.DictReader(open(os.path.join(out, "probe.csv")))]
    ngrad = len(rows) * (1 + man["points"])
    print(json.dumps({"impl": "sgdscape", "spec": spec, "params": man["parameters"], "threads": man.get("threads"),
                      "epochs": len(rows), "points": man["points"], "rows": rows, "seconds": man["seconds"],
                      "base_seconds": s0, "wall_s": wall, "grads": ngrad,
                      "per_grad_s": (man["seconds"] - s0) / (ngrad - 1), "per_grad_all_s": man["seconds"] / ngrad}))


def train_row(spec, out):
    """img/s of `sgdscape train`: the median over epochs >= 1 (epoch 0 also allocates)."""
    import csv
    ips = [float(r["img_per_s"]) for r in csv.DictReader(open(os.path.join(out, "train.csv")))][1:]
    print(json.dumps({"impl": "train", "spec": spec, "img_per_s": statistics.median(ips), "epochs_img_per_s": ips}))


def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def rel_max(a, b, key_a, key_b):
    """max over epochs of |a - b| / |b|, or None where a value is missing."""
    v = [abs(x[key_a] - y[key_b]) / abs(y[key_b]) for x, y in zip(a, b) if key_a in x and key_b in y]
    return max(v) if v else None


def report(path, threads):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    info = next((r for r in rows if r.get("kind") == "info"), {})
    t = next((r for r in rows if r.get("impl") == "pytorch" and "error" not in r), None)
    print("CPU: %s, %s cores; load average before / after: %s / %s" % (
        info.get("cpu", "?"), os.cpu_count(), info.get("load0", "?"), info.get("load1", "?")))
    print("sgdscape: OpenMP %s threads over the batch; convolutions through its direct kernels or %s, "
          "OpenBLAS %s (core %s) single-threaded inside" % (threads, info.get("onednn", "?"),
                                                            info.get("openblas", "?"), info.get("openblas_core", "?")))
    if t:
        print("PyTorch %s: %s%s, ISA %s, BLAS %s, %s parallel; %d threads" % (
            t["torch"], t["onednn"], "" if t["mkldnn_enabled"] else " (disabled)", t["isa"], t["blas"],
            t["parallel"], t["threads"]))
    print("OMP_WAIT_POLICY=%s on both sides; times are medians over %s runs per side\n"
          % (info.get("wait", "?"), info.get("reps", "?")))
    fmt = "%-22s %7s %5s %9s %9s %9s %10s %10s %7s %10s %10s %5s"
    print(fmt % ("model", "params", "ExP", "5.1 o~t32", "o~f64", "t32~f64", "ours ms/g", "torch ms/g", "ratio",
                 "train us/im", "probe us/im", "p/t"))
    order = []
    for r in rows:
        if "spec" in r and r["spec"] not in order:
            order.append(r["spec"])
    for spec in order:
        g = next((r for r in rows if r.get("kind") == "gen" and r["spec"] == spec), {})
        cs = [r for r in rows if r.get("impl") == "sgdscape" and r["spec"] == spec and "error" not in r]
        ps = [r for r in rows if r.get("impl") == "pytorch" and r["spec"] == spec and "error" not in r]
        ts = [r for r in rows if r.get("impl") == "train" and r["spec"] == spec and "error" not in r]
        p64 = next((r for r in ps if "inner_f64" in r["rows"][0]), ps[0] if ps else None)
        a32 = rel_max(cs[0]["rows"], p64["rows"], "inner", "inner") if cs and p64 else None
        a64 = rel_max(cs[0]["rows"], p64["rows"], "inner", "inner_f64") if cs and p64 else None
        t64 = rel_max(p64["rows"], p64["rows"], "inner", "inner_f64") if p64 else None
        oc = med(r["per_grad_s"] for r in cs)
        ot = med(r["per_grad_s"] for r in ps)
        tr = med(1.0 / r["img_per_s"] for r in ts)
        ratio = ot / oc if oc and ot else None
        per_img = oc / N_IMAGES if oc else None

        def f(v, form):
            return form % v if v is not None else "-"
        print(fmt % (spec, g.get("params", "?"), "%sx%s" % (g.get("epochs", "?"), g.get("points", "?")),
                     f(a32, "%.1e"), f(a64, "%.1e"), f(t64, "%.1e"), f(oc and oc * 1e3, "%.1f"),
                     f(ot and ot * 1e3, "%.1f"), f(ratio, "%.2fx"), f(tr and tr * 1e6, "%.0f"),
                     f(per_img and per_img * 1e6, "%.0f"), f(per_img / tr if per_img and tr else None, "%.2f")))
        if cs and p64:
            print("    5.2 mean over the points (own draws each side) per epoch, ours / torch: %s" % ", ".join(
                "%.4g / %.4g" % (a["nb_mean"], b) for a, b in zip(cs[0]["rows"], p64["nb_mean"])))
            print("    f(x_t) ours~t32 %.1e; inner per epoch ours / torch f32 / torch f64: %s" % (
                rel_max(cs[0]["rows"], p64["rows"], "loss", "loss"), ", ".join(
                    "%.7g / %.7g / %s" % (a["inner"], b["inner"], "%.7g" % b["inner_f64"] if "inner_f64" in b else "-")
                    for a, b in zip(cs[0]["rows"], p64["rows"]))))
        if cs or ps or ts:
            print("    per run, ms/g ours: %s; torch: %s; train us/im: %s" % (
                " ".join("%.1f" % (r["per_grad_s"] * 1e3) for r in cs), " ".join("%.1f" % (r["per_grad_s"] * 1e3) for r in ps),
                " ".join("%.0f" % (1e6 / r["img_per_s"]) for r in ts)))
        for r in [r for r in rows if r.get("spec") == spec and "error" in r]:
            print("    %s failed: %s" % (r.get("impl"), r["error"].strip().splitlines()[-1] if r["error"].strip() else "?"))
    print("\n5.1 o~t32, o~f64, t32~f64: max over the E epochs of |a - b| / |b| of <-grad f(x_t), x_T - x_t>, ours (o)")
    print("against PyTorch float32 (t32) and float64 (f64, same x_t, same f). ms/g: time per gradient (batch %d),"
          % N_IMAGES)
    print("steady state (ours: probe seconds less a one-epoch, no-point probe's; torch: after a warm-up gradient);")
    print("ratio = torch / ours (> 1: ours faster). train us/im = 1 / img_per_s of sgdscape train on the same")
    print("data (median of epochs >= 1); probe us/im = ours ms/g / %d; p/t = probe / train (issue 9: within 10%%)."
          % N_IMAGES)


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("spec")
    g.add_argument("dir")
    g.add_argument("--epochs", type=int, default=3)
    g.add_argument("--seconds", type=float, default=6.0)
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("probe")
    p.add_argument("spec")
    p.add_argument("dir")
    p.add_argument("--points", type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--radius", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--f64", action="store_true", help="also the 5.1 values in float64 (untimed)")
    o = sub.add_parser("ours-info")
    o.add_argument("binary")
    o = sub.add_parser("ours-row")
    o.add_argument("spec")
    o.add_argument("out")
    o.add_argument("base")
    o.add_argument("wall", type=float)
    o = sub.add_parser("train-row")
    o.add_argument("spec")
    o.add_argument("out")
    r = sub.add_parser("report")
    r.add_argument("rows")
    r.add_argument("threads")
    a = ap.parse_args()
    if a.cmd == "gen":
        gen(a)
    elif a.cmd == "probe":
        probe(a)
    elif a.cmd == "ours-row":
        ours_row(a.spec, a.out, a.base, a.wall)
    elif a.cmd == "train-row":
        train_row(a.spec, a.out)
    elif a.cmd == "ours-info":
        ours_info(a.binary)
    else:
        report(a.rows, a.threads)


if __name__ == "__main__":
    main()
