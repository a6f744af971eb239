#!/usr/bin/env python3
"""Renders the small built-in music catalog used by the samples (CC0: written for MLNetAudio).

Each clip is a melody written here as MIDI (by hand: no MIDI package is installed), rendered with
fluidsynth and the FluidR3_GM General MIDI soundfont (MIT), mixed down to mono 22050 Hz and encoded
as Ogg Vorbis. Needs: apt-get install fluidsynth fluid-soundfont-gm sox vorbis-tools.
Run from this folder:  python3 make_clips.py   (deterministic: random.Random(seed) per clip)
"""
import random, struct, subprocess, os, tempfile

SF2 = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
PENTA = [0, 2, 4, 7, 9]

def vlq(n):
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.insert(0, 0x80 | (n & 0x7F)); n >>= 7
    return bytes(out)

def midi(parts, tempo_bpm=100, tpq=480):
    """parts: list of (program, [(start_beat, length_beats, note, velocity)]) on channels 0..n."""
    events = []
    for ch, (program, notes) in enumerate(parts):
        events.append((0, bytes([0xC0 | ch, program])))
        for start, length, note, vel in notes:
            events.append((int(start * tpq), bytes([0x90 | ch, note, vel])))
            events.append((int((start + length) * tpq), bytes([0x80 | ch, note, 0])))
    events.sort(key=lambda e: (e[0], e[1][0] & 0xF0 == 0x90))
    track, t = bytearray(), 0
    us = int(60_000_000 / tempo_bpm)
    track += vlq(0) + bytes([0xFF, 0x51, 3]) + us.to_bytes(3, "big")
    for when, data in events:
        track += vlq(when - t) + data; t = when
    track += vlq(0) + bytes([0xFF, 0x2F, 0])
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, tpq) + b"MTrk" + struct.pack(">I", len(track)) + track

def melody(rng, root, beats, start=0.0, step=0.5):
    notes, b = [], start
    while b < start + beats:
        length = rng.choice([step, step, 2 * step])
        note = root + 12 * rng.choice([0, 0, 1]) + rng.choice(PENTA)
        notes.append((b, length * 0.95, note, rng.randint(70, 110)))
        b += length
    return notes

def chords(rng, root, beats, start=0.0):
    notes = []
    for bar in range(int(beats // 2)):
        r = root + rng.choice([0, 5, 7, 9])
        for iv in (0, 4, 7):
            notes.append((start + 2 * bar, 1.9, r + iv, 80))
    return notes

CLIPS = {  # name: (seed, builder); 40 beats at 100 bpm = 24 s
    "flute-melody":      (1, lambda r: [(73, melody(r, 72, 40))]),
    "guitar-melody":     (2, lambda r: [(24, melody(r, 55, 40))]),
    "piano-chords":      (3, lambda r: [(0, chords(r, 60, 40))]),
    "marimba-melody":    (4, lambda r: [(12, melody(r, 67, 40, step=0.25))]),
    "strings-then-flute":(5, lambda r: [(48, chords(r, 55, 20)), (73, melody(r, 72, 20, start=20))]),
    "flute-then-guitar": (6, lambda r: [(73, melody(r, 72, 20)), (24, melody(r, 55, 20, start=20))]),
}

for name, (seed, build) in CLIPS.items():
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        mid, wav, mono = (os.path.join(tmp, f) for f in ("a.mid", "a.wav", "m.wav"))
        open(mid, "wb").write(midi(build(rng)))
        subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.5", "-r", "22050", "-F", wav, SF2, mid], check=True)
        # Mono, 24 s exactly (fluidsynth runs past the last note).
        subprocess.run(["sox", wav, "-c", "1", mono, "trim", "0", "24"], check=True)
        subprocess.run(["oggenc", "-Q", "-q", "2", "-o", f"{name}.ogg", mono], check=True)
    print(name, os.path.getsize(f"{name}.ogg"), "bytes")
