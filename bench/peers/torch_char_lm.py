"""PyTorch twin of examples/char_lm.c: the same character-level language
model trained the same way on the same text, for bench/char_lm.

Text: every plain file of /usr/share/games/fortunes (not .dat or .u8) in
name order, or one file (--data); the last 10 % held out. Ids: tab 1,
newline 2, ' '..'~' 3..97, any other byte 0 (vocabulary 98). Model:
nn.Embedding(98, 64) (N(0, 1), PyTorch's default and nabla's) →
nn.LSTM(64, 128, batch_first=True) (U(±1/√128), both defaults) →
nn.Linear(128, 98) with nabla's dense initialisation (Xavier uniform
weight, zero bias). Training: 32 streams over the training text, windows of
64, each window's final (h, c) detached and carried into the next, zero
states when the streams start over; mean cross-entropy of the 32·64 next
characters; Adam lr 0.002; gradient norm clipped to 5; --steps windows.
Held out: the same streams over the held-out text, the state carried,
the mean of the windows' mean cross-entropy in bits per character.

    /usr/bin/python3 torch_char_lm.py [--steps 2000] [--threads 1] [--data DIR|FILE]
Last line: char_lm threads=N steps=S train_s=... cpu_s=... bits_per_char=... final_loss=...
"""
import argparse
import math
import os
import sys
import time

from common import parse_args

pre = argparse.ArgumentParser(add_help=False)
pre.add_argument("--data", default="/usr/share/games/fortunes")
DATA, sys.argv[1:] = pre.parse_known_args()
DATA = DATA.data
args = parse_args(__doc__, steps=2000, batch=32, lr=0.002)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

VOCAB, EMBED, HIDDEN, WINDOW, CLIP = 98, 64, 128, 64, 5.0


def char_id(b):
    return 1 if b == 9 else 2 if b == 10 else 3 + b - 32 if 32 <= b <= 126 else 0


def load_text(path):
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path)
                       if not n.startswith(".") and not n.endswith(".dat")
                       and not n.endswith(".u8") and os.path.isfile(os.path.join(path, n)))
        data = b"".join(open(os.path.join(path, n), "rb").read() for n in names)
    else:
        data = open(path, "rb").read()
    table = bytes(char_id(b) for b in range(256))
    return torch.frombuffer(bytearray(data.translate(table)), dtype=torch.uint8).long()


class Streams:
    """B streams over ids: stream b reads ids[b·len .. (b+1)·len]."""

    def __init__(self, ids, batch, window):
        self.len = (len(ids) - 1) // batch
        self.windows = self.len // window
        if self.windows < 1:
            sys.exit(f"torch_char_lm: {len(ids)} characters are too few")
        rows = torch.stack([ids[b * self.len: b * self.len + self.len + 1] for b in range(batch)])
        self.rows, self.window = rows, window

    def get(self, w):
        a = w * self.window
        return self.rows[:, a: a + self.window], self.rows[:, a + 1: a + 1 + self.window]


class CharLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.lstm = nn.LSTM(EMBED, HIDDEN, batch_first=True)
        self.logits = nn.Linear(HIDDEN, VOCAB)
        nn.init.xavier_uniform_(self.logits.weight)
        nn.init.zeros_(self.logits.bias)

    def forward(self, x, state):
        h, state = self.lstm(self.embed(x), state)
        return self.logits(h), state


def zeros(batch):
    return (torch.zeros(1, batch, HIDDEN), torch.zeros(1, batch, HIDDEN))


def main():
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    ids = load_text(DATA)
    n = len(ids)
    n_train = n - n * 10 // 100
    train, held = Streams(ids[:n_train], args.batch, WINDOW), Streams(ids[n_train:], args.batch,
                                                                     WINDOW)
    model = CharLM()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    lossf = nn.CrossEntropyLoss()
    state = zeros(args.batch)
    t0, c0 = time.perf_counter(), time.process_time()
    for step in range(args.steps):
        w = step % train.windows
        if w == 0:
            state = zeros(args.batch)
        x, y = train.get(w)
        logits, state = model(x, state)
        state = tuple(s.detach() for s in state)
        loss = lossf(logits.reshape(-1, VOCAB), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        if (step + 1) % 100 == 0:
            print(f"step {step + 1:5d}  loss {loss.item():.4f}", flush=True)
    train_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    total, state = 0.0, zeros(args.batch)
    with torch.no_grad():
        for w in range(held.windows):
            x, y = held.get(w)
            logits, state = model(x, state)
            total += lossf(logits.reshape(-1, VOCAB), y.reshape(-1)).item()
    bits = total / held.windows / math.log(2)
    print(f"char_lm threads={args.threads} steps={args.steps} train_s={train_s:.2f} "
          f"cpu_s={cpu_s:.2f} bits_per_char={bits:.4f} final_loss={loss.item():.4f}")


main()
