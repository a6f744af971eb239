"""Sets the OpusHead output gain (Q7.8 dB) of an Ogg Opus file and rewrites the first page's CRC."""
import struct, sys

def crc(data):
    c = 0
    for b in data:
        c ^= b << 24
        for _ in range(8):
            c = ((c << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if c & 0x80000000 else (c << 1) & 0xFFFFFFFF
    return c

src, dst, gain_db = sys.argv[1], sys.argv[2], float(sys.argv[3])
b = bytearray(open(src, 'rb').read())
nseg = b[26]
head = 27 + nseg
assert b[head:head + 8] == b'OpusHead'
struct.pack_into('<h', b, head + 16, round(gain_db * 256))
plen = head + sum(b[27:27 + nseg])
b[22:26] = b'\0\0\0\0'
struct.pack_into('<I', b, 22, crc(b[:plen]))
open(dst, 'wb').write(b)
