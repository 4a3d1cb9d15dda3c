"""A folder of generated images of four coloured shapes, as a new user's own data would look.

    .venv/bin/python benchmarks/shape_folder.py OUT_FOLDER [--count 1000] [--seed 0]

Class subfolders circle/, square/, triangle/, star/ of one shape each, in a
random colour on a noisy background of another, at a random place and size,
upright (`--rotated` turns them by random angles);
images of mixed sizes (48-160 px a side, not square) and formats: grey,
RGB and RGBA PNGs, and RGB JPEGs. The issue "Defaults that learn" was
reported on such a folder (chance is 0.25).
"""

import argparse
import math
import pathlib

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASSES = ("circle", "square", "triangle", "star")


def _polygon(kind, cx, cy, r, turn):
    if kind == "square":
        corners = 4
        return [
            (
                cx + r * math.cos(turn + math.pi / 4 + k * 2 * math.pi / corners),
                cy + r * math.sin(turn + math.pi / 4 + k * 2 * math.pi / corners),
            )
            for k in range(corners)
        ]
    if kind == "triangle":
        return [
            (cx + r * math.cos(turn + k * 2 * math.pi / 3), cy + r * math.sin(turn + k * 2 * math.pi / 3))
            for k in range(3)
        ]
    points = []  # a five-pointed star: outer and inner radius alternate
    for k in range(10):
        radius = r if k % 2 == 0 else r * 0.45
        points.append((cx + radius * math.cos(turn + k * math.pi / 5), cy + radius * math.sin(turn + k * math.pi / 5)))
    return points


def shape_image(kind, rng, rotated=False):
    """One PIL image of `kind`, in a random mode (L, RGB, RGBA) and size; upright unless `rotated`."""
    width, height = (int(v) for v in rng.integers(48, 161, size=2))
    background = rng.integers(0, 256, 3)
    noise = rng.normal(0, rng.uniform(10, 40), size=(height, width, 3))
    pixels = np.clip(background + noise, 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB").filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.2)))
    colour = rng.integers(0, 256, 3)
    while np.abs(colour.astype(int) - background.astype(int)).sum() < 150:  # the shape must stand out
        colour = rng.integers(0, 256, 3)
    side = min(width, height)
    r = rng.uniform(0.18, 0.4) * side
    cx, cy = rng.uniform(r, width - r), rng.uniform(r, height - r)
    draw = ImageDraw.Draw(image)
    fill = tuple(int(c) for c in colour)
    if kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    else:
        turn = rng.uniform(0, 2 * math.pi) if rotated else (0 if kind == "square" else -math.pi / 2)
        draw.polygon(_polygon(kind, cx, cy, r, turn), fill=fill)
    mode = rng.choice(["L", "RGB", "RGBA", "JPEG"], p=[0.2, 0.35, 0.15, 0.3])
    if mode == "JPEG":
        return image, "jpg"
    return image.convert(str(mode)), "png"


def write_shape_folder(root, count=1000, seed=0, rotated=False):
    """Writes `count` images (a quarter of each class) under `root`/<class>/; returns `root`.

    Shapes stand upright (a square's sides level, a triangle and a star point up) unless
    `rotated`, which turns each by a random angle: a harder task (see RESULTS.md).
    """
    root = pathlib.Path(root)
    rng = np.random.default_rng(seed)
    for i in range(count):
        kind = CLASSES[i % len(CLASSES)]
        image, extension = shape_image(kind, rng, rotated)
        (root / kind).mkdir(parents=True, exist_ok=True)
        image.save(root / kind / f"{kind}_{i:05d}.{extension}", quality=90)
    return root


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rotated", action="store_true", help="turn each shape by a random angle")
    args = parser.parse_args()
    print(write_shape_folder(args.out, args.count, args.seed, args.rotated))
