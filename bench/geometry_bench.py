#!/usr/bin/python3
"""PyTorch side of the geometry benchmark (issue 13): `sgdscape surface` and
`sgdscape hessian` against the same loops in PyTorch (loss-landscape and
PyHessian style), on the same files.

    geometry_bench.py gen SPEC DIR [--surface-images N] [--hessian-images M] [--seed 1] [--threads 2]
    geometry_bench.py surface SPEC DIR --grid G [--threads 2]
    geometry_bench.py hessian SPEC DIR --steps S [--threads 2] [--check OURS_OUT]
    geometry_bench.py ours-surface SPEC OUT WALL | ours-hessian SPEC OUT WALL
    geometry_bench.py info SGDSCAPE_BINARY
    geometry_bench.py report ROWS.jsonl

gen: DIR/{s,h}_X.npy (N,3,32,32 float32 N(0,1)) and DIR/{s,h}_y.npy (int64,
10 classes) for the surface (N images) and the Hessian (M images); the
PyTorch twin of SPEC (tools/torch_models.py, the engine's state_dict order)
at its seeded initialisation, DIR/x.npy (parameters, flat float32); its BN
running statistics re-estimated on the surface images (train mode,
momentum=None, batches of 128), DIR/buffers.npy (running_mean then
running_var of each BN layer); and two filter-normalised random directions
(Li et al. 2018: each output filter scaled to X's filter norm, 1-D tensors
zeroed), DIR/d1.npy, DIR/d2.npy.

f on both sides: BN in eval mode with DIR/buffers.npy, the mean over batches
of 128 of each batch's mean cross-entropy, every image once (N and M are
multiples of 128, so this is the mean over the images and does not depend on
sgdscape's shuffle), the images normalised per channel by their own mean and
population std as sgdscape's loader does ((double(v) - mean) / std, rounded
to float32).

surface: for each (a, b) of the G x G grid on [-1, 1]^2, weights = x + a d1
+ b d2 (float32), f under torch.no_grad. Writes DIR/torch_surface.npy (G x G
losses), prints one JSON line with the time of the loop (the model is built
and the data loaded before the clock starts).

hessian: S steps of Lanczos with full reorthogonalisation (classical
Gram-Schmidt twice, as sgdscape's) from a Rademacher start, float32, each
H v by double backward (torch.autograd.grad of the gradient with
create_graph=True, PyHessian's hessian_vector_product) summed over the
batches; then the top Ritz pair and its residual |H y - theta y| (one more
product): S + 1 products, what `sgdscape hessian --top 1 --lanczos-steps S`
does. --check OURS_OUT: after the clock, the Rayleigh quotient y'Hy and the
residual of sgdscape's top eigenvector (OURS_OUT/eigvecs_top.npy) in
PyTorch float32, to compare with its eigenvalue.
"""
import json
import os
import re
import statistics
import subprocess
import sys
import time

BATCH, CLASSES = 128, 10


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from probe_bench import build_model, torch_mod  # noqa: E402  (the twin nets, torch imported lazily)


def normalised(X):
    """sgdscape's loader: per channel (v - mean) / std in double, population std, rounded to float32."""
    import numpy as np
    Xd = X.astype(np.float64)
    mean = Xd.mean(axis=(0, 2, 3), keepdims=True)
    std = np.sqrt(((Xd - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True))
    return ((Xd - mean) / std).astype(np.float32)


def load(spec, d, which):
    import numpy as np
    torch = torch_mod()
    model = build_model(spec)
    x = torch.from_numpy(np.load(os.path.join(d, "x.npy")))
    torch.nn.utils.vector_to_parameters(x, model.parameters())
    buf = torch.from_numpy(np.load(os.path.join(d, "buffers.npy")))
    off = 0
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(buf[off:off + c])
            m.running_var.copy_(buf[off + c:off + 2 * c])
            off += 2 * c
    assert off == buf.numel(), "buffers.npy: %d values, the model has %d" % (buf.numel(), off)
    model.eval()
    X = torch.from_numpy(normalised(np.load(os.path.join(d, which + "_X.npy"))))
    y = torch.from_numpy(np.load(os.path.join(d, which + "_y.npy")))
    batches = [(X[i:i + BATCH], y[i:i + BATCH]) for i in range(0, len(y), BATCH)]
    return model, x, batches


def gen(a):
    import numpy as np
    torch = torch_mod()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.dir, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    for which, n in (("s", a.surface_images), ("h", a.hessian_images)):
        if n % BATCH:
            sys.exit("geometry_bench.py: --%s-images %d: want a multiple of %d"
                     % ("surface" if which == "s" else "hessian", n, BATCH))
        np.save(os.path.join(a.dir, which + "_X.npy"), rng.standard_normal((n, 3, 32, 32), dtype=np.float32))
        np.save(os.path.join(a.dir, which + "_y.npy"), rng.integers(0, CLASSES, n).astype(np.int64))
    model = build_model(a.spec)
    x = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    np.save(os.path.join(a.dir, "x.npy"), x.numpy())
    # running statistics of these weights on the surface images: eval mode then sees sane activations
    X = torch.from_numpy(normalised(np.load(os.path.join(a.dir, "s_X.npy"))))
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        for i in range(0, len(X), BATCH):
            model(X[i:i + BATCH])
    buf = []
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            buf += [m.running_mean.reshape(-1), m.running_var.reshape(-1)]
    np.save(os.path.join(a.dir, "buffers.npy"), torch.cat(buf).numpy().astype(np.float32))
    for k in (1, 2):
        ds = []
        for p in model.parameters():
            d = torch.randn(p.shape)
            if p.dim() <= 1:
                d.zero_()
            else:
                for df, pf in zip(d, p.detach()):
                    df.mul_(pf.norm() / (df.norm() + 1e-10))
            ds.append(d.reshape(-1))
        np.save(os.path.join(a.dir, "d%d.npy" % k), torch.cat(ds).numpy())
    print(json.dumps({"kind": "gen", "spec": a.spec, "params": x.numel(), "buffers": int(sum(b.numel() for b in buf)),
                      "surface_images": a.surface_images, "hessian_images": a.hessian_images}))


def grid(g):
    return [-1.0 + 2.0 * i / (g - 1) for i in range(g)] if g > 1 else [-1.0]


def surface(a):
    import numpy as np
    torch = torch_mod()
    torch.set_num_threads(a.threads)
    model, x, batches = load(a.spec, a.dir, "s")
    d1 = torch.from_numpy(np.load(os.path.join(a.dir, "d1.npy")))
    d2 = torch.from_numpy(np.load(os.path.join(a.dir, "d2.npy")))
    G = grid(a.grid)
    out = np.zeros((a.grid, a.grid))
    params = list(model.parameters())
    t0 = time.perf_counter()
    with torch.no_grad():
        for i, al in enumerate(G):
            for j, be in enumerate(G):
                torch.nn.utils.vector_to_parameters(x + al * d1 + be * d2, params)
                out[i, j] = sum(torch.nn.functional.cross_entropy(model(Xb), yb).item() for Xb, yb in batches) / len(batches)
    sec = time.perf_counter() - t0
    np.save(os.path.join(a.dir, "torch_surface.npy"), out)
    print(json.dumps({"impl": "pytorch", "kind": "surface", "spec": a.spec, "grid": a.grid,
                      "images": sum(len(b[1]) for b in batches), "threads": torch.get_num_threads(),
                      "seconds": sec, "points": a.grid * a.grid, "f_center": out[a.grid // 2, a.grid // 2]}))


def hvp_fn(model, batches):
    torch = torch_mod()
    params = [p for p in model.parameters()]
    sizes = [p.numel() for p in params]

    def hv(v):
        vs = [t.reshape(p.shape) for t, p in zip(torch.split(v, sizes), params)]
        acc = torch.zeros_like(v)
        for Xb, yb in batches:
            loss = torch.nn.functional.cross_entropy(model(Xb), yb)
            g = torch.autograd.grad(loss, params, create_graph=True)
            h = torch.autograd.grad(g, params, grad_outputs=vs)
            acc += torch.cat([t.reshape(-1) for t in h])
        return acc / len(batches)
    return hv


def hessian(a):
    import numpy as np
    torch = torch_mod()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model, x, batches = load(a.spec, a.dir, "h")
    hv = hvp_fn(model, batches)
    n = x.numel()
    S = a.steps
    t0 = time.perf_counter()
    Q = torch.zeros(S + 1, n)
    q = torch.randint(0, 2, (n,)).float() * 2 - 1
    Q[0] = q / q.norm()
    alpha, beta = [], []
    for j in range(S):
        w = hv(Q[j])
        alpha.append(float(Q[j] @ w))
        w -= alpha[-1] * Q[j]
        if j:
            w -= beta[-1] * Q[j - 1]
        for _ in range(2):  # classical Gram-Schmidt twice against every earlier vector
            w -= Q[:j + 1].t() @ (Q[:j + 1] @ w)
        beta.append(float(w.norm()))
        Q[j + 1] = w / beta[-1]
    T = np.diag(alpha) + np.diag(beta[:-1], 1) + np.diag(beta[:-1], -1)
    th, s = np.linalg.eigh(T)
    yv = torch.from_numpy(s[:, -1].astype(np.float32)) @ Q[:S]
    res = float((hv(yv) - float(th[-1]) * yv).norm())
    sec = time.perf_counter() - t0
    row = {"impl": "pytorch", "kind": "hessian", "spec": a.spec, "images": sum(len(b[1]) for b in batches),
           "threads": torch.get_num_threads(), "seconds": sec, "products": S + 1, "steps": S,
           "top": float(th[-1]), "residual": res}
    if a.check:
        y = torch.from_numpy(np.load(os.path.join(a.check, "eigvecs_top.npy"))[0].astype(np.float32))
        h = hv(y)
        rq = float(y @ h) / float(y @ y)
        row.update(check_rayleigh=rq, check_residual=float((h - rq * y).norm()))
    print(json.dumps(row))


def ours_row(kind, spec, out, wall):
    s = json.load(open(os.path.join(out, "summary.json")))
    m = json.load(open(os.path.join(out, "manifest.json")))
    sec = s.get("seconds", m.get("seconds"))  # surface: summary.json; hessian: manifest.json
    row = {"impl": "sgdscape", "kind": kind, "spec": spec, "seconds": sec, "wall": float(wall)}
    if kind == "hessian":
        row.update(products=s.get("hessian_vector_products"), steps=s.get("eigenvalues", {}).get("lanczos_steps"))
        with open(os.path.join(out, "eigenvalues.csv")) as f:
            for line in f:
                p = line.strip().split(",")
                if p[0] == "top" and p[1] == "1":
                    row.update(top=float(p[2]), residual=float(p[3]))
    print(json.dumps(row))


def info(binary):
    torch = torch_mod()
    cfg = torch.__config__.show()
    isa = re.search(r"CPU capability usage: (\S+)", cfg)
    dnn = re.search(r"(Intel\(R\) MKL-DNN|oneDNN)[^\n]*?v(\d[\d.]*)", cfg)
    ver = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    cpu = "?"
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name:"):
            cpu = line.split(":", 1)[1].strip()
        elif line.startswith("CPU family:"):
            cpu += " (family %s" % line.split(":", 1)[1].strip()
        elif line.startswith("Model:"):
            cpu += ", model %s)" % line.split(":", 1)[1].strip()
    print(json.dumps({"kind": "info", "torch": torch.__version__, "isa": isa.group(1) if isa else "?",
                      "onednn": ("oneDNN v" + dnn.group(2)) if dnn else "none",
                      "ours": ver, "cpu": cpu, "cores": os.cpu_count(), "ours_kernels": ours_kernels()}))


def ours_kernels():
    """The libraries the engine loads: OpenBLAS's core (its products, float64 dgemm for H v) and oneDNN's ISA."""
    import ctypes
    out = []
    try:
        ob = ctypes.CDLL("libopenblas.so.0")
        ob.openblas_get_corename.restype = ctypes.c_char_p
        out.append("OpenBLAS core %s" % ob.openblas_get_corename().decode())
    except (OSError, AttributeError):
        out.append("OpenBLAS ?")
    try:
        dn = ctypes.CDLL("libdnnl.so.2")

        class Ver(ctypes.Structure):
            _fields_ = [("major", ctypes.c_int), ("minor", ctypes.c_int), ("patch", ctypes.c_int)]
        dn.dnnl_version.restype = ctypes.POINTER(Ver)
        v = dn.dnnl_version().contents
        # dnnl_get_effective_cpu_isa() is the dispatch cap, not the CPU: take the ISA from the CPU flags
        flags = open("/proc/cpuinfo").read()
        isa = "AVX-512" if " avx512f" in flags else "AVX2" if " avx2" in flags else "pre-AVX2"
        out.append("oneDNN v%d.%d.%d on %s" % (v.major, v.minor, v.patch, isa))
    except (OSError, AttributeError):
        out.append("oneDNN ?")
    return ", ".join(out)


def med(v):
    return statistics.median(v) if v else None


def per_run(torch_rows, ours_rows):
    """PyTorch time / ours in each alternation, in order (the load moves between them)."""
    return " ".join("%.2fx" % (p["seconds"] / c["seconds"]) for p, c in zip(torch_rows, ours_rows))


def report(path):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    inf = next((r for r in rows if r.get("kind") == "info"), {})
    print("CPU: %s, %s cores, load %s -> %s (shared machine: medians)" % (
        inf.get("cpu", "?"), inf.get("cores", "?"), inf.get("load0", "?"), inf.get("load1", "?")))
    print("PyTorch %s (%s, ISA %s), %s threads; %s (%s), %s threads; OMP_WAIT_POLICY=%s" % (
        inf.get("torch", "?"), inf.get("onednn", "?"), inf.get("isa", "?"), inf.get("threads", "?"),
        inf.get("ours", "?"), inf.get("ours_kernels", "?"), inf.get("threads", "?"), inf.get("wait", "?")))
    for r in rows:
        if "error" in r:
            print("  %s %s failed: %s" % (r.get("impl"), r.get("kind", ""), r["error"].splitlines()[-1]))
    gen = next((r for r in rows if r.get("kind") == "gen"), {})
    spec = gen.get("spec", "?")
    ok = [r for r in rows if "error" not in r]

    def side(impl, kind):
        return [r for r in ok if r.get("impl") == impl and r.get("kind") == kind]

    cs, ps = side("sgdscape", "surface"), side("pytorch", "surface")
    if cs and ps:
        c, p = med([r["seconds"] for r in cs]), med([r["seconds"] for r in ps])
        pts = ps[0]["points"]
        print("\nsurface: %s, %dx%d grid, %d images (eval-mode BN), %d runs per side" % (
            spec, ps[0]["grid"], ps[0]["grid"], ps[0]["images"], min(len(cs), len(ps))))
        print("  sgdscape %.2f s (%.3f s/point; wall with start-up and figures %.2f s)   PyTorch %.2f s (%.3f s/point)" % (
            c, c / pts, med([r["wall"] for r in cs]), p, p / pts))
        print("  ratio %.2fx  (target >= 1.5x: %s); per run %s" % (p / c, "ok" if p / c >= 1.5 else "MISS", per_run(ps, cs)))
        for r in cs:
            if "maxrel" in r:
                print("  values: max |ours - torch| / |torch| over the grid = %.2e (f at the centre %.6f / %.6f)" % (
                    r["maxrel"], r["f_center_ours"], r["f_center_torch"]))
                break
    ch, ph = side("sgdscape", "hessian"), side("pytorch", "hessian")
    if ch and ph:
        c, p = med([r["seconds"] for r in ch]), med([r["seconds"] for r in ph])
        kc, kp = ch[0]["products"], ph[0]["products"]
        print("\nhessian --top 1: %s, %d images (eval-mode BN), Lanczos %d steps + 1 residual product, %d runs per side" % (
            spec, ph[0]["images"], ph[0]["steps"], min(len(ch), len(ph))))
        print("  sgdscape %.2f s, %d products (%.2f s/product, float%s R-operator)   PyTorch %.2f s, %d products (%.2f s/product, float32 double backward)" % (
            c, kc, c / kc, inf.get("precision", 64), p, kp, p / kp))
        print("  ratio %.2fx per run, %.2fx per product  (target >= 2x: %s); per run %s" % (
            p / c, (p / kp) / (c / kc), "ok" if p / c >= 2 else "MISS", per_run(ph, ch)))
        print("  top Ritz value after %d steps: sgdscape %.6g (residual %.3g), PyTorch %.6g (residual %.3g)" % (
            ph[0]["steps"], ch[0]["top"], ch[0]["residual"], ph[0]["top"], ph[0]["residual"]))
        chk = [r for r in ph if "check_rayleigh" in r]
        if chk:
            r = chk[0]
            print("  sgdscape's top eigenvector in PyTorch: y'Hy = %.7g vs sgdscape's %.7g (rel %.1e), |Hy - theta y| %.3g vs %.3g" % (
                r["check_rayleigh"], ch[0]["top"], abs(r["check_rayleigh"] - ch[0]["top"]) / abs(ch[0]["top"]),
                r["check_residual"], ch[0]["residual"]))


THREADS = ("--threads", dict(type=int, default=2))
# subcommand: its arguments (name, argparse keywords)
COMMANDS = {
    "gen": [("spec", {}), ("dir", {}), ("--surface-images", dict(type=int, default=256)),
            ("--hessian-images", dict(type=int, default=256)), ("--seed", dict(type=int, default=1)), THREADS],
    "surface": [("spec", {}), ("dir", {}), ("--grid", dict(type=int, required=True)), THREADS],
    "hessian": [("spec", {}), ("dir", {}), ("--steps", dict(type=int, required=True)), THREADS,
                ("--seed", dict(type=int, default=1)), ("--check", dict(default=None))],
    "ours-surface": [("spec", {}), ("out", {}), ("wall", {})],
    "ours-hessian": [("spec", {}), ("out", {}), ("wall", {})],
    "compare-surface": [("row", {}), ("ours", {}), ("torch", {})],
    "info": [("binary", {})],
    "report": [("rows", {})],
}


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name, args in COMMANDS.items():
        sp = sub.add_parser(name)
        for arg, kw in args:
            sp.add_argument(arg, **kw)
    a = ap.parse_args()
    if a.cmd in ("gen", "surface", "hessian"):
        globals()[a.cmd](a)
    elif a.cmd in ("ours-surface", "ours-hessian"):
        ours_row(a.cmd[5:], a.spec, a.out, a.wall)
    elif a.cmd == "compare-surface":
        compare_surface(a.row, a.ours, a.torch)
    elif a.cmd == "info":
        info(a.binary)
    else:
        report(a.rows)


def compare_surface(row, ours, torch_npy):
    """Adds to the JSON row (a string) the agreement of sgdscape's surface.npy with PyTorch's grid."""
    import numpy as np
    r = json.loads(row)
    o = np.load(os.path.join(ours, "surface.npy"))[:, :, 0]
    t = np.load(torch_npy)
    G = t.shape[0]
    r.update(maxrel=float(np.max(np.abs(o - t) / np.abs(t))), f_center_ours=float(o[G // 2, G // 2]),
             f_center_torch=float(t[G // 2, G // 2]))
    print(json.dumps(r))


if __name__ == "__main__":
    main()
