#!/usr/bin/python3
"""PyTorch peer of the scorer's training step: the same network as MLNetAudio's TimeConvNetwork defaults
(3 x [conv along time, kernel 3, ReLU, max-pool 2], 16 channels, LSTM 64, Linear, BCE-with-logits, Adam 1e-3),
the same shapes (batch 32 x 400 frames x 40 coefficients), one thread, the same number of steps.

Usage: /usr/bin/python3 benchmarks/peer_torch_train.py [steps] [form]   form: conv2d (the seed's literal form) | conv1d
Prints the median milliseconds per Adam step."""
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
forms = [sys.argv[2]] if len(sys.argv) > 2 else ["conv2d", "conv1d"]
BATCH, FRAMES, COEFS, CH, LAYERS, HIDDEN = 32, 400, 40, 16, 3, 64


class Net(nn.Module):
    def __init__(self, form):
        super().__init__()
        self.form = form
        if form == "conv2d":
            # The seed's literal form: 2-D convolution over (coefficient x time) with kernel (1, 3).
            self.convs = nn.ModuleList(
                [nn.Conv2d(1 if i == 0 else CH, CH, (1, 3), padding=(0, 1)) for i in range(LAYERS)])
            features = CH * COEFS
        else:
            self.convs = nn.ModuleList(
                [nn.Conv1d(COEFS if i == 0 else CH, CH, 3, padding=1) for i in range(LAYERS)])
            features = CH
        self.lstm = nn.LSTM(features, HIDDEN, batch_first=True)
        self.output = nn.Linear(HIDDEN, 1)

    def forward(self, x):  # x: [batch, frames, coefficients]
        if self.form == "conv2d":
            h = x.transpose(1, 2).unsqueeze(1)
            for conv in self.convs:
                h = F.max_pool2d(F.relu(conv(h)), (1, 2))
            h = h.permute(0, 3, 1, 2).reshape(h.shape[0], h.shape[3], -1)
        else:
            h = x.transpose(1, 2)
            for conv in self.convs:
                h = F.max_pool1d(F.relu(conv(h)), 2)
            h = h.transpose(1, 2)
        seq, _ = self.lstm(h)
        return self.output(seq[:, -1]).squeeze(-1)


torch.manual_seed(1)
print(f"PyTorch {torch.__version__}, threads {torch.get_num_threads()}")
for form in forms:
    net = Net(form)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x = torch.randn(BATCH, FRAMES, COEFS)
    y = (torch.rand(BATCH) > 0.5).float()
    times = []
    for i in range(steps + 3):
        t = time.perf_counter()
        loss = F.binary_cross_entropy_with_logits(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 3:
            times.append((time.perf_counter() - t) * 1000)
    med = statistics.median(times)
    name = "Conv2dTimeOnly" if form == "conv2d" else "Conv1dAllCoefficients"
    print(f"train {name}: median {med:.2f} ms/step over {steps} steps (batch {BATCH} x {FRAMES} x {COEFS}), {BATCH / med * 1000:.0f} windows/s")
