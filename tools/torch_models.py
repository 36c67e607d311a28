"""PyTorch modules with the same layer order, tensor names and state_dict order
as sgdscape's C engine (src/nn/models.c): the reference for the PyTorch
fixtures (tools/torch_fixtures.py, tools/torch_hvp_fixtures.py) and the peer in the training benchmark
(bench/nn_bench.py). One definition, so both compare against the same nets.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride, option_a):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.option_a = False
        self.pad = 0
        self.stride = stride
        if stride != 1 or cin != cout:
            if option_a:
                self.option_a = True
                self.pad = (cout - cin) // 2
            else:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False),
                                              nn.BatchNorm2d(cout))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        if hasattr(self, "shortcut"):
            s = self.shortcut(x)
        elif self.option_a:
            s = F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, self.pad, self.pad))
        else:
            s = x
        return F.relu(h + s)


class ResNet(nn.Module):
    def __init__(self, cin, blocks, w, classes, option_a=False):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, w, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        c = w
        for st, nb in enumerate(blocks):
            layers = []
            for i in range(nb):
                stride = 2 if (st > 0 and i == 0) else 1
                layers.append(Block(c, w << st, stride, option_a))
                c = w << st
            setattr(self, "layer%d" % (st + 1), nn.Sequential(*layers))
        self.nstages = len(blocks)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for st in range(self.nstages):
            x = getattr(self, "layer%d" % (st + 1))(x)
        return self.fc(x.mean((2, 3)))


class Bottleneck(nn.Module):
    def __init__(self, cin, k):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, 4 * k, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * k)
        self.conv2 = nn.Conv2d(4 * k, k, 3, 1, 1, bias=False)

    def forward(self, x):
        h = self.conv1(F.relu(self.bn1(x)))
        h = self.conv2(F.relu(self.bn2(h)))
        return torch.cat([x, h], 1)   # old features first, as the C engine


class Transition(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.bn = nn.BatchNorm2d(cin)
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)


class DenseNet(nn.Module):
    def __init__(self, cin, depth, k, classes, reduction=0.5):
        super().__init__()
        nl = (depth - 4) // 6
        c = 2 * k
        self.conv1 = nn.Conv2d(cin, c, 3, 1, 1, bias=False)
        for d in range(3):
            setattr(self, "dense%d" % (d + 1), nn.Sequential(*[Bottleneck(c + i * k, k) for i in range(nl)]))
            c += nl * k
            if d < 2:
                co = int(reduction * c)
                setattr(self, "trans%d" % (d + 1), Transition(c, co))
                c = co
        self.bn = nn.BatchNorm2d(c)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        x = self.conv1(x)
        x = self.trans1(self.dense1(x))
        x = self.trans2(self.dense2(x))
        x = self.dense3(x)
        return self.fc(F.relu(self.bn(x)).mean((2, 3)))


class MLP(nn.Module):
    def __init__(self, nin, w, d, classes):
        super().__init__()
        self.d = d
        c = nin
        for i in range(d):
            setattr(self, "fc%d" % (i + 1), nn.Linear(c, w))
            c = w
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        x = x.flatten(1)
        for i in range(self.d):
            x = F.relu(getattr(self, "fc%d" % (i + 1))(x))
        return self.fc(x)


class ConvNet(nn.Module):
    def __init__(self, cin, w, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, w, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.conv2 = nn.Conv2d(w, 2 * w, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * w)
        self.conv3 = nn.Conv2d(2 * w, 4 * w, 3, 1, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * w)
        self.fc = nn.Linear(4 * w, classes)

    def forward(self, x):
        x = F.avg_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.avg_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = F.relu(self.bn3(self.conv3(x)))
        return self.fc(x.mean((2, 3)))


CIFAR_N = {"resnet20": 3, "resnet32": 5, "resnet44": 7, "resnet56": 9, "resnet110": 18}


def build(spec, cin=3, classes=10, hw=(32, 32)):
    """The PyTorch module for an sgdscape model spec (include/sgdscape/nn.h);
    hw: the input's height and width (the MLP's input size)."""
    name, _, rest = spec.partition(":")
    kv = {}
    for item in filter(None, rest.split(",")):
        key, eq, val = item.partition("=")
        if not eq:
            raise SystemExit("torch_models.py: bad spec parameter '%s'" % item)
        kv[key] = val
    if name in CIFAR_N or name == "resnet":
        n = int(kv.pop("n", CIFAR_N.get(name, 3)))
        w = int(kv.pop("w", 16))
        option_a = kv.pop("shortcut", "B") == "A"
        model = ResNet(cin, [n, n, n], w, classes, option_a)
    elif name == "resnet34":
        w = int(kv.pop("w", 16))
        option_a = kv.pop("shortcut", "B") == "A"
        model = ResNet(cin, [3, 4, 6, 3], w, classes, option_a)
    elif name == "densenet":
        depth = int(kv.pop("depth", 100))
        k = int(kv.pop("k", 12))
        red = float(kv.pop("reduction", 0.5))
        model = DenseNet(cin, depth, k, classes, red)
    elif name == "mlp":
        model = MLP(cin * hw[0] * hw[1], int(kv.pop("w", 128)), int(kv.pop("d", 2)), classes)
    elif name == "convnet":
        model = ConvNet(cin, int(kv.pop("w", 16)), classes)
    else:
        raise SystemExit("torch_models.py: no PyTorch equivalent for model '%s'" % name)
    if kv:
        raise SystemExit("torch_models.py: unknown parameters %s for %s" % (sorted(kv), name))
    return model
