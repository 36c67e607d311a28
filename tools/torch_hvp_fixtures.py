#!/usr/bin/python3
"""Reference Hessian-vector products for tests/test_hvp.c, by PyTorch
double backward (torch.autograd.grad of <grad f, v>) in float64.

f is the engine's loss: the mean softmax cross-entropy of a batch, BN in
train mode (batch statistics) or eval mode (running statistics). Per net
and seed, into tests/fixtures/hvp/NAME_sSEED/:
  x.npy        float32 parameters (state_dict order, as the C engine's x)
  buffers.npy  float32 BN running mean/var (state_dict order)
  v.npy        float32 direction (read as float64 by the test)
  grad.npy     float64 gradient, train mode
  hv_train.npy float64 H v, train mode;  hv_eval.npy  the same in eval mode
  ref.npy      float64 [loss_train, loss_eval]
  spec.json    spec, input shape, classes, batch, seed, input file
The batch is shared by the nets of one input shape and seed:
tests/fixtures/hvp/input_CxHxW_sSEED.npy (float32 N x C x H x W) and
labels_sSEED.npy (int32). The models come from tools/torch_models.py (same
tensor names and order as src/nn/models.c); the float32 values are loaded
into the float64 model exactly, so the C side starts from the same numbers.
Run: /usr/bin/python3 tools/torch_hvp_fixtures.py [OUTDIR]
"""
import copy
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import build  # noqa: E402

N = 16          # batch
CLASSES = 10
# name, spec, input shape, seeds
NETS = [
    ("resnetB", "resnet:n=1,w=4", (3, 32, 32), (1, 2, 3)),
    ("resnetA", "resnet:n=1,w=4,shortcut=A", (3, 32, 32), (1, 2)),
    ("densenet", "densenet:depth=10,k=4", (3, 32, 32), (1, 2)),
    ("convnet", "convnet:w=4", (3, 32, 32), (1, 2)),
    ("mlp", "mlp:w=8,d=2", (1, 28, 28), (1, 2)),
]


def flat(model, buffers):
    out = []
    for name, t in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue
        if (name.endswith("running_mean") or name.endswith("running_var")) == buffers:
            out.append(t.detach().reshape(-1))
    return torch.cat(out) if out else torch.zeros(0)


def batch(outdir, shape, seed):
    """The shared input and labels of a shape and seed (written once)."""
    g = torch.Generator().manual_seed(1000 + seed)
    lab = torch.randint(0, CLASSES, (N,), generator=g)   # first: the same for every shape
    inp = torch.randn((N,) + shape, generator=g).float()
    tag = "x".join(str(s) for s in shape)
    np.save(os.path.join(outdir, "input_%s_s%d.npy" % (tag, seed)), inp.numpy())
    np.save(os.path.join(outdir, "labels_s%d.npy" % seed), lab.numpy().astype(np.int32))
    return inp, lab, "input_%s_s%d.npy" % (tag, seed)


def hvp(md, inp, lab, v, train):
    """loss, grad f and H v by double backward, BN in train or eval mode."""
    saved = copy.deepcopy(md.state_dict())   # train mode moves the running statistics
    md.train(train)
    params = list(md.parameters())
    loss = F.cross_entropy(md(inp), lab)
    g = torch.autograd.grad(loss, params, create_graph=True)
    gv = sum((gi * vi).sum() for gi, vi in zip(g, v))
    hv = torch.autograd.grad(gv, params)
    md.load_state_dict(saved)
    flatten = lambda ts: torch.cat([t.detach().reshape(-1) for t in ts]).numpy()  # noqa: E731
    return loss.item(), flatten(g), flatten(hv)


def make(outdir, name, spec, shape, seed, inp, lab, inp_file):
    torch.manual_seed(seed)
    model = build(spec, shape[0], CLASSES, shape[1:])
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():   # BN away from its identity init
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(1 + 0.2 * torch.rand(m.running_var.shape, generator=g))
    x32, b32 = flat(model, False).float(), flat(model, True).float()
    md = model.double()
    with torch.no_grad():
        for t in md.state_dict().values():
            if t.dtype == torch.float64:
                t.copy_(t.float().double())   # the float32 values, exactly
    v32 = torch.randn(x32.shape, generator=g).float()
    v, o = [], 0
    for p in md.parameters():
        v.append(v32[o:o + p.numel()].double().reshape(p.shape))
        o += p.numel()
    assert o == x32.numel()
    xin = inp.double()
    loss_t, grad, hv_t = hvp(md, xin, lab, v, True)
    loss_e, _, hv_e = hvp(md, xin, lab, v, False)
    d = os.path.join(outdir, "%s_s%d" % (name, seed))
    os.makedirs(d, exist_ok=True)
    np.save(os.path.join(d, "x.npy"), x32.numpy())
    np.save(os.path.join(d, "buffers.npy"), b32.numpy())
    np.save(os.path.join(d, "v.npy"), v32.numpy())
    np.save(os.path.join(d, "grad.npy"), grad.astype(np.float64))
    np.save(os.path.join(d, "hv_train.npy"), hv_t.astype(np.float64))
    np.save(os.path.join(d, "hv_eval.npy"), hv_e.astype(np.float64))
    np.save(os.path.join(d, "ref.npy"), np.array([loss_t, loss_e], dtype=np.float64))
    with open(os.path.join(d, "spec.json"), "w") as f:
        json.dump({"spec": spec, "input": list(shape), "classes": CLASSES, "n": N, "seed": seed,
                   "input_file": inp_file, "labels_file": "labels_s%d.npy" % seed,
                   "torch": torch.__version__}, f)
    print("%s seed %d: p = %d, loss %.6f / %.6f (train / eval), |Hv| %.4g / %.4g" %
          (spec, seed, x32.numel(), loss_t, loss_e, np.linalg.norm(hv_t), np.linalg.norm(hv_e)))


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else \
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "hvp")
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(2)
    batches = {}
    for name, spec, shape, seeds in NETS:
        for s in seeds:
            if (shape, s) not in batches:
                batches[(shape, s)] = batch(outdir, shape, s)
            make(outdir, name, spec, shape, s, *batches[(shape, s)])


if __name__ == "__main__":
    main()
