"""The built-in detection set: generated images of circles, squares and triangles with exact boxes.

What `toolkit train object-detection` trains on with no data: no download, any size, and boxes that
are right by construction (each is the tight box of the pixels its shape painted), so a detector that
learns nothing cannot hide behind label noise. About a tenth of the images hold no shape (negatives).
"""

import numpy as np

CLASSES = ("circle", "square", "triangle")


def generated_shapes(count=600, size=96, seed=0, max_shapes=3):
    """`count` images (size x size RGB, uint8) with their boxes and labels.

    Returns:
        (images (count, size, size, 3) uint8, [(boxes (n, 4) float32 absolute [xmin, ymin, xmax, ymax],
        labels (n,) int32 indices into `CLASSES`)] per image).

    Examples:
        >>> images, targets = generated_shapes(20, size=64, seed=1)
        >>> images.shape, images.dtype, sorted({len(b) for b, _ in targets}) == [0, 1, 2, 3]
        ((20, 64, 64, 3), dtype('uint8'), True)
    """
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    images = np.zeros((count, size, size, 3), np.uint8)
    targets = []
    for i in range(count):
        background = rng.integers(0, 90, 3)
        noise = rng.integers(0, 40, (size, size, 3))
        canvas = Image.fromarray(np.clip(background + noise, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(canvas)
        shapes = 0 if rng.random() < 0.1 else int(rng.integers(1, max_shapes + 1))
        taken = np.zeros((size, size), bool)
        boxes, labels = [], []
        for _ in range(shapes):
            for _attempt in range(20):  # a place that does not overlap an earlier shape
                side = int(rng.integers(size // 6, size // 2.5))
                x0, y0 = (int(v) for v in rng.integers(0, size - side, 2))
                if not taken[y0 : y0 + side, x0 : x0 + side].any():
                    break
            else:
                continue
            taken[y0 : y0 + side, x0 : x0 + side] = True
            label = int(rng.integers(0, len(CLASSES)))
            colour = tuple(int(c) for c in rng.integers(130, 256, 3))
            mask = Image.new("L", (size, size), 0)
            pen = ImageDraw.Draw(mask)
            corners = (x0, y0, x0 + side - 1, y0 + side - 1)
            if CLASSES[label] == "circle":
                pen.ellipse(corners, fill=255)
            elif CLASSES[label] == "square":
                pen.rectangle(corners, fill=255)
            else:
                pen.polygon([(x0, y0 + side - 1), (x0 + side - 1, y0 + side - 1), (x0 + (side - 1) // 2, y0)], fill=255)
            draw.bitmap((0, 0), mask, fill=colour)
            ys, xs = np.nonzero(np.asarray(mask))
            boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])  # the painted pixels' tight box
            labels.append(label)
        images[i] = np.asarray(canvas)
        targets.append((np.array(boxes, np.float32).reshape(-1, 4), np.array(labels, np.int32)))
    return images, targets
