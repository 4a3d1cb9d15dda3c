"""Detection's pictures: images with their labelled boxes drawn for the user, and the report's per-class
scores and test images with true and found boxes."""

import os

import numpy as np

from tasks.object_detection import data as detection_data
from toolkit import image_files, image_streams

DRAW_COLOURS = ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180))


def draw_detections(items, results, classes, folder, replace=False):
    """Writes `<name>_detections.png` per image: the image with each box, its label and score; returns the paths."""
    from PIL import Image, ImageDraw

    paths = [files["detections"] for files in image_streams.output_paths(items, folder, ["detections"], replace)]
    for item, found, path in zip(items, results, paths):
        canvas = Image.fromarray(read_rgb(item))
        pen = ImageDraw.Draw(canvas)
        line = max(2, round(max(canvas.size) / 200))
        for detection in found:
            colour = DRAW_COLOURS[classes.index(detection["label"]) % len(DRAW_COLOURS)]
            x0, y0, x1, y1 = detection["box"]
            pen.rectangle([x0, y0, x1, y1], outline=colour, width=line)
            text = f"{detection['label']} {detection['score']:.2f}"
            top = max(0, y0 - 12)
            pen.rectangle([x0, top, x0 + pen.textlength(text) + 4, top + 12], fill=colour)
            pen.text((x0 + 2, top), text, fill=(0, 0, 0))
        canvas.save(path)
    return [str(p) for p in paths]


def per_class(metrics):
    """Per-class AP, AP@0.5 and recall of the test split (else validation)."""
    from toolkit import figures

    split = "test" if (metrics or {}).get("test") else "validation"
    found = ((metrics or {}).get(split) or {}).get("per_class") or {}
    kept = {name: value for name, value in found.items() if value is not None}
    if not kept:
        return []
    return [(f"Per-class AP, AP@0.5 and recall ({split})", figures.per_class_figure(kept, ("ap", "ap_50", "recall")))]


def test_images(model, dataset, decode, threshold):
    """Test images with their true boxes (white) and the detections shown to a user (coloured by class)."""
    from PIL import Image, ImageDraw

    from toolkit import figures

    tiles, titles = [], []
    for images, boxes in dataset:
        decoded = decode(model(images, training=False), threshold)
        for i in range(len(images)):
            canvas = Image.fromarray(np.clip(images[i].numpy(), 0, 255).astype(np.uint8))
            pen = ImageDraw.Draw(canvas)
            for box, label in zip(boxes["boxes"][i].numpy(), boxes["labels"][i].numpy()):
                if label >= 0:
                    pen.rectangle(box.tolist(), outline=(255, 255, 255), width=1)
            count = int(decoded["count"][i])
            for box, label in zip(decoded["boxes"][i, :count].numpy(), decoded["labels"][i, :count].numpy()):
                pen.rectangle(box.tolist(), outline=DRAW_COLOURS[int(label) % len(DRAW_COLOURS)], width=2)
            tiles.append(np.asarray(canvas))
            titles.append(f"{count} found, {int(np.sum(boxes['labels'][i].numpy() >= 0))} true")
            if len(tiles) >= 12:
                break
        if len(tiles) >= 12:
            break
    if not tiles:
        return []
    title = f"Test images: true boxes white, detections (score >= {threshold:.2f}) coloured by class"
    return [(title, figures.image_grid(tiles, titles, columns=4))]


def as_items(inputs):
    if isinstance(inputs, (str, os.PathLike)):
        return [inputs]
    if isinstance(inputs, np.ndarray) and (inputs.ndim == 2 or (inputs.ndim == 3 and inputs.shape[-1] in (1, 3, 4))):
        return [inputs]
    return list(inputs)


def read_rgb(item):
    """An image path or array -> uint8 RGB (height, width, 3) at its own size."""
    if isinstance(item, (str, os.PathLike)):
        return image_files.read_pixels(item, 3)  # training's own decoder
    return detection_data.uint8_rgb(np.asarray(item))
