#!/usr/bin/python3
"""Reference fixtures for tests/test_nn_torch.c, computed with PyTorch.

Builds small nets with the same module names and state_dict order as the C
engine (src/nn/models.c), and writes per net into tests/fixtures/torch/NAME/:
  x.npy        float32 flat parameter vector (state_dict order, no buffers)
  buffers.npy  float32 BN running mean/var (state_dict order)
  input.npy    float32 batch (N, C, H, W);  labels.npy int32 (N)
  ref.npy      float64 [loss_train, loss_eval, loss_after_3_steps, correct_train]
  grad.npy     float64 gradient of the train-mode loss (float64 reference)
  x3.npy       float32 x after 3 SGD steps (lr 0.1, momentum 0.9, wd 1e-4),
               each step on the same batch, BN in train mode
  names.txt    tensor names, one a line (params then buffers)
  t32err.npy   float64 per parameter tensor: PyTorch float32's relative error
               against grad.npy (the conditioned fixtures): how far float32
               summation alone moves each tensor
  t32all.npy   float64 [PyTorch float32's relative error of the whole
               gradient] (the conditioned fixtures made since issue 12)
  spec.json    the spec, input shape, classes, batch, seed and, for the
               conditioned fixtures, the kink check below
The reference pass runs in float64 so the C float32 engine is compared with
an accurate value. Run: /usr/bin/python3 tools/torch_fixtures.py [OUTDIR [NAME...]]
(with NAMEs, only those fixtures are written: the others keep their bytes).

Why some fixtures are "conditioned". A ReLU network's gradient jumps where a
ReLU input crosses zero: with train-mode BN one flipped mask moves a whole
channel's gradient, by ~1/sqrt(N*H*W) of the total (1e-3..1e-2 at batch 16,
32x32). A float32 forward (ours, or PyTorch's) computes each ReLU input with
a rounding error ~1e-6 of its scale, so wherever the exact input lies that
close to zero, the float32 gradient is the exact gradient of a neighbouring
mask pattern, and it differs from the float64 one by that jump. No float32
engine can match float64 there (PyTorch float32 misses by 1e-2 on such
seeds too). So the large fixtures take the first seed at or after the given
one whose float64 gradient does not move (relative change < FLIP_TOL) when
every ReLU input within KINK * std of zero flips side at once: there, a
float32 gradient that differs from float64 by more than rounding is a bug.
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


def flat(model, buffers):
    out = []
    for name, t in model.state_dict().items():
        is_buf = name.endswith("running_mean") or name.endswith("running_var")
        if name.endswith("num_batches_tracked"):
            continue
        if is_buf == buffers:
            out.append(t.detach().reshape(-1))
    return torch.cat(out)


def names(model):
    sd = [(n, tuple(t.shape)) for n, t in model.state_dict().items() if not n.endswith("num_batches_tracked")]
    par = [s for s in sd if not (s[0].endswith("running_mean") or s[0].endswith("running_var"))]
    buf = [s for s in sd if s[0].endswith("running_mean") or s[0].endswith("running_var")]
    return par + buf


KINK = 1e-5      # ReLU inputs within KINK * (tensor std) of 0 count as fragile
FLIP_TOL = 1e-6  # a conditioned fixture's gradient moves less than this when they flip


class Relu:
    """F.relu for the reference models, counting and optionally flipping
    fragile entries (within KINK * std of 0)."""

    def __init__(self):
        self.flip = False
        self.fragile = 0

    def __call__(self, z, inplace=False):
        mask = z > 0
        near = z.detach().abs() < KINK * z.detach().std()
        self.fragile += int(near.sum())
        if self.flip:
            mask = mask ^ near
        return z * mask


def perturbed(spec, in_shape, classes, n, seed):
    """The recipe of issue 14: the model's init, then every parameter moved
    by 0.05 randn, inputs randn, labels randint; all float32 values. BN
    biases and running statistics moved too (below)."""
    torch.manual_seed(seed)
    model = build(spec, in_shape[0], classes)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                # BN biases 2.5..3 put ~0.3% of ReLU inputs below 0 (the
                # masks still matter) and ~25x fewer near it than biases
                # near 0 would: most seeds then have none close enough to
                # flip in float32 (the module comment).
                m.bias.copy_(2.5 + 0.5 * torch.rand(m.bias.shape))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape))
                m.running_var.copy_(1 + 0.2 * torch.rand(m.running_var.shape))
    inp = torch.randn((n,) + in_shape).float()
    lab = torch.randint(0, classes, (n,))
    return model, inp, lab


def train_grad(md, inp, lab):
    md.train()
    md.zero_grad()
    F.cross_entropy(md(inp.double()), lab).backward()
    return torch.cat([p.grad.reshape(-1) for p in md.parameters()])


def conditioned(spec, in_shape, classes, n, seed, tries=40):
    """The first seed >= seed whose float64 gradient is stable under the flip
    of every fragile ReLU input (see the module comment)."""
    relu = Relu()
    saved = F.relu
    F.relu = relu   # torch_models calls F.relu
    try:
        for s in range(seed, seed + tries):
            model, inp, lab = perturbed(spec, in_shape, classes, n, s)
            md = copy.deepcopy(model).double()
            relu.flip, relu.fragile = False, 0
            g = train_grad(md, inp, lab)
            fragile = relu.fragile
            relu.flip = True
            gf = train_grad(md, inp, lab)
            change = float((gf - g).norm() / g.norm())
            print("  %s seed %d: %d fragile ReLU inputs, flipping all moves the gradient by %.2e%s" %
                  (spec, s, fragile, change, "" if change < FLIP_TOL else " (skipped)"))
            if change < FLIP_TOL:
                return model, inp, lab, {"seed": s, "kink": KINK, "fragile": fragile, "flip_change": change}
    finally:
        F.relu = saved
    raise SystemExit("no conditioned seed for %s in [%d, %d)" % (spec, seed, seed + tries))


def make(outdir, name, spec, model, in_shape, classes, n, seed, lab=None, inp=None, extra=None):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed + 1)
    # Non-trivial BN affine params and running stats (the small fixtures;
    # the conditioned ones come with theirs from perturbed()).
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d) and inp is None:
                m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(1 + 0.2 * torch.rand(m.running_var.shape, generator=g))
    x32 = flat(model, False).float()
    b32 = flat(model, True).float()
    if inp is None:
        inp = torch.randn((n,) + in_shape, generator=g).float()
        lab = torch.arange(n) % classes
    m32 = copy.deepcopy(model).float() if extra is not None else None
    md = model.double()   # in place: model is float64 from here
    # Load the exactly-representable float32 values into the float64 model.
    with torch.no_grad():
        sd = md.state_dict()
        for k in sd:
            if sd[k].dtype == torch.float64:
                sd[k].copy_(sd[k].float().double())
    init_state = {k: v.clone() for k, v in md.state_dict().items()}

    md.eval()
    with torch.no_grad():
        loss_eval = F.cross_entropy(md(inp.double()), lab).item()
    md.train()
    md.zero_grad()
    out = md(inp.double())
    loss = F.cross_entropy(out, lab)
    loss.backward()
    correct = int((out.argmax(1) == lab).sum())
    grad = torch.cat([p.grad.reshape(-1) for p in md.parameters()]).numpy()
    # parameters() and state_dict() agree on the order of learnables.
    md.load_state_dict(init_state)
    opt = torch.optim.SGD(md.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(md(inp.double()), lab).backward()
        opt.step()
    with torch.no_grad():
        loss3 = F.cross_entropy(md(inp.double()), lab).item()
    x3 = flat(md, False).float()

    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    if extra is not None:
        # PyTorch's own float32 error per tensor: some tensors' gradients are
        # sums of many cancelling terms (3x3 convs over 16k positions), where
        # any float32 engine is ~1e-4 off; the test allows a multiple of it.
        m32.train()
        m32.zero_grad()
        F.cross_entropy(m32(inp), lab).backward()
        err, o = [], 0
        for p32 in m32.parameters():
            g32 = p32.grad.reshape(-1).double().numpy()
            ref = grad[o:o + g32.size]
            o += g32.size
            err.append(np.linalg.norm(g32 - ref) / max(np.linalg.norm(ref), 1e-300))
        np.save(os.path.join(d, "t32err.npy"), np.array(err, dtype=np.float64))
        g32 = torch.cat([p32.grad.reshape(-1) for p32 in m32.parameters()]).double().numpy()
        np.save(os.path.join(d, "t32all.npy"),
                np.array([np.linalg.norm(g32 - grad) / np.linalg.norm(grad)], dtype=np.float64))
    np.save(os.path.join(d, "x.npy"), x32.numpy())
    np.save(os.path.join(d, "buffers.npy"), b32.numpy())
    np.save(os.path.join(d, "input.npy"), inp.numpy())
    np.save(os.path.join(d, "labels.npy"), lab.numpy().astype(np.int32))
    np.save(os.path.join(d, "grad.npy"), grad.astype(np.float64))
    np.save(os.path.join(d, "ref.npy"), np.array([loss.item(), loss_eval, loss3, correct], dtype=np.float64))
    np.save(os.path.join(d, "x3.npy"), x3.numpy())
    with open(os.path.join(d, "names.txt"), "w") as f:
        for nm, shp in names(model):
            f.write("%s %s\n" % (nm, "x".join(str(s) for s in shp)))
    with open(os.path.join(d, "spec.json"), "w") as f:
        json.dump(dict({"spec": spec, "input": list(in_shape), "classes": classes, "n": n,
                        "torch": torch.__version__}, **(extra or {})), f)
    print(name, spec, "p =", x32.numel(), "loss =", loss.item(), "eval =", loss_eval, "after 3 =", loss3)


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "torch")
    only = set(sys.argv[2:])
    torch.set_num_threads(2)
    for name, spec, in_shape, classes, n, seed in [
            ("resnet_n1w4", "resnet:n=1,w=4", (3, 16, 16), 10, 8, 1),
            ("resnet_n2w4A", "resnet:n=2,w=4,shortcut=A", (3, 16, 16), 10, 8, 2),
            ("resnet34_w2", "resnet34:w=2", (1, 16, 16), 5, 6, 3),
            ("densenet_d16k4", "densenet:depth=16,k=4", (3, 16, 16), 10, 8, 4)]:
        if not only or name in only:
            make(outdir, name, spec, build(spec, in_shape[0], classes), in_shape, classes, n, seed)
    # Large enough to expose what the small ones cannot (issue 14: a gradient
    # error reported at DenseNet-40 32x32 batch 16 that the 16x16 batch 8
    # fixture did not show): several seeds, 32x32, batch 16 and 128.
    for name, spec, in_shape, classes, n, seed in [
            ("densenet_d40k4_a", "densenet:depth=40,k=4", (3, 32, 32), 10, 16, 1),
            ("densenet_d40k4_b", "densenet:depth=40,k=4", (3, 32, 32), 10, 16, 101),
            ("densenet_d40k4_c", "densenet:depth=40,k=4", (3, 32, 32), 10, 16, 201),
            ("resnet_n1w8_b128", "resnet:n=1,w=8", (3, 32, 32), 10, 128, 301),
            # issue 12: ResNet-20's first stage (3 -> 16 and 16 -> 16 at
            # 32x32), batch 128, where long float32 sums in the direct
            # kernels lost precision (t32all.npy: PyTorch float32's error)
            ("resnet_n1w16_b128", "resnet:n=1,w=16", (3, 32, 32), 10, 128, 401)]:
        if only and name not in only:
            continue
        model, inp, lab, info = conditioned(spec, in_shape, classes, n, seed)
        make(outdir, name, spec, model, in_shape, classes, n, info["seed"], lab, inp, info)


if __name__ == "__main__":
    main()
