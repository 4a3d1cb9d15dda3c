"""Segmentation's pictures: the worst and best test segmentations for the report, and masks and overlays
written for the user (a palette PNG of class indices; the image with its mask coloured and a legend)."""

import os

import numpy as np

from toolkit import distribute, figures, image_streams

# Overlay colours per class index (class 0 is left uncoloured).
PALETTE = np.array(
    [[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180],
     [70, 240, 240], [240, 50, 230], [210, 245, 60]],
    dtype=np.uint8,
)  # fmt: skip


def confusion_and_per_class(metrics, classes):
    """The pixel confusion matrix and per-class IoU and Dice of the test split (else validation)."""
    split = "test" if (metrics or {}).get("test") else "validation"
    scores = (metrics or {}).get(split) or {}
    drawn = []
    if scores.get("confusion_matrix") is not None:
        drawn.append(
            (f"Pixel confusion matrix ({split})", figures.confusion_figure(scores["confusion_matrix"], classes))
        )
    if scores.get("per_class"):
        bars = figures.per_class_figure(scores["per_class"], ("iou", "dice"), classes)
        drawn.append((f"Per-class IoU and Dice ({split})", bars))
    return drawn


def worst_and_best(model, dataset, classes, most=500):
    """The three test images segmented worst and the three best (by pixel accuracy): image, truth, prediction."""
    scored = []
    for images, masks in dataset:
        predicted = np.argmax(distribute.predict_on_batch(model, images), axis=-1)
        for image, mask, guess in zip(images.numpy(), masks.numpy(), predicted):
            scored.append((float(np.mean(mask == guess)), image, mask, guess))
        if len(scored) >= most:
            break
    if not scored:
        return []
    scored.sort(key=lambda item: item[0])
    chosen = scored[:3] + scored[-3:] if len(scored) > 6 else scored
    colours = figures.mask_colours(len(classes))
    tiles, titles = [], []
    for accuracy, image, mask, guess in chosen:
        tiles += [np.clip(image, 0, 255).astype(np.uint8), colours[mask.astype(int)], colours[guess]]
        titles += [f"pixel accuracy {accuracy:.3f}", "truth", "prediction"]
    legend = ", ".join(f"{name}: colour {i + 1}" for i, name in enumerate(classes))
    title = f"Worst and best segmentations (test; top rows worst). Classes in palette order: {legend}"
    return [(title, figures.image_grid(tiles, titles, columns=3))]


def write_files(items, masks, classes, folder, masks_too, overlays, replace=False):
    """Writes `<name>_mask.png` / `<name>_overlay.png` per image; returns {"mask", "overlay"} paths per image."""
    from PIL import Image

    kinds = (["mask"] if masks_too else []) + (["overlay"] if overlays else [])
    paths = image_streams.output_paths(items, folder, kinds, replace=replace)
    palette = np.resize(PALETTE, (256, 3)).astype(np.uint8).ravel().tolist()
    for item, mask, files in zip(items, masks, paths):
        if "mask" in files:
            indexed = Image.fromarray(mask, mode="P")
            indexed.putpalette(palette)
            indexed.save(files["mask"])
        if "overlay" in files:
            image = image_streams.to_array(
                [str(item) if isinstance(item, os.PathLike) else item], mask.shape, 3, False
            )[0]
            colours = PALETTE[mask % len(PALETTE)]
            blended = np.where(mask[..., None] > 0, 0.5 * image + 0.5 * colours, image).astype(np.uint8)
            _with_legend(Image.fromarray(blended), classes).save(files["overlay"])
    return kinds, [{kind: str(path) for kind, path in files.items()} for files in paths]


def _with_legend(image, classes):
    """The overlay with a legend strip below it: each class's colour and name (class 0 is left uncoloured)."""
    from PIL import Image, ImageDraw

    labels = [f"{name} (not coloured)" if i == 0 else str(name) for i, name in enumerate(classes)]
    measure = ImageDraw.Draw(image)
    width = max(image.width, 20 + int(max(measure.textlength(label) for label in labels)))
    row = 14
    canvas = Image.new("RGB", (width, image.height + row * len(labels) + 4), (255, 255, 255))
    canvas.paste(image, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for i, label in enumerate(labels):
        top = image.height + 2 + i * row
        colour = tuple(int(c) for c in PALETTE[i % len(PALETTE)]) if i else (255, 255, 255)
        draw.rectangle([2, top + 1, 12, top + 11], fill=colour, outline=(0, 0, 0))
        draw.text((16, top), label, fill=(0, 0, 0))
    return canvas
