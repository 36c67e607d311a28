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
import re
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def proc_status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


# ---- models (same layer order and names as src/nn/models.c) ---------------
class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, option_a):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.option_a = False
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            if option_a:
                self.option_a = True
                self.stride = stride
                self.pad = (cout - cin) // 2
            else:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        if self.option_a:
            s = x[:, :, ::self.stride, ::self.stride]
            s = F.pad(s, (0, 0, 0, 0, self.pad, self.pad))
        else:
            s = self.shortcut(x)
        return F.relu(h + s)


class ResNet(nn.Module):
    def __init__(self, blocks, width, option_a, in_c=3, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_c, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        cin, w = width, width
        for st, nb in enumerate(blocks):
            layers = []
            for i in range(nb):
                stride = 2 if st > 0 and i == 0 else 1
                layers.append(BasicBlock(cin, w, stride, option_a))
                cin = w
            setattr(self, "layer%d" % (st + 1), nn.Sequential(*layers))
            w *= 2
        self.nstages = len(blocks)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        for st in range(self.nstages):
            h = getattr(self, "layer%d" % (st + 1))(h)
        h = F.adaptive_avg_pool2d(h, 1).flatten(1)
        return self.fc(h)


class DenseLayer(nn.Module):
    def __init__(self, cin, k):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, 4 * k, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * k)
        self.conv2 = nn.Conv2d(4 * k, k, 3, 1, 1, bias=False)

    def forward(self, x):
        h = self.conv1(F.relu(self.bn1(x)))
        h = self.conv2(F.relu(self.bn2(h)))
        return torch.cat([x, h], 1)


class Transition(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.bn = nn.BatchNorm2d(cin)
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)


class DenseNetBC(nn.Module):
    def __init__(self, depth, k, reduction, in_c=3, classes=10):
        super().__init__()
        nl = (depth - 4) // 6
        c = 2 * k
        self.conv1 = nn.Conv2d(in_c, c, 3, 1, 1, bias=False)
        for d in range(3):
            layers = []
            for i in range(nl):
                layers.append(DenseLayer(c + i * k, k))
            setattr(self, "dense%d" % (d + 1), nn.Sequential(*layers))
            c += nl * k
            if d < 2:
                co = max(1, int(reduction * c))
                setattr(self, "trans%d" % (d + 1), Transition(c, co))
                c = co
        self.bn = nn.BatchNorm2d(c)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        h = self.conv1(x)
        h = self.trans1(self.dense1(h))
        h = self.trans2(self.dense2(h))
        h = self.dense3(h)
        h = F.relu(self.bn(h))
        h = F.adaptive_avg_pool2d(h, 1).flatten(1)
        return self.fc(h)


CIFAR_N = {"resnet20": 3, "resnet32": 5, "resnet44": 7, "resnet56": 9, "resnet110": 18}


def build(spec):
    name, _, rest = spec.partition(":")
    kv = {}
    for item in filter(None, rest.split(",")):
        key, eq, val = item.partition("=")
        if not eq:
            raise SystemExit("nn_bench.py: bad spec parameter '%s'" % item)
        kv[key] = val
    if name in CIFAR_N or name == "resnet":
        n = int(kv.pop("n", CIFAR_N.get(name, 3)))
        w = int(kv.pop("w", 16))
        option_a = kv.pop("shortcut", "B") == "A"
        model = ResNet([n, n, n], w, option_a)
    elif name == "resnet34":
        w = int(kv.pop("w", 16))
        option_a = kv.pop("shortcut", "B") == "A"
        model = ResNet([3, 4, 6, 3], w, option_a)
    elif name == "densenet":
        depth = int(kv.pop("depth", 100))
        k = int(kv.pop("k", 12))
        red = float(kv.pop("reduction", 0.5))
        model = DenseNetBC(depth, k, red)
    else:
        raise SystemExit("nn_bench.py: no PyTorch equivalent for model '%s'" % name)
    if kv:
        raise SystemExit("nn_bench.py: unknown parameters %s for %s" % (sorted(kv), name))
    return model


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
