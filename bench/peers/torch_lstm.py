"""PyTorch CPU baselines for nabla's LSTM workloads (bench/workloads lstm,
lstm_seq).

--task lm (default): a character-level language model: token ids [32, 64]
    (vocab 96, synthetic seeded walks: next = 5·t + 1 + r mod 96, r uniform
    in 0..3) → nn.Embedding(96, 64) → nn.LSTM(64, 128, batch_first=True)
    → nn.Linear(128, 96) at every step; cross-entropy over all 32·64
    predictions; plain SGD lr 0.5; --steps S (100, one "epoch"), batches
    drawn before the clock starts.
--task seq: Fashion-MNIST row by row (28 steps of 28 pixels) →
    nn.LSTM(28, 128, batch_first=True) → the last state → nn.Linear(128, 10);
    Adam lr 0.002, gradient norm clipped to 5, batch 64, shuffled.
    /usr/bin/python3 torch_lstm.py --threads 1 [--task lm|seq] [--limit N]
Last line: lstm threads=N epoch_s=... steps_per_s=... final_loss=... cpu_s=...
       or: lstm_seq threads=N epoch_s=... test_acc=... steps_per_s=... cpu_s=...
(cpu_s: the process's CPU time in the training loop, steadier than wall
time on a loaded machine.)
"""
import argparse
import sys
import time

from common import parse_args, train_and_test

pre = argparse.ArgumentParser(add_help=False)
pre.add_argument("--task", choices=["lm", "seq"], default="lm")
task, rest = pre.parse_known_args()
sys.argv[1:] = rest
if task.task == "lm":
    args = parse_args(__doc__, steps=100, batch=32, lr=0.5, momentum=0.0)
else:
    args = parse_args(__doc__, batch=64, lr=0.002, momentum=0.0)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

VOCAB, SEQ, EMBED, HIDDEN = 96, 64, 64, 128


class CharLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.lstm = nn.LSTM(EMBED, HIDDEN, batch_first=True)
        self.logits = nn.Linear(HIDDEN, VOCAB)

    def forward(self, x):
        h, _ = self.lstm(self.embed(x))
        return self.logits(h)


class RowLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(28, HIDDEN, batch_first=True)
        self.logits = nn.Linear(HIDDEN, 10)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return self.logits(h[-1])


def walks(gen, rows):
    """rows × (SEQ + 1) tokens: x the first SEQ of each row, y the last."""
    tok = torch.randint(VOCAB, (rows,), generator=gen)
    r = torch.randint(4, (rows, SEQ), generator=gen)
    cols = [tok]
    for t in range(SEQ):
        tok = (5 * tok + 1 + r[:, t]) % VOCAB
        cols.append(tok)
    s = torch.stack(cols, dim=1)
    return s[:, :SEQ], s[:, 1:]


def lm():
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = CharLM()
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    ce = nn.CrossEntropyLoss()
    x, y = walks(torch.Generator().manual_seed(args.seed + 11), args.steps * args.batch)
    model.train()
    t0, c0 = time.perf_counter(), time.process_time()
    for s in range(args.steps):
        xb, yb = x[s * args.batch:(s + 1) * args.batch], y[s * args.batch:(s + 1) * args.batch]
        opt.zero_grad(set_to_none=True)
        loss = ce(model(xb).reshape(-1, VOCAB), yb.reshape(-1))
        loss.backward()
        opt.step()
        if s == 0:
            first = loss.item()
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"# lstm: torch {torch.__version__} batch {args.batch}, sequence {SEQ}, "
          f"steps={args.steps} s={dt:.3f} first_loss={first:.4f}")
    print(f"lstm threads={args.threads} epoch_s={dt:.3f} steps_per_s={args.steps / dt:.2f} "
          f"final_loss={loss.item():.4f} cpu_s={cpu:.3f}")


if task.task == "lm":
    lm()
else:
    train_and_test("lstm_seq", RowLSTM, args, image_shape=(28, 28),
                   make_opt=lambda p: torch.optim.Adam(p, lr=args.lr), clip=5.0)
