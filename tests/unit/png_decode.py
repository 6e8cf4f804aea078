#!/usr/bin/env python3
"""An independent PNG decoder for test_png: zlib and struct only.

Usage: png_decode.py FILE.png EXPECTED.rgb WIDTH HEIGHT

Checks the signature, the chunk layout and every CRC, that IHDR says 8-bit
RGB with no interlace, that the IDATs inflate to exactly one zlib stream of
the right length, undoes the filters and compares the pixels with
EXPECTED.rgb (WIDTH * HEIGHT * 3 bytes, R G B, row after row). Exits 0 when
everything matches, 1 with one line on stderr saying what did not.
"""
import struct
import sys
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Bad(Exception):
    pass


def read_chunks(data):
    if data[:8] != SIGNATURE:
        raise Bad("bad signature %r" % data[:8])
    pos = 8
    chunks = []
    while pos < len(data):
        if pos + 12 > len(data):
            raise Bad("truncated chunk header at %d" % pos)
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        if length > 0x7FFFFFFF:
            raise Bad("chunk length %d over 2^31-1" % length)
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length or pos + 12 + length > len(data):
            raise Bad("chunk %r runs past the end of the file" % ctype)
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        want = zlib.crc32(ctype + body) & 0xFFFFFFFF
        if crc != want:
            raise Bad("chunk %r at %d: CRC %08x, want %08x" % (ctype, pos, crc, want))
        chunks.append((ctype, body))
        pos += 12 + length
        if ctype == b"IEND":
            break
    if pos != len(data):
        raise Bad("%d bytes after IEND" % (len(data) - pos))
    return chunks


def check_layout(chunks):
    types = [t for t, _ in chunks]
    if not types or types[0] != b"IHDR":
        raise Bad("first chunk is not IHDR: %r" % types[:1])
    if types[-1] != b"IEND" or chunks[-1][1]:
        raise Bad("last chunk is not an empty IEND")
    if types.count(b"IHDR") != 1 or types.count(b"IEND") != 1:
        raise Bad("IHDR or IEND more than once")
    idat = [i for i, t in enumerate(types) if t == b"IDAT"]
    if not idat:
        raise Bad("no IDAT")
    if idat != list(range(idat[0], idat[-1] + 1)):
        raise Bad("IDAT chunks are not consecutive")
    for t in types:
        if not (t[0] & 0x20) and t not in (b"IHDR", b"IDAT", b"IEND", b"PLTE"):
            raise Bad("unknown critical chunk %r" % t)
    return b"".join(chunks[i][1] for i in idat)


def parse_ihdr(body):
    if len(body) != 13:
        raise Bad("IHDR is %d bytes" % len(body))
    w, h, depth, ctype, comp, filt, inter = struct.unpack(">IIBBBBB", body)
    if (depth, ctype, comp, filt, inter) != (8, 2, 0, 0, 0):
        raise Bad("IHDR depth %d colour %d methods %d/%d/%d, want 8 2 0/0/0" %
                  (depth, ctype, comp, filt, inter))
    if not w or not h or w > 0x7FFFFFFF or h > 0x7FFFFFFF:
        raise Bad("IHDR size %dx%d" % (w, h))
    return w, h


def inflate(idat, expect_len):
    d = zlib.decompressobj()
    raw = d.decompress(idat)
    raw += d.flush()
    if not d.eof:
        raise Bad("the zlib stream does not end")
    if d.unused_data:
        raise Bad("%d bytes after the zlib stream" % len(d.unused_data))
    if len(raw) != expect_len:
        raise Bad("inflated %d bytes, want %d" % (len(raw), expect_len))
    return raw


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def unfilter(raw, w, h, used):
    stride = 3 * w
    out = bytearray(stride * h)
    prev = bytearray(stride)
    for y in range(h):
        ftype = raw[y * (stride + 1)]
        line = raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)]
        cur = bytearray(line)
        if ftype == 0:
            pass
        elif ftype == 1:
            for i in range(3, stride):
                cur[i] = (cur[i] + cur[i - 3]) & 0xFF
        elif ftype == 2:
            for i in range(stride):
                cur[i] = (cur[i] + prev[i]) & 0xFF
        elif ftype == 3:
            for i in range(stride):
                a = cur[i - 3] if i >= 3 else 0
                cur[i] = (cur[i] + ((a + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:
            for i in range(stride):
                a = cur[i - 3] if i >= 3 else 0
                c = prev[i - 3] if i >= 3 else 0
                cur[i] = (cur[i] + paeth(a, prev[i], c)) & 0xFF
        else:
            raise Bad("row %d: filter type %d" % (y, ftype))
        used[ftype] += 1
        out[y * stride:(y + 1) * stride] = cur
        prev = cur
    return bytes(out)


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    path, expected_path = sys.argv[1], sys.argv[2]
    want_w, want_h = int(sys.argv[3]), int(sys.argv[4])
    try:
        with open(path, "rb") as f:
            data = f.read()
        with open(expected_path, "rb") as f:
            expected = f.read()
        chunks = read_chunks(data)
        idat = check_layout(chunks)
        w, h = parse_ihdr(chunks[0][1])
        if (w, h) != (want_w, want_h):
            raise Bad("size %dx%d, want %dx%d" % (w, h, want_w, want_h))
        if len(expected) != 3 * w * h:
            raise Bad("expected file is %d bytes, want %d" % (len(expected), 3 * w * h))
        used = [0] * 5
        pixels = unfilter(inflate(idat, h * (3 * w + 1)), w, h, used)
        if pixels != expected:
            i = next(i for i in range(len(pixels)) if pixels[i] != expected[i])
            px = i // 3
            raise Bad("pixel (%d,%d) channel %d is %d, want %d" %
                      (px % w, px // w, i % 3, pixels[i], expected[i]))
    except (Bad, OSError, zlib.error) as e:
        print("png_decode: %s: %s" % (path, e), file=sys.stderr)
        return 1
    print("png_decode: %s: %dx%d ok, %d IDAT, rows by filter %s" %
          (path, w, h, sum(1 for t, _ in chunks if t == b"IDAT"), used))
    return 0


if __name__ == "__main__":
    sys.exit(main())
