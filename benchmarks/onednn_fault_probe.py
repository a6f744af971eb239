"""PyTorch's own float32 CPU layers against float64, the measurement that found issue 8's fault.

Run with the machine's python3 (PyTorch installed); set DNNL_MAX_CPU_ISA=AVX2 to look at the AVX2 code path.
Prints the worst relative error per case (max |float32 - float64| / max |float64|, 5 repeats on fresh inputs)
and how many cases exceed 1e-4. The library does not use these kernels (Scoring/TimeConvolution.cs); this is the
control that says whether a machine shows the fault at all.
"""
import os
import platform

import torch
import torch.nn.functional as F

torch.set_num_threads(int(os.environ.get("PROBE_THREADS", "1")))
bad = cases = 0


def relative(a, e):
    a = a.detach().double()
    e = e.detach()
    if not torch.isfinite(a).all():
        return float("inf")
    return ((a - e).abs().max() / e.abs().max().clamp_min(1e-12)).item()


def report(what, error):
    global bad, cases
    cases += 1
    bad += error > 1e-4
    print(f"{'WRONG' if error > 1e-4 else 'ok   '} {what}: {error:.2e}")


print(f"torch {torch.__version__}, {platform.machine()}, threads {torch.get_num_threads()}, "
      f"DNNL_MAX_CPU_ISA={os.environ.get('DNNL_MAX_CPU_ISA', '(unset)')}")
for channels in (1, 3, 8, 12, 20, 40, 48):
    for batch in (1, 2, 32):
        worst = [0.0, 0.0, 0.0, 0.0]
        for repeat in range(5):
            torch.manual_seed(repeat)
            w = torch.randn(16, channels, 3) * 0.2
            b = torch.randn(16) * 0.1
            x = torch.randn(batch, 400, channels).transpose(1, 2).requires_grad_()
            x64 = x.detach().double().requires_grad_()
            y = F.conv1d(x, w, b, padding=1)
            y64 = F.conv1d(x64, w.double(), b.double(), padding=1)
            g = torch.randn_like(y)
            (y * g).sum().backward()
            (y64 * g.double()).sum().backward()
            worst[0] = max(worst[0], relative(y, y64))
            worst[1] = max(worst[1], relative(x.grad, x64.grad))
            w2 = torch.randn(16, 1, 1, 3) * 0.2
            x2 = torch.randn(batch, 1, channels, 400).requires_grad_()
            x264 = x2.detach().double().requires_grad_()
            y2 = F.conv2d(x2, w2, b, padding=(0, 1))
            y264 = F.conv2d(x264, w2.double(), b.double(), padding=(0, 1))
            g2 = torch.randn_like(y2)
            (y2 * g2).sum().backward()
            (y264 * g2.double()).sum().backward()
            worst[2] = max(worst[2], relative(y2, y264))
            worst[3] = max(worst[3], relative(x2.grad, x264.grad))
        report(f"conv1d in {channels} batch {batch} forward", worst[0])
        report(f"conv1d in {channels} batch {batch} input grad", worst[1])
        report(f"conv2d (1, 3) rows {channels} batch {batch} forward", worst[2])
        report(f"conv2d (1, 3) rows {channels} batch {batch} input grad", worst[3])
for size in (20, 320, 640):
    worst = 0.0
    for repeat in range(5):
        torch.manual_seed(repeat)
        lstm = torch.nn.LSTM(size, 20, batch_first=True)
        lstm64 = torch.nn.LSTM(size, 20, batch_first=True).double()
        lstm64.load_state_dict(lstm.state_dict())
        x = torch.randn(32, 50, size)
        worst = max(worst, relative(lstm(x)[0], lstm64(x.double())[0]))
    report(f"LSTM in {size} batch 32 forward", worst)
print(f"PyTorch float32 layers: {bad} of {cases} cases off by more than 1e-4")
