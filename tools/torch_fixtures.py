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
The reference pass runs in float64 so the C float32 engine is compared with
an accurate value. Run: /usr/bin/python3 tools/torch_fixtures.py [OUTDIR]
"""
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


def make(outdir, name, spec, model, in_shape, classes, n, seed):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed + 1)
    # Non-trivial BN affine params and running stats.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(1 + 0.2 * torch.rand(m.running_var.shape, generator=g))
    x32 = flat(model, False).float()
    b32 = flat(model, True).float()
    inp = torch.randn((n,) + in_shape, generator=g).float()
    lab = torch.arange(n) % classes
    md = model.double()
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
        json.dump({"spec": spec, "input": list(in_shape), "classes": classes, "n": n,
                   "torch": torch.__version__}, f)
    print(name, spec, "p =", x32.numel(), "loss =", loss.item(), "eval =", loss_eval, "after 3 =", loss3)


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "torch")
    torch.set_num_threads(2)
    for name, spec, in_shape, classes, n, seed in [
            ("resnet_n1w4", "resnet:n=1,w=4", (3, 16, 16), 10, 8, 1),
            ("resnet_n2w4A", "resnet:n=2,w=4,shortcut=A", (3, 16, 16), 10, 8, 2),
            ("resnet34_w2", "resnet34:w=2", (1, 16, 16), 5, 6, 3),
            ("densenet_d16k4", "densenet:depth=16,k=4", (3, 16, 16), 10, 8, 4)]:
        make(outdir, name, spec, build(spec, in_shape[0], classes), in_shape, classes, n, seed)


if __name__ == "__main__":
    main()
