#!/usr/bin/env bash
# Re-creates the FLAC, Ogg FLAC, Opus, AAC, AIFF and ADPCM fixtures from the repository's own clips
# (samples/data, CC0). Debian 12: apt-get install flac opus-tools ffmpeg (flac 1.4.2, opus-tools 0.2 with
# libopus 1.3.1, ffmpeg 5.1). Run from this folder: bash make_format_fixtures.sh
set -euo pipefail
D=../../../samples/data
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
q() { ffmpeg -v error -y "$@"; }
mono='aformat=sample_fmts=fltp:channel_layouts=mono'

# Sources: flute left, guitar right, 3 s at 44100 Hz after 0.3 s of silence (the silence gives CONSTANT subframes).
q -i $D/flute-melody.ogg -i $D/guitar-melody.ogg -filter_complex \
  "[0]atrim=0:3,adelay=300,aresample=44100,$mono[a];[1]atrim=0:3,adelay=300,aresample=44100,$mono[b];[a][b]amerge=inputs=2,atrim=0:3" \
  -c:a pcm_s16le $T/st16.wav
q -i $D/flute-melody.ogg -i $D/guitar-melody.ogg -filter_complex \
  "[0]atrim=0:3,adelay=300,aresample=44100,$mono[a];[1]atrim=0:3,adelay=300,aresample=44100,$mono[b];[a][b]amerge=inputs=2,atrim=0:3" \
  -c:a pcm_s24le $T/st24-full.wav
q -i $T/st24-full.wav -t 1.5 -c:a pcm_s24le $T/st24.wav
q -i $T/st24-full.wav -t 0.5 -c:a pcm_s32le $T/st32.wav
q -i $T/st16.wav -t 1 -c:a pcm_s24le $T/wasted24.wav
q -i $T/st16.wav -ac 1 -ar 22050 -c:a pcm_u8 $T/mono8.wav
q -i $T/st16.wav -t 1 -ac 1 -ar 22050 $T/mono16_1s.wav
q -i $T/st16.wav -t 2 -ac 1 -ar 11025 $T/mono16_11025.wav
# 0.5 s with right = 2 x left (left/side is cheapest), then 0.5 s of L, R = 0.6 flute +- 0.2 guitar (mid/side).
q -i $D/flute-melody.ogg -i $D/guitar-melody.ogg -filter_complex \
  "[0]aresample=44100,$mono,asplit=2[f1][f2];[1]aresample=44100,$mono[g];[f1]atrim=0:0.5,pan=stereo|c0=0.4*c0|c1=0.8*c0[p1];[f2]atrim=0.5:1,asetpts=PTS-STARTPTS[f3];[g]atrim=0.5:1,asetpts=PTS-STARTPTS[g3];[f3][g3]amerge=inputs=2,pan=stereo|c0=0.6*c0+0.2*c1|c1=0.6*c0-0.2*c1[p2];[p1][p2]concat=n=2:v=0:a=1" \
  -c:a pcm_s16le $T/modes.wav
q -f lavfi -i "anoisesrc=c=pink:a=0.9:d=0.25:r=44100:s=7" -c:a pcm_s24le $T/pink24.wav

f() { flac -s -f "$@" 2>/dev/null; }
f -8 -b 1152 -S 0.5s -o flac16-stereo-b1152-m.flac $T/st16.wav
f -8 -b 1152 -o flac16-stereo-modes.flac $T/modes.wav
f -5 -o flac24-stereo.flac $T/st24.wav
f -o flac24-wasted-bits.flac $T/wasted24.wav
f -5 -o flac24-pink-noise.flac $T/pink24.wav
f -o flac32-stereo.flac $T/st32.wav
f -b 4608 -o flac8-mono.flac $T/mono8.wav
f --lax -l 0 -b 576 --disable-constant-subframes -o flac16-fixed-only-b576.flac $T/st16.wav
f --lax -l 0 --disable-fixed-subframes --disable-constant-subframes -o flac16-verbatim.flac $T/mono16_1s.wav
f -b 200 -o flac16-11025-b200.flac $T/mono16_11025.wav
f --ogg -o oggflac16-mono.oga $T/mono16_1s.wav

opusenc --quiet --bitrate 64 $T/st16.wav opus-stereo.opus
q -i $T/st16.wav -t 1 -filter_complex "pan=5.1|FL=c0|FR=c1|FC=0.5*c0+0.5*c1|LFE=0.1*c0|BL=0.5*c0|BR=0.5*c1" -c:a pcm_s16le $T/six.wav
opusenc --quiet --bitrate 96 $T/six.wav opus-5.1.opus
q -i $T/six.wav -t 0.5 -c:a pcm_s16le $T/six05.wav
f -o flac16-5.1.flac $T/six05.wav
q -i $T/st16.wav -t 1 -ac 1 $T/mono44_1s.wav
opusenc --quiet --bitrate 48 $T/mono44_1s.wav $T/m.opus
python3 patch_opus_gain.py $T/m.opus opus-mono-gain-6db.opus 6

q -i $T/st16.wav -t 2 -c:a aac -b:a 64k aac-stereo.m4a
q -i $T/st16.wav -t 1 -ac 1 -ar 22050 -c:a pcm_s16be aiff-mono.aiff
q -i $T/st16.wav -t 1 -ar 22050 -c:a adpcm_ima_wav adpcm-ima-stereo.wav
