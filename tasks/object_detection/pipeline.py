"""Streaming detection data: image files (or arrays) and their boxes -> batches a detector trains on.

Each image is read and decoded when the pipeline reaches it (a folder of a million images streams like
one of a thousand), resized to `image_size` x `image_size` with its boxes scaled alike, augmented by
Keras preprocessing layers that move boxes with the pixels, and batched as
`(images float32 0-255, {"boxes": (batch, max boxes, 4) xyxy pixels, "labels": (batch, max boxes)})`
with labels -1 on padding: the layout KerasHub's detectors take.

Augmentation names: "flip" (horizontal), "zoom" (scale in and out, boxes clipped), "translate" (shift,
boxes clipped), "color" (brightness, contrast, saturation, hue). A box left with no area inside the
image after augmentation is dropped. Keras' RandomCrop is not used: its boxes did not follow its
pixels here (Keras 3.15: a crop moved the pixels of a box to x 3-13 and its box to x 0-6).
"""

import keras
import numpy as np
import tensorflow as tf

from toolkit import image_files

AUGMENTATIONS = ("flip", "zoom", "translate", "color")
MIN_SIDE = 1.0  # pixels a box keeps on each side after augmentation, else it is dropped


def augmentation_layers(names, strength=1.0, seed=0):
    """The Keras preprocessing layers for `names`, each moving boxes with the pixels (xyxy, pixels).

    Args:
        names: from `AUGMENTATIONS`.
        strength: scales each layer's range (0.5: half the default zoom, shift and colour change).
        seed: the first layer's seed; each further layer gets the next one (never the same stream twice).
    """
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        from toolkit.errors import ToolkitError

        raise ToolkitError(
            f"Unknown detection augmentation(s) {unknown}.",
            expected=f"names from {AUGMENTATIONS}",
            fix="fix augment=",
        )
    made = []
    for k, name in enumerate(names):
        options = {"bounding_box_format": "xyxy", "seed": seed + k}
        if name == "flip":
            made.append(keras.layers.RandomFlip("horizontal", **options))
        elif name == "zoom":
            made.append(keras.layers.RandomZoom(0.3 * strength, fill_mode="constant", **options))
        elif name == "translate":
            made.append(
                keras.layers.RandomTranslation(0.15 * strength, 0.15 * strength, fill_mode="constant", **options)
            )
        else:
            made.append(
                keras.layers.RandomColorJitter(
                    value_range=(0, 255),
                    brightness_factor=0.2 * strength,
                    contrast_factor=0.2 * strength,
                    saturation_factor=(0.5 - 0.2 * strength, 0.5 + 0.2 * strength),
                    hue_factor=0.05 * strength,
                    **options,
                )
            )
    return made


def _drop_degenerate(boxes, labels):
    keep = (boxes[:, 2] - boxes[:, 0] >= MIN_SIDE) & (boxes[:, 3] - boxes[:, 1] >= MIN_SIDE)
    return tf.boolean_mask(boxes, keep), tf.boolean_mask(labels, keep)


def box_dataset(images, targets, image_size, augment=(), strength=1.0, seed=0, shuffle=False, batch_size=8):
    """A batched `tf.data.Dataset` of images and padded boxes (see the module's docstring).

    Args:
        images: image file paths, an array (n, height, width, channels), a list of arrays (sizes may
            differ), or a `tf.data.Dataset` of (image (height, width, channels) uint8, boxes (m, 4)
            absolute xyxy pixels, labels (m,) int) when `targets` is None (a stream: never in memory).
        targets: per image (boxes (m, 4) absolute xyxy pixels of the original image, labels (m,) int).
        image_size: the side images are resized to.
        augment: names from `AUGMENTATIONS`, applied in that order when training.
        strength, seed: see `augmentation_layers`.
        shuffle: shuffle the images each pass (seeded).
        batch_size: images a batch holds.
    """
    from_files = False
    if isinstance(images, tf.data.Dataset):
        dataset = images.map(lambda x, b, lab: (x, tf.cast(b, tf.float32), tf.cast(lab, tf.int32)))
        count = int(dataset.cardinality())
        if shuffle:
            # A stream is shuffled within a window: its images are never all in memory.
            dataset = dataset.shuffle(1000 if count < 0 else min(count, 1000), seed=seed, reshuffle_each_iteration=True)
    else:
        per_image = [np.asarray(b, np.float32).reshape(-1, 4) for b, _ in targets]
        lengths = [len(b) for b in per_image]
        flat = np.concatenate(per_image) if per_image else np.zeros((0, 4), np.float32)
        boxes = tf.RaggedTensor.from_row_lengths(flat, lengths)
        labels = tf.RaggedTensor.from_row_lengths(
            np.concatenate([np.asarray(lab, np.int32).reshape(-1) for _, lab in targets]).astype(np.int32), lengths
        )
        if isinstance(images, np.ndarray) and images.dtype.kind not in "US":
            dataset = tf.data.Dataset.from_tensor_slices((images, boxes, labels))
        elif len(images) and not isinstance(images[0], (str, bytes)) and hasattr(images[0], "shape"):
            # Arrays of different sizes: one at a time (a ragged batch of pixels would copy them all).
            arrays = list(images)
            pixels = tf.data.Dataset.from_generator(
                lambda: iter(arrays), output_signature=tf.TensorSpec((None, None, None), tf.as_dtype(arrays[0].dtype))
            )
            pixels = pixels.apply(tf.data.experimental.assert_cardinality(len(arrays)))
            dataset = tf.data.Dataset.zip((pixels, tf.data.Dataset.from_tensor_slices((boxes, labels))))
            dataset = dataset.map(lambda x, t: (x, t[0], t[1]))
        else:
            from_files = True
            dataset = tf.data.Dataset.from_tensor_slices((tf.constant([str(p) for p in images]), boxes, labels))
        if shuffle:
            dataset = dataset.shuffle(len(targets), seed=seed, reshuffle_each_iteration=True)

    def load(image, image_boxes, image_labels):
        if from_files:
            image = image_files.decode_file(image, 3)  # the decoder predict, serve and export use too
        image = _three_channels(image)
        height, width = tf.cast(tf.shape(image)[0], tf.float32), tf.cast(tf.shape(image)[1], tf.float32)
        image = tf.image.resize(tf.cast(image, tf.float32), (image_size, image_size))
        image.set_shape((image_size, image_size, 3))
        scale = tf.stack([image_size / width, image_size / height] * 2)
        return image, image_boxes * scale, image_labels

    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    layers = augmentation_layers(augment, strength, seed) if augment else []

    def augmented(example, pair):
        image, image_boxes, image_labels = example
        data = {"images": image, "bounding_boxes": {"boxes": image_boxes, "labels": image_labels}}
        seeds = tf.random.experimental.stateless_split(tf.cast(pair, tf.int64), max(1, len(layers)))
        for k, layer in enumerate(layers):
            # Each image's draws start from its own seed: the layers' generators would otherwise carry
            # their state from image to image, a state no backup holds, so a resumed run drew other
            # augmentations than an uninterrupted one.
            state = layer.generator.state
            state.assign(tf.cast(seeds[k], state.dtype))
            data = layer(data, training=True)
        kept = _drop_degenerate(data["bounding_boxes"]["boxes"], data["bounding_boxes"]["labels"])
        return data["images"], kept[0], kept[1]

    if layers:
        # A seed per image from a seeded stream drawn anew each pass (and replayed on resume, as the
        # shuffle is: `toolkit.streams.DataPosition`). One at a time: the layers' generators are shared
        # variables, and parallel calls would interleave their draws.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip((dataset, seeds)).map(augmented)
    dataset = dataset.map(lambda i, b, lab: (i, {"boxes": tf.cast(b, tf.float32), "labels": tf.cast(lab, tf.int32)}))
    dataset = dataset.padded_batch(
        batch_size,
        padded_shapes=((image_size, image_size, 3), {"boxes": (None, 4), "labels": (None,)}),
        padding_values=(0.0, {"boxes": 0.0, "labels": -1}),
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def _three_channels(image):
    """Grey (one channel) -> RGB, RGBA -> RGB (the alpha dropped); an RGB image unchanged."""
    channels = tf.shape(image)[-1]
    image = tf.cond(channels == 1, lambda: tf.tile(image, [1, 1, 3]), lambda: image[..., :3])
    return tf.ensure_shape(image, (None, None, 3))


def with_center_targets(dataset, image_size, num_classes, keep_truth=False):
    """Batches of (images, {"boxes", "labels"}) -> (images, the detector's targets) for `keras.Model.fit`
    (see `centers.encode` and `detector.with_masks`); with `keep_truth`, (images, targets, the boxes)."""
    from tasks.object_detection import centers, detector

    cells = image_size // centers.STRIDE
    signature = {
        "heatmap": tf.TensorSpec((cells, cells, num_classes), tf.float32),
        "size": tf.TensorSpec((cells, cells, 2), tf.float32),
        "offset": tf.TensorSpec((cells, cells, 2), tf.float32),
        "mask": tf.TensorSpec((cells, cells, 1), tf.float32),
    }

    def encoded(images, truth):
        targets = tf.map_fn(
            lambda pair: centers.encode(pair[0], pair[1], image_size, num_classes),
            (truth["boxes"], truth["labels"]),
            fn_output_signature=signature,
        )
        if keep_truth:
            return images, detector.with_masks(targets), truth
        return images, detector.with_masks(targets)

    return dataset.map(encoded, num_parallel_calls=tf.data.AUTOTUNE)
