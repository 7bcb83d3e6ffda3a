#!/usr/bin/env python3
"""Write the small dataset fixtures under tests/fixtures/ (standard library only).

Re-run to regenerate them; the output is deterministic.

- imagefolder-jsonl/: nested folders, metadata.jsonl with `split` and `label` columns (the
                      label a name for warm/ rows, an integer for cool/ rows)
- imagefolder-csv/:   metadata.csv
- imagefolder-bad/:   a corrupt image, a row whose file is missing, an image without caption
- webdataset/:        two tar shards of {key}.png + {key}.txt, one key without caption
"""
import io
import json
import os
import struct
import tarfile
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")


def png(width, height, pixel):
    """An 8-bit RGB PNG whose pixel (x, y) is pixel(x, y) -> (r, g, b)."""
    raw = b"".join(
        b"\x00" + bytes(c for x in range(width) for c in pixel(x, y)) for y in range(height)
    )

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def solid(rgb, w=12, h=8):
    """A w x h image of one colour with a darker left column (so flips and crops show)."""
    return png(w, h, lambda x, y: tuple(c // 2 for c in rgb) if x == 0 else rgb)


COLORS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 90, 240),
          "yellow": (240, 225, 40), "white": (245, 245, 245), "purple": (160, 60, 210)}


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def imagefolder_jsonl():
    d = os.path.join(ROOT, "imagefolder-jsonl")
    rows = []
    for i, (name, rgb) in enumerate(COLORS.items()):
        rel = f"{'warm' if i % 2 == 0 else 'cool'}/{name}.png"
        write(os.path.join(d, rel), solid(rgb))
        rows.append({"file_name": rel, "text": f"a {name} square",
                     "split": "train" if i % 2 == 0 else "test",
                     "label": "warm" if i % 2 == 0 else 1})
    write(os.path.join(d, "metadata.jsonl"), "".join(json.dumps(r) + "\n" for r in rows).encode())


def imagefolder_csv():
    d = os.path.join(ROOT, "imagefolder-csv")
    lines = ["file_name,text"]
    for name, rgb in list(COLORS.items())[:4]:
        write(os.path.join(d, "img", f"{name}.png"), solid(rgb, 8, 8))
        lines.append(f'img/{name}.png,"a {name} square, plain"')
    write(os.path.join(d, "metadata.csv"), ("\n".join(lines) + "\n").encode())


def imagefolder_bad():
    d = os.path.join(ROOT, "imagefolder-bad")
    write(os.path.join(d, "good-1.png"), solid(COLORS["red"]))
    write(os.path.join(d, "good-2.png"), solid(COLORS["blue"]))
    write(os.path.join(d, "corrupt.png"), solid(COLORS["green"])[:40])  # truncated
    write(os.path.join(d, "no-caption.png"), solid(COLORS["white"]))
    rows = [
        {"file_name": "good-1.png", "text": "a red square"},
        {"file_name": "good-2.png", "text": "a blue square"},
        {"file_name": "corrupt.png", "text": "a green square"},
        {"file_name": "missing.png", "text": "an image that is not there"},
    ]
    write(os.path.join(d, "metadata.jsonl"), "".join(json.dumps(r) + "\n" for r in rows).encode())


def webdataset():
    d = os.path.join(ROOT, "webdataset")
    os.makedirs(d, exist_ok=True)
    names = list(COLORS.items())
    for shard in range(2):
        path = os.path.join(d, f"shard-{shard:04d}.tar")
        with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
            for k, (name, rgb) in enumerate(names[shard * 3:shard * 3 + 3]):
                key = f"{shard:04d}{k:04d}"
                members = [(f"{key}.png", solid(rgb, 10, 10))]
                if (shard, k) != (1, 2):  # the last sample has no caption
                    members.append((f"{key}.txt", f"a {name} square".encode()))
                for member, data in members:
                    info = tarfile.TarInfo(member)
                    info.size, info.mtime, info.mode = len(data), 0, 0o644
                    tar.addfile(info, io.BytesIO(data))


if __name__ == "__main__":
    imagefolder_jsonl()
    imagefolder_csv()
    imagefolder_bad()
    webdataset()
    print("fixtures written to", os.path.normpath(ROOT))
