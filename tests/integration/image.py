#!/usr/bin/env python3
"""Image checks for the display tests, with Python's own zlib and struct only.

  image.py png-pattern FILE.png W H    FILE is a PNG of exactly W x H showing
                                       exactly the test pattern
  image.py xwd-pattern FILE.xwd        an X window dump (xwd) shows the test
                                       pattern, scaled to the window and
                                       possibly letterboxed (samples the
                                       middle of each of its eight areas)
  image.py xwd-to-png FILE.xwd OUT.png converts a window dump to a PNG
  image.py keys FILE.b64               prints the EV_KEY events (code value)
                                       of base64 struct input_event records

The test pattern (drawn by display_guest.sh): four horizontal bands, the
last one taking the rows left over; in each band the left half (x < W/2)
has one colour and the right half another.
"""
import base64
import struct
import sys
import zlib

BANDS = [(0xff0000, 0x00ff00), (0x0000ff, 0xffffff), (0xffff00, 0x00ffff), (0xff00ff, 0x808080)]


def expected(x, y, w, h):
    band = min(y // (h // 4), 3)
    return BANDS[band][0 if x < w // 2 else 1]


def rgb(c):
    return (c >> 16 & 255, c >> 8 & 255, c & 255)


def read_png(path):
    """Decodes an 8-bit RGB or RGBA PNG, checking every chunk's CRC."""
    data = open(path, 'rb').read()
    if data[:8] != b'\x89PNG\r\n\x1a\n':
        sys.exit(f'{path}: not a PNG signature')
    pos, idat, ihdr = 8, b'', None
    while pos < len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc, = struct.unpack('>I', data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            sys.exit(f'{path}: bad CRC in {kind!r}')
        if kind == b'IHDR':
            ihdr = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            idat += body
        elif kind == b'IEND':
            break
        pos += 12 + length
    w, h, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        sys.exit(f'{path}: unsupported PNG (depth {depth}, type {ctype})')
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    if len(raw) != h * (stride + 1):
        sys.exit(f'{path}: {len(raw)} bytes of image data for {w}x{h}')
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 2:
            line = bytearray((u + v) & 255 for u, v in zip(line, prev))
        elif f in (1, 3, 4):
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                if f == 1:
                    line[i] = (line[i] + a) & 255
                elif f == 3:
                    line[i] = (line[i] + (a + b) // 2) & 255
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        elif f != 0:
            sys.exit(f'{path}: bad filter {f} in row {y}')
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def png_pattern(path, w, h):
    pw, ph, bpp, rows = read_png(path)
    if (pw, ph) != (w, h):
        sys.exit(f'{path}: {pw}x{ph}, expected {w}x{h}')
    bad = 0
    for y in range(h):
        row = rows[y]
        if bpp == 4:
            row = b''.join(row[i:i + 3] for i in range(0, len(row), 4))
        left, right = bytes(rgb(expected(0, y, w, h))), bytes(rgb(expected(w - 1, y, w, h)))
        want = left * (w // 2) + right * (w - w // 2)
        if row != want:
            x = next(i for i in range(w) if row[i * 3:i * 3 + 3] != want[i * 3:i * 3 + 3])
            if bad < 5:
                print(f'row {y}: pixel {x} is {tuple(row[x * 3:x * 3 + 3])}, '
                      f'expected {tuple(want[x * 3:x * 3 + 3])}')
            bad += 1
    if bad:
        sys.exit(f'{path}: {bad} of {h} rows differ from the pattern')
    print(f'{path}: {w}x{h}, exactly the pattern')


def read_xwd(path):
    """Decodes a ZPixmap X window dump of 24 or 32 bits per pixel into RGB rows."""
    data = open(path, 'rb').read()
    hdr = struct.unpack('>25I', data[:100])
    header_size, version, fmt, depth, w, h = hdr[0], hdr[1], hdr[2], hdr[3], hdr[4], hdr[5]
    byte_order, bpp, line_bytes, ncolors = hdr[7], hdr[11], hdr[12], hdr[19]
    red_mask, green_mask, blue_mask = hdr[14], hdr[15], hdr[16]
    if version != 7 or fmt != 2 or bpp not in (24, 32):
        sys.exit(f'{path}: unsupported xwd (version {version}, format {fmt}, {bpp} bpp)')
    pixels = data[header_size + 12 * ncolors:]
    order = '<' if byte_order == 0 else '>'
    step = bpp // 8

    def shift(mask):
        s = 0
        while mask and not mask >> s & 1:
            s += 1
        return s

    shifts = [shift(m) for m in (red_mask, green_mask, blue_mask)]
    rows = []
    for y in range(h):
        line = pixels[y * line_bytes:y * line_bytes + w * step]
        out = bytearray()
        for x in range(w):
            chunk = line[x * step:x * step + step]
            v = int.from_bytes(chunk, 'little' if order == '<' else 'big')
            out += bytes((v >> s) & 255 for s in shifts)
        rows.append(bytes(out))
    del depth
    return w, h, rows


def xwd_pattern(path):
    w, h, rows = read_xwd(path)
    # The picture keeps the 1280x800 aspect ratio, centred with black bars.
    sw, sh = (w, w * 800 // 1280) if w * 800 <= h * 1280 else (h * 1280 // 800, h)
    ox, oy = (w - sw) // 2, (h - sh) // 2
    bad = []
    for band in range(4):
        for half in range(2):
            x = ox + sw * (1 + 2 * half) // 4
            y = oy + sh * (1 + 2 * band) // 8
            got = tuple(rows[y][x * 3:x * 3 + 3])
            want = rgb(BANDS[band][half])
            if any(abs(g - e) > 8 for g, e in zip(got, want)):
                bad.append(f'({x},{y}) is {got}, expected {want}')
    if bad:
        sys.exit(f'{path} ({w}x{h}): ' + '; '.join(bad))
    print(f'{path}: {w}x{h} window shows the pattern')


def write_png(path, w, h, rows):
    def chunk(kind, body):
        return struct.pack('>I', len(body)) + kind + body + struct.pack('>I', zlib.crc32(kind + body))
    raw = b''.join(b'\0' + r for r in rows)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)) +
                chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b''))


def keys(path):
    data = base64.b64decode(open(path, 'rb').read())
    for i in range(0, len(data) - 23, 24):
        _, _, kind, code, value = struct.unpack('<qqHHi', data[i:i + 24])
        if kind == 1:
            print(code, value)


def main(argv):
    if len(argv) == 5 and argv[1] == 'png-pattern':
        png_pattern(argv[2], int(argv[3]), int(argv[4]))
    elif len(argv) == 3 and argv[1] == 'xwd-pattern':
        xwd_pattern(argv[2])
    elif len(argv) == 4 and argv[1] == 'xwd-to-png':
        w, h, rows = read_xwd(argv[2])
        write_png(argv[3], w, h, rows)
    elif len(argv) == 3 and argv[1] == 'keys':
        keys(argv[2])
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main(sys.argv)
