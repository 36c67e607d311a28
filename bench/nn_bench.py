#!/usr/bin/python3
"""PyTorch side of the neural-network benchmark (issue 4, Performance).

    /usr/bin/python3 bench/nn_bench.py SPEC [--threads 2] [--batch 128]
        [--seconds 8] [--max-iters 40] [--expect-params P]

Builds the architecture that sgdscape's spec SPEC names (include/sgdscape/nn.h,
src/nn/models.c) as a torch.nn.Module, for 3x32x32 input and 10 classes:
  resnet20|32|44|56|110, resnet:n=N,w=W[,shortcut=A|B]  CIFAR ResNet 6n+2
  resnet34[:w=W]                                        [3,4,6,3] basic blocks, 3x3 stem
  densenet[:depth=D,k=K,reduction=R]                    DenseNet-BC
checks the parameter count against --expect-params (the C engine's), counts
the forward conv + linear FLOPs with hooks, then times full training steps
(forward, cross-entropy, backward, SGD momentum 0.9, weight decay 1e-4) on
random inputs with torch.set_num_threads(THREADS). One warm-up step; its time
sets how many steps are timed (about SECONDS, 3..MAX_ITERS). Prints one JSON
line: every step time, median, img/s, FLOPs, VmHWM, and the CPU backend.
"""
import argparse
import json
import math
import os
import re
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from torch_models import build  # noqa: E402  (the architectures, shared with the fixtures)


def proc_status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


# ---- FLOPs ----------------------------------------------------------------
def forward_flops(model, x):
    """Forward conv + linear FLOPs (2 x MACs) for the batch x, by hooks."""
    total = [0]

    def conv_hook(mod, inp, out):
        kh, kw = mod.kernel_size
        total[0] += 2 * out.numel() * (mod.in_channels // mod.groups) * kh * kw

    def linear_hook(mod, inp, out):
        total[0] += 2 * out.numel() * mod.in_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    with torch.no_grad():
        model.eval()
        model(x)
        model.train()
    for h in hooks:
        h.remove()
    return total[0]


def torch_backend():
    cfg = torch.__config__.show()
    isa = re.search(r"CPU capability usage: (\S+)", cfg)
    dnn = re.search(r"(Intel\(R\) MKL-DNN|oneDNN)[^\n]*?v(\d[\d.]*)", cfg)
    blas = re.search(r"BLAS_INFO=([^,]+)", cfg)
    return {
        "torch": torch.__version__,
        "isa": isa.group(1) if isa else "?",
        "onednn": ("oneDNN/MKL-DNN v" + dnn.group(2)) if dnn else "none",
        "mkldnn_enabled": bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled),
        "mkl": bool(torch.backends.mkl.is_available()),
        "blas": blas.group(1) if blas else "?",
        "parallel": "OpenMP" if "ATen parallel backend: OpenMP" in torch.__config__.parallel_info() else "other",
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("spec")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--max-iters", type=int, default=40)
    ap.add_argument("--expect-params", type=int, default=None)
    a = ap.parse_args()

    rss0 = proc_status_kb("VmRSS")
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = build(a.spec)
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    if a.expect_params is not None and params != a.expect_params:
        print("nn_bench.py: %s has %d parameters in PyTorch but %d in sgdscape"
              % (a.spec, params, a.expect_params), file=sys.stderr)
        sys.exit(3)
    x = torch.randn(a.batch, 3, 32, 32)
    y = torch.randint(0, 10, (a.batch,))
    fwd_flops = forward_flops(model, x)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    t0 = time.perf_counter()
    loss0 = step()
    warm = time.perf_counter() - t0
    iters = max(3, min(a.max_iters, math.ceil(a.seconds / warm) if warm > 0 else a.max_iters))
    times = []
    loss = loss0
    for _ in range(iters):
        t0 = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - t0)
    s = sorted(times)
    med = s[len(s) // 2] if len(s) % 2 else 0.5 * (s[len(s) // 2 - 1] + s[len(s) // 2])
    out = {
        "impl": "pytorch", "spec": a.spec, "params": params, "buffers": buffers,
        "threads": torch.get_num_threads(), "batch": a.batch, "warmup_s": warm,
        "steps": iters + 1, "step_s": times, "median_s": med, "img_per_s": a.batch / med,
        "min_s": s[0], "loss_first": loss0, "loss_last": loss,
        "fwd_flops_per_img": fwd_flops / a.batch,
        "train_flops_per_img": 3 * fwd_flops / a.batch,
        "vm_hwm_kb": proc_status_kb("VmHWM"), "vm_rss_after_import_kb": rss0,
    }
    out.update(torch_backend())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
