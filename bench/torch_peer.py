"""PyTorch peer for `npm run bench`: the zoo models in PyTorch, timed like bench/backends.ts.

A benchmark peer only, never a dependency. Debian: apt-get install python3-torch libopenblas0-pthread
(Debian's torch is for /usr/bin/python3; without OpenBLAS its BLAS is the slow reference one).

    /usr/bin/python3 bench/torch_peer.py THREADS BATCH SECONDS MODEL[,MODEL...]

BATCH is every model's but tabular-mlp's (120 features, 2 classes), which runs at 256.

Prints one JSON object per model and mode: {"model","mode","batch","threads","ex_per_s","runs"},
then {"torch": version, "openblas": bool}.
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

threads, default_batch, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
models = sys.argv[4].split(",")
torch.set_num_threads(threads)
torch.manual_seed(0)
TEXT_LEN, VOCAB = 100, 20000


class TextCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 64)
        self.conv = nn.Conv1d(64, 128, 5)
        self.fc = nn.Linear(128, 2)

    def body(self, e):  # e: [batch, length, 64], the embedded tokens
        return self.fc(F.relu(self.conv(e.transpose(1, 2))).amax(dim=2))

    def forward(self, ids):
        return self.body(self.emb(ids))


def build(name):
    if name == "mnist-small":
        return nn.Sequential(nn.Conv2d(1, 16, 4, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 4, 2, 1), nn.ReLU(),
                             nn.Flatten(), nn.Linear(1568, 100), nn.ReLU(), nn.Linear(100, 10))
    if name == "madry-cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(3136, 1024), nn.ReLU(), nn.Linear(1024, 10))
    if name == "trades-smallcnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(32, 64, 3), nn.ReLU(), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(1024, 200), nn.ReLU(), nn.Dropout(0.5),
                             nn.Linear(200, 200), nn.ReLU(), nn.Linear(200, 10))
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                             nn.Linear(256, 10))
    if name == "tabular-mlp":  # bench/backends.ts: the zoo's mlp on 120 features, 2 classes, batch 256
        return nn.Sequential(nn.Linear(120, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 2))
    if name == "text-cnn":
        return TextCnn()
    raise SystemExit(f"unknown model {name}")


def time_it(fn):
    """Warm up once, then time single runs until the budget is spent (3 at least, 50 at most)."""
    fn()
    times, start = [], time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < seconds and len(times) < 50):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    n = len(times)
    return (times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2), n


for name in models:
    m = build(name)
    classes = 2 if name in ("text-cnn", "tabular-mlp") else 10
    batch = 256 if name == "tabular-mlp" else default_batch
    if name == "text-cnn":
        x = torch.randint(0, VOCAB, (batch, TEXT_LEN))
    elif name == "tabular-mlp":
        x = torch.rand(batch, 120)
    else:
        x = torch.rand(batch, 1, 28, 28)
    y = torch.randint(0, classes, (batch,))
    opt = torch.optim.Adam(m.parameters(), 0.0)  # lr 0, as bench/backends.ts: same work, weights stay put

    def train():
        m.train()
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        loss.item()

    def igrad():
        m.eval()
        if name == "text-cnn":  # gradient w.r.t. the embedded tokens, as in gradient-guided word attacks
            xi = m.emb(x).detach().requires_grad_(True)
            loss = F.cross_entropy(m.body(xi), y)
        else:
            xi = x.clone().requires_grad_(True)
            loss = F.cross_entropy(m(xi), y)
        g, = torch.autograd.grad(loss, xi)
        g.sum().item()

    for mode, fn in (("train", train), ("igrad", igrad)):
        secs, runs = time_it(fn)
        print(json.dumps({"model": name, "mode": mode, "batch": batch, "threads": threads,
                          "ex_per_s": batch / secs, "runs": runs}), flush=True)

# Debian's torch links the generic libblas.so.3; which BLAS that is shows in the mapped libraries.
with open("/proc/self/maps") as maps:
    openblas = "openblas" in maps.read().lower() or "OpenBLAS" in torch.__config__.show()
print(json.dumps({"torch": torch.__version__, "openblas": openblas}))
