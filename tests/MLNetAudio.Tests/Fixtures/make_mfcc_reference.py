#!/usr/bin/python3
"""Reference features for MfccSegmenter's parity tests, made with Debian's python3-torchaudio (0.13).

Run from this folder: /usr/bin/python3 make_mfcc_reference.py
Writes mfcc_reference/: two test signals (float32 little-endian), one float32 file per case (frame-major,
[frames, coefficients]) and cases.json with every pinned setting. The features are computed in float64 so
the reference is the definition itself, not one float32 rounding of it.
"""
import json
import os

import numpy as np
import torch
import torchaudio

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mfcc_reference")
SECONDS = 1.2


def signal(sr):
    """Two sines, a 100 Hz -> 6 kHz linear chirp, a slow tremolo and a faint uniform noise floor (LCG, so the
    spectrum has no bins far below the top_db floor where float32 noise would dominate)."""
    n = int(round(SECONDS * sr))
    t = np.arange(n, dtype=np.float64) / sr
    f0, f1 = 100.0, 6000.0
    chirp = np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * SECONDS)))
    state = 12345
    noise = np.empty(n)
    for i in range(n):
        state = (1103515245 * state + 12345) % 2**31
        noise[i] = state / 2**31 - 0.5
    x = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.25 * np.sin(2 * np.pi * 1234.5 * t + 0.3) + 0.2 * chirp + 0.02 * noise
    x *= 0.6 + 0.4 * np.sin(2 * np.pi * 1.3 * t)
    return x.astype(np.float32)


def mel_kwargs(c):
    return dict(n_fft=c["n_fft"], win_length=c["win_length"], hop_length=c["hop"], center=c["center"],
                pad_mode=c["pad_mode"], n_mels=c["n_mels"], mel_scale=c["mel_scale"], norm=c["norm"], power=2.0,
                f_min=c["f_min"], f_max=c["f_max"])


def compute(c, x):
    w = torch.from_numpy(x.astype(np.float64))
    if c["kind"] == "Mfcc":
        t = torchaudio.transforms.MFCC(sample_rate=c["sample_rate"], n_mfcc=c["n_mfcc"], dct_type=2, norm="ortho",
                                       log_mels=False, melkwargs=mel_kwargs(c))
        assert t.top_db == c["top_db"]
    elif c["kind"] == "LogMel":
        mel = torchaudio.transforms.MelSpectrogram(sample_rate=c["sample_rate"], **mel_kwargs(c))
        t = torch.nn.Sequential(mel, torchaudio.transforms.AmplitudeToDB("power", top_db=c["top_db"]))
    else:
        t = torchaudio.transforms.Spectrogram(n_fft=c["n_fft"], win_length=c["win_length"], hop_length=c["hop"],
                                              center=c["center"], pad_mode=c["pad_mode"], power=2.0)
    t = t.to(torch.float64)
    with torch.no_grad():
        y = t(w)  # [coefficients, frames]
    return y.T.contiguous().numpy().astype(np.float32)


def case(name, kind, sr, n_fft, hop, pad_mode, mel_scale, norm, n_mfcc, win_length=None, n_mels=128, f_min=0.0,
         f_max=None):
    return dict(name=name, kind=kind, sample_rate=sr, n_fft=n_fft, win_length=win_length or n_fft, hop=hop,
                center=True, pad_mode=pad_mode, n_mels=n_mels, mel_scale=mel_scale, norm=norm, n_mfcc=n_mfcc,
                f_min=f_min, f_max=f_max,
                amin=1e-10, top_db=80.0 if kind != "PowerSpectrogram" else None)


CASES = [
    case("torchaudio_mfcc", "Mfcc", 16000, 400, 200, "reflect", "htk", None, 40),
    case("librosa_mfcc", "Mfcc", 22050, 2048, 512, "constant", "slaney", "slaney", 20),
    case("default_mfcc", "Mfcc", 22050, 2048, 441, "constant", "slaney", "slaney", 20),
    case("default_logmel", "LogMel", 22050, 2048, 441, "constant", "slaney", "slaney", 20),
    case("power_512", "PowerSpectrogram", 22050, 512, 441, "constant", "slaney", "slaney", 0),
    case("logmel_htk_slaney_band", "LogMel", 22050, 1024, 256, "reflect", "htk", "slaney", 0, n_mels=64,
         f_min=50.0, f_max=8000.0),
    case("power_reflect_win400", "PowerSpectrogram", 16000, 512, 160, "reflect", "htk", None, 0, win_length=400),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    signals = {}
    for sr in sorted({c["sample_rate"] for c in CASES}):
        signals[sr] = signal(sr)
        signals[sr].astype("<f4").tofile(os.path.join(OUT, f"signal_{sr}.f32"))
    for c in CASES:
        y = compute(c, signals[c["sample_rate"]])
        y.astype("<f4").tofile(os.path.join(OUT, c["name"] + ".f32"))
        c["frames"], c["coefficients"] = int(y.shape[0]), int(y.shape[1])
        c["signal"] = f"signal_{c['sample_rate']}.f32"
    meta = dict(made_by=f"torch {torch.__version__}, torchaudio {torchaudio.__version__}", seconds=SECONDS, cases=CASES)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
