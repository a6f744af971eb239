#!/usr/bin/python3
"""torchaudio's MFCC on one thread, timed like MLNetAudio.Benchmarks --quick, on the same audio and settings.

  --write-audio PATH : decode 30 s of a real track (frozen-bubble-data's Ogg, via torchaudio's sox backend),
                       down-mix to mono, resample to 22050 Hz and write float32 little-endian; synthesize if absent.
  --audio PATH       : time torchaudio.transforms.MFCC on that audio and print x real time.
Settings match MfccSegmenterOptions' defaults: n_fft 2048 (or --n-fft), hop 441 (20 ms), periodic Hann, center with zero
padding, 128 Slaney-scale bands with Slaney norm, power_to_db (amin 1e-10, top_db 80), 20 DCT-II ortho coefficients.
"""
import argparse
import os
import statistics
import time

import numpy as np
import torch
import torchaudio

RATE = 22050
TRACK = "/usr/share/games/frozen-bubble/snd/frozen-mainzik-1p.ogg"


def write_audio(path, seconds=30):
    if os.path.exists(TRACK):
        w, sr = torchaudio.load(TRACK, frame_offset=0, num_frames=int(seconds * 44100 * 1.1))
        w = torchaudio.functional.resample(w.mean(dim=0, keepdim=True), sr, RATE)[0, : seconds * RATE]
        x, source = w.numpy(), TRACK
    else:
        t = np.arange(seconds * RATE) / RATE
        x, source = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 1760 * t)), "synthetic"
    x.astype("<f4").tofile(path)
    print(f"wrote {len(x) / RATE:.2f} s from {source} to {path}")


def time_mfcc(path, repeats, n_fft):
    torch.set_num_threads(1)
    x = torch.from_numpy(np.fromfile(path, dtype="<f4"))
    mfcc = torchaudio.transforms.MFCC(
        sample_rate=RATE, n_mfcc=20, dct_type=2, norm="ortho", log_mels=False,
        melkwargs=dict(n_fft=n_fft, hop_length=441, center=True, pad_mode="constant", n_mels=128,
                       mel_scale="slaney", norm="slaney", power=2.0))
    with torch.no_grad():
        for _ in range(3):
            mfcc(x)
        times = []
        cpu0 = time.process_time()
        for _ in range(repeats):
            t0 = time.perf_counter()
            mfcc(x)
            times.append(time.perf_counter() - t0)
        cpu = (time.process_time() - cpu0) / repeats
    seconds = len(x) / RATE
    print(f"torchaudio {torchaudio.__version__} (torch {torch.__version__}), threads {torch.get_num_threads()}")
    print(f"torchaudio_x_realtime {seconds / statistics.median(times):.0f}")
    print(f"torchaudio_cpu_x_realtime {seconds / cpu:.0f}")


def time_decode(path, seconds, repeats, n_fft):
    """Decode (torchaudio.load, sox backend) + down-mix + resample to 22050 Hz + MFCC, like LoadAudio + SegmentMfcc."""
    torch.set_num_threads(1)
    info = torchaudio.info(path)
    frames = int(seconds * info.sample_rate)
    mfcc = torchaudio.transforms.MFCC(
        sample_rate=RATE, n_mfcc=20, dct_type=2, norm="ortho", log_mels=False,
        melkwargs=dict(n_fft=n_fft, hop_length=441, center=True, pad_mode="constant", n_mels=128,
                       mel_scale="slaney", norm="slaney", power=2.0))

    def decode():
        w, sr = torchaudio.load(path, frame_offset=0, num_frames=frames)
        return torchaudio.functional.resample(w.mean(dim=0), sr, RATE)

    def both():
        return mfcc(decode())

    def median_time(f):
        for _ in range(2):
            f()
        times = []
        cpu0 = time.process_time()
        for _ in range(repeats):
            t0 = time.perf_counter()
            f()
            times.append(time.perf_counter() - t0)
        return statistics.median(times), (time.process_time() - cpu0) / repeats

    with torch.no_grad():
        d, dc = median_time(decode)
        b, bc = median_time(both)
    audio_seconds = frames / info.sample_rate
    print(f"torchaudio {torchaudio.__version__}: {audio_seconds:.2f} s of {path}, threads {torch.get_num_threads()}")
    print(f"torchaudio_decode_x_realtime {audio_seconds / d:.0f} (cpu {audio_seconds / dc:.0f})")
    print(f"torchaudio_decode_mfcc_x_realtime {audio_seconds / b:.0f} (cpu {audio_seconds / bc:.0f})")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--write-audio")
    p.add_argument("--audio")
    p.add_argument("--decode", help="a real audio file: time decode + resample + MFCC")
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--repeats", type=int, default=21)
    p.add_argument("--n-fft", type=int, default=2048)
    a = p.parse_args()
    if a.write_audio:
        write_audio(a.write_audio)
    if a.audio:
        time_mfcc(a.audio, a.repeats, a.n_fft)
    if a.decode:
        time_decode(a.decode, a.seconds, min(a.repeats, 5), a.n_fft)
