#!/usr/bin/env python3
"""Draws docs/watermark-difference.png: original, marked, and the luma difference amplified
20 times around mid-grey, side by side.

Usage (from the repository root; needs Pillow and NumPy):

    echo 0707070707070707070707070707070707070707070707070707070707070707 > /tmp/figure.key
    cargo run --release -- embed --input fixtures/images/astronaut.png \
        --output /tmp/astronaut-marked.png --payload 0123456789abcdef --key-file /tmp/figure.key
    python3 docs/tools/difference_figure.py fixtures/images/astronaut.png \
        /tmp/astronaut-marked.png docs/watermark-difference.png
"""

import sys

import numpy as np
from PIL import Image

AMPLIFY = 20.0
GAP = 10
# BT.601, as the engine's luma.
LUMA = np.array([0.299, 0.587, 0.114])


def main(original_path, marked_path, out_path):
    original = np.asarray(Image.open(original_path).convert("RGB"), dtype=np.float64)
    marked = np.asarray(Image.open(marked_path).convert("RGB"), dtype=np.float64)
    if original.shape != marked.shape:
        sys.exit("the two pictures differ in size")
    difference = (marked - original) @ LUMA
    amplified = np.clip(128.0 + AMPLIFY * difference, 0, 255)
    height, width, _ = original.shape
    canvas = np.full((height, 3 * width + 2 * GAP, 3), 255, dtype=np.uint8)
    canvas[:, :width] = original.astype(np.uint8)
    canvas[:, width + GAP : 2 * width + GAP] = marked.astype(np.uint8)
    canvas[:, 2 * (width + GAP) :] = amplified.astype(np.uint8)[:, :, None]
    Image.fromarray(canvas).save(out_path, optimize=True)
    rms = np.sqrt(np.mean(difference**2))
    print(f"{out_path}: luma RMS change {rms:.2f} grey levels")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
