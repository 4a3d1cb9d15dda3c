"""Detection data in every form a user holds -> one light index the task splits and streams.

`load_source` turns annotation files (VOC, COCO, YOLO, CSV), Python lists and arrays, a
`tf.data.Dataset`, a TFDS name or the built-in "shapes" set into a `Source`: the images (file paths,
arrays, or a `toolkit.data.Stream` never pulled into memory), each image's boxes as absolute
`[xmin, ymin, xmax, ymax]` pixels with class labels, and the class names. Only boxes are held in
memory (a few numbers an image); pixels are decoded inside tf.data (`pipeline`).
"""

import collections
import contextlib
import os
import pathlib

import numpy as np
import tensorflow as tf

from tasks.object_detection import annotations as annotations_lib
from tasks.object_detection import layouts, shapes
from toolkit import data as data_lib
from toolkit import tfds as tfds_lib
from toolkit.errors import ToolkitError

# images: paths, a uint8 array (n, h, w, 3), a list of arrays, or a Stream of (image, boxes, labels);
# targets: per image (boxes (m, 4) float32 absolute xyxy, labels (m,) of class indices) (None for a
# Stream); classes: class names, indexed by the labels.
Source = collections.namedtuple("Source", ["images", "targets", "classes"])
# The forms a detector's data may take, as `toolkit list` and the errors name them.
DATA_FORMS = (
    "a dataset's root folder in the COCO layout (annotations/instances_<split>.json + <split>/), the Pascal "
    "VOC devkit (Annotations/, JPEGImages/, ImageSets/Main/) or Ultralytics YOLO (data.yaml, images/<part>/, "
    "labels/<part>/); a COCO .json file; a CSV of filename,width,height,class,xmin,ymin,xmax,ymax; a folder "
    "with images/ beside annotations/ (VOC XML) or labels/ (YOLO .txt and classes.txt); an (image folder, "
    'annotation file or folder) pair (or --images-dir); (images, {"boxes", "labels"}) in Python; a '
    "tf.data.Dataset; or 'tfds:NAME'"
)

BOX_FORMATS = ("xyxy", "xywh", "center_xywh", "yxyx", "rel_xyxy", "rel_xywh", "rel_center_xywh", "rel_yxyx")
ACCEPTED = (
    "a dataset's root folder in COCO (annotations/instances_train2017.json, train2017/), Pascal VOC devkit "
    "(Annotations/, JPEGImages/, ImageSets/Main/) or Ultralytics YOLO (data.yaml, images/train, labels/train) "
    "layout, a COCO .json file, a CSV of filename,width,height,class,xmin,ymin,xmax,ymax, a folder with "
    "'annotations/' (Pascal VOC XML) or 'labels/' (YOLO .txt and classes.txt) beside 'images/', "
    "(image_folder, annotation_file_or_folder), "
    '(images, {"boxes": [...], "labels": [...]}) in Python, a tf.data.Dataset of (image, {"boxes", '
    '"labels"}), "shapes" or "tfds:NAME"'
)
SHAPES_COUNT, SHAPES_SIZE = 600, 96


# A COCO crowd region travels with the boxes as the label -2 - class: training's target encoder leaves
# out every label below 0 (as it does the padding, -1), and evaluation gives it to COCOeval as
# `iscrowd: 1`. One int per box keeps crowd regions through the pipeline's augmentation and padding,
# which move labels with their boxes.
def crowd_label(classes):
    """Class indices -> the labels of crowd regions of those classes.

    Examples:
        >>> crowd_label(np.array([0, 2])).tolist(), split_crowd(np.array([1, -2, -4]))[0].tolist()
        ([-2, -4], [1, 0, 2])
    """
    return -2 - np.asarray(classes)


def split_crowd(labels):
    """Labels (padding -1 already removed) -> (class indices, crowd flags)."""
    labels = np.asarray(labels)
    crowd = labels <= -2
    return np.where(crowd, -2 - labels, labels), crowd


def load_source(data, data_dir=None, box_format="xyxy", class_names=None, bad_boxes="fail", images_dir=None,
                part="train"):  # fmt: skip
    """Any accepted form of detection data -> `Source` (see the module's docstring).

    Args:
        data: see `ACCEPTED`.
        data_dir: TFDS's data folder for "tfds:NAME".
        box_format: the format of boxes given in Python or by a tf.data.Dataset (see `BOX_FORMATS`,
            as `keras.utils.bounding_boxes` names them); annotation files carry their own.
        class_names: the class names in label-index order (YOLO files and integer labels need them;
            default: the names the data carries, or "0", "1", ...).
        bad_boxes: "fail" or "skip" (see `annotations`).
        images_dir: the folder of the images an annotation file names (default: where each format keeps
            them; see `annotations`).
        part: of a dataset root in a known layout (`layouts`), the official part to read: "train",
            "val" or "test".

    Examples:
        >>> source = load_source("shapes")
        >>> len(source.targets), source.classes
        (600, ['circle', 'square', 'triangle'])
    """
    if isinstance(data, str) and data == "shapes":
        images, targets = shapes.generated_shapes(SHAPES_COUNT, SHAPES_SIZE)
        return Source(images, targets, list(shapes.CLASSES))
    if isinstance(data, str) and data.startswith("tfds:") and not os.path.exists(data):
        return _from_tfds(data, data_dir, class_names, bad_boxes)
    if isinstance(data, tf.data.Dataset):
        return _from_dataset(data, box_format, class_names, bad_boxes)
    if isinstance(data, (str, os.PathLike)):
        found = _read_annotations(pathlib.Path(data), class_names, bad_boxes, images_dir, part)
        return _from_annotations(*found, class_names)
    if _is_path_pair(data):
        images, annotation = (pathlib.Path(d) for d in data)
        if not images.is_dir():
            raise ToolkitError(
                f"The image folder '{images}' (the first of the pair data=(image_folder, annotations)) is not a "
                "folder.",
                expected="(the folder of the images, the annotation file or folder)",
                fix="check the first path",
            )
        found = _read_annotations(annotation, class_names, bad_boxes, images, part)
        return _from_annotations(*found, class_names)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return _from_python(data[0], data[1], box_format, class_names, bad_boxes)
    raise ToolkitError(
        f"Cannot use {type(data).__name__} as detection data.", expected=ACCEPTED, fix="pass one of those forms"
    )


def check_box_format(box_format):
    if box_format not in BOX_FORMATS:
        raise ToolkitError(
            f"box_format={box_format!r} is not valid.",
            expected=f"one of {BOX_FORMATS} ('rel_' formats are fractions of the image's width and height)",
            fix="name the format your boxes are in",
        )


def _is_path_pair(data):
    return isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(d, (str, os.PathLike)) for d in data)


def official_validation(data):
    """True when `data` is a dataset root whose layout carries an official validation part."""
    return isinstance(data, (str, os.PathLike)) and "val" in (layouts.find(data) or {})


def _read_annotations(path, class_names, bad_boxes, images_dir=None, part="train"):
    """(annotations, how they were found) of an annotation file or folder, or of a dataset root's `part`."""
    if not path.exists():
        raise ToolkitError(f"Data path '{path}' does not exist.", expected=ACCEPTED, fix="check the path")
    parts = layouts.find(path)
    if parts is not None:
        if part not in parts:
            raise ToolkitError(
                f"The {parts['layout']} dataset in '{path}' has no {part!r} part.",
                expected=f"one of its parts: {[p for p in layouts.PARTS if p in parts]}",
                fix="add that part, or pass its annotation file as data",
            )
        return parts[part](images_dir, bad_boxes, class_names)
    if path.is_file():
        if path.suffix.lower() == ".json":
            return annotations_lib.read_coco(path, images_dir, bad_boxes=bad_boxes), None
        if path.suffix.lower() == ".csv":
            return annotations_lib.read_csv(path, images_dir, bad_boxes=bad_boxes), None
        raise ToolkitError(
            f"'{path}' is not an annotation file this task reads (a {path.suffix or 'suffixless'} file).",
            expected="a COCO .json or a .csv of boxes, or a folder of VOC XML or YOLO .txt files",
            fix="pass the annotation file or folder",
        )
    sub = {p.name.lower(): p for p in path.iterdir() if p.is_dir()}
    if "annotations" in sub and any(sub["annotations"].glob("*.xml")):
        return annotations_lib.read_voc(sub["annotations"], images_dir, bad_boxes=bad_boxes), None
    if any(path.glob("*.xml")):
        return annotations_lib.read_voc(path, images_dir, bad_boxes=bad_boxes), None
    labels = sub.get("labels", path)
    if any(labels.glob("*.txt")):
        names = annotations_lib.read_class_names(class_names or _class_file(path, labels))
        return annotations_lib.read_yolo(labels, names, images_dir, bad_boxes=bad_boxes), names
    jsons = sorted(path.glob("*.json"))
    if len(jsons) == 1:
        return annotations_lib.read_coco(jsons[0], images_dir, bad_boxes=bad_boxes), None
    raise ToolkitError(
        f"Folder '{path}' holds no annotations this task reads (subfolders: {sorted(sub) or 'none'}).",
        expected=ACCEPTED,
        fix="point data= at the annotation file or folder",
    )


def _class_file(root, labels):
    """The YOLO class-names file: classes.txt or obj.names in the labels folder or beside it."""
    for folder in (labels, root):
        for name in ("classes.txt", "obj.names"):
            if (folder / name).is_file():
                return folder / name
    raise ToolkitError(
        f"The YOLO labels in '{labels}' come without class names.",
        expected="a classes.txt (or obj.names) file with one name per line, beside the labels",
        fix="write that file, or pass class_names=[...]",
    )


def _from_annotations(annotations, yolo_names, class_names):
    names = [str(n) for n in class_names] if class_names else None
    if names is None and yolo_names is not None:
        names = yolo_names
    found = sorted({label for a in annotations for label in a.labels})
    if names is None:
        names = found
    unknown = sorted(set(found) - set(names))
    if unknown:
        raise ToolkitError(
            f"The annotations name class(es) {unknown[:5]} that class_names lacks.",
            expected=f"labels among class_names {names}",
            fix="add those names to class_names, or leave class_names out to use the annotations' own",
        )
    index = {name: i for i, name in enumerate(names)}
    targets = []
    for a in annotations:
        labels = np.array([index[label] for label in a.labels], np.int32)
        if a.crowd is not None:
            labels = np.where(np.asarray(a.crowd, bool), crowd_label(labels), labels).astype(np.int32)
        targets.append((a.boxes, labels))
    return Source([a.image for a in annotations], targets, list(names))


def _from_python(images, targets, box_format, class_names, bad_boxes):
    """(images, {"boxes": per image, "labels": per image}) -> Source; boxes converted to absolute xyxy."""
    check_box_format(box_format)
    if not isinstance(targets, dict) or not {"boxes", "labels"} <= set(targets):
        raise ToolkitError(
            f"The targets are a {type(targets).__name__}"
            + (f" with keys {sorted(targets)}" if isinstance(targets, dict) else "")
            + ".",
            expected='(images, {"boxes": [boxes of each image], "labels": [labels of each image]})',
            fix="put each image's boxes and labels in those two lists",
        )
    if isinstance(images, np.ndarray) and images.dtype.kind not in "US":
        images = uint8_rgb(images) if images.ndim == 4 else [uint8_rgb(images[i]) for i in range(len(images))]
    else:
        images = [
            str(i) if isinstance(i, (str, os.PathLike)) else uint8_rgb(np.asarray(i)) for i in list(images)
        ]  # fmt: skip
    boxes, labels = list(targets["boxes"]), list(targets["labels"])
    data_lib.check_same_length(images, boxes)
    data_lib.check_same_length(boxes, labels)
    names = [str(n) for n in class_names] if class_names else None
    strings = any(isinstance(v, str) for lab in labels for v in np.asarray(lab, object).reshape(-1))
    if names is None:
        flat = [v for lab in labels for v in np.asarray(lab, object).reshape(-1)]
        names = sorted({str(v) for v in flat}) if strings else [str(i) for i in range(int(max(flat, default=0)) + 1)]
    checker = annotations_lib.BoxChecker(bad_boxes, "the boxes given in Python")
    _check_not_mixed(boxes, box_format)
    out = []
    for k, (image, image_boxes, image_labels) in enumerate(zip(images, boxes, labels)):
        height, width = _image_size(image)
        image_boxes = np.asarray(image_boxes, np.float32).reshape(-1, 4)
        image_labels = np.asarray(image_labels, object).reshape(-1)
        if len(image_boxes) != len(image_labels):
            raise ToolkitError(
                f"Image {k} has {len(image_boxes)} box(es) and {len(image_labels)} label(s).",
                expected="one label per box",
                fix="give every box its label",
            )
        converted = _to_xyxy(image_boxes, box_format, height, width)
        kept_boxes, kept_labels = [], []
        for box, label in zip(converted, image_labels):
            index = _label_index(label, names, strings)
            kept = checker.keep(box, width, height, image if isinstance(image, str) else f"#{k}")
            if kept is not None:
                kept_boxes.append(kept)
                kept_labels.append(index)
        out.append((np.asarray(kept_boxes, np.float32).reshape(-1, 4), np.asarray(kept_labels, np.int32)))
    checker.report()
    if not out:
        raise ToolkitError("The detection data holds no images.", expected=ACCEPTED, fix="pass some images")
    return Source(images, out, names)


def _check_not_mixed(boxes, box_format):
    """Relative and absolute boxes in one set are a common slip; a box past 1 in a relative format too."""
    largest = [float(np.max(np.asarray(b, np.float32))) for b in boxes if np.size(b)]
    if not largest:
        return
    if box_format.startswith("rel_") and max(largest) > 1.0 + 1e-3:
        raise ToolkitError(
            f"box_format={box_format!r} is relative, but a box has a coordinate of {max(largest):.1f}.",
            expected="relative coordinates between 0 and 1",
            fix="pass box_format='xyxy' (or the absolute format your boxes are in)",
        )
    if not box_format.startswith("rel_") and min(largest) <= 1.0 < max(largest) and max(largest) > 2.0:
        raise ToolkitError(
            "The boxes mix relative coordinates (all within 0-1 in some images) and absolute pixels (others).",
            expected=f"every box in one format (box_format={box_format!r})",
            fix="convert the relative boxes to pixels, or pass all boxes in one 'rel_' format",
        )


def _label_index(label, names, strings):
    if strings:
        if str(label) not in names:
            raise ToolkitError(
                f"The label {label!r} is not among the class names {names}.",
                expected="labels among class_names",
                fix="add it to class_names, or correct the label",
            )
        return names.index(str(label))
    index = int(label)
    if not 0 <= index < len(names):
        raise ToolkitError(
            f"The class id {index} is not among the {len(names)} class names {names}.",
            expected=f"class ids 0 to {len(names) - 1}",
            fix="correct the label, or give class_names for every id",
        )
    return index


def uint8_rgb(image):
    """One image or a batch as uint8 with three channels (grey tiled, alpha dropped)."""
    image = np.asarray(image)
    if image.ndim == 2:  # one grey image without a channel axis
        image = image[..., None]
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    image = image[..., :3]
    if not np.all(np.isfinite(image)):
        raise ToolkitError(
            "An image holds NaN or infinite values.", expected="pixels 0-255", fix="replace or drop that image"
        )
    return np.clip(image, 0, 255).astype(np.uint8)


@contextlib.contextmanager
def opened_image(path):
    """PIL's image of a file, or a three-part error naming the file when it is missing or unreadable
    (also when decoding fails inside the block, as a truncated file does)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            yield image
    except FileNotFoundError:
        raise ToolkitError(
            f"The image '{path}' does not exist.", expected="existing image files", fix="check the path"
        ) from None
    except (UnidentifiedImageError, OSError) as error:
        raise ToolkitError(
            f"The image '{path}' cannot be read ({error}).",
            expected="readable image files (png, jpg, bmp, gif)",
            fix="replace or remove that file",
        ) from None


def _image_size(image):
    """(height, width) of a file (its header only) or an array."""
    if isinstance(image, str):
        with opened_image(image) as opened:
            return opened.size[1], opened.size[0]
    return image.shape[0], image.shape[1]


def _to_xyxy(boxes, box_format, height, width):
    from keras.utils import bounding_boxes

    if box_format == "xyxy" or not len(boxes):
        return boxes
    return np.asarray(bounding_boxes.convert_format(boxes, box_format, "xyxy", height=height, width=width), np.float32)


def _from_dataset(dataset, box_format, class_names, bad_boxes):
    """A tf.data.Dataset of (image, {"boxes", "labels"}) -> a Source whose images are a Stream of
    (uint8 image, absolute xyxy boxes, labels); one pass reads the labels (not the pixels) for the classes."""
    check_box_format(box_format)
    spec = dataset.element_spec
    if not (
        isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], dict) and {"boxes", "labels"} <= set(spec[1])
    ):
        raise ToolkitError(
            f"The tf.data.Dataset yields {spec}.",
            expected='a dataset of (image, {"boxes": (m, 4), "labels": (m,)}) pairs, one image each',
            fix='map it to that form, e.g. dataset.map(lambda d: (d["image"], {"boxes": ..., "labels": ...}))',
        )
    if spec[0].shape.rank == 4:
        dataset = dataset.unbatch()
    return _stream(dataset.map(lambda x, t: (x, t["boxes"], t["labels"])), box_format, class_names, bad_boxes)


def _stream(triples, box_format, class_names, bad_boxes):
    """(image, boxes, labels) elements in `box_format` -> a Source over a Stream of (uint8 image,
    absolute xyxy boxes, int32 labels). One pass reads each image's size, boxes and labels (not kept):
    it checks them as the annotation readers do, and finds the classes."""

    def convert(image, boxes, labels):
        image = tf.cast(image, tf.uint8) if image.dtype != tf.uint8 else image
        if image.shape.rank == 2:
            image = image[..., None]
        boxes = tf.reshape(tf.cast(boxes, tf.float32), (-1, 4))
        if box_format != "xyxy":
            from keras.utils import bounding_boxes

            shape = tf.shape(image)
            boxes = bounding_boxes.convert_format(boxes, box_format, "xyxy", height=shape[0], width=shape[1])
        return image, boxes, tf.cast(tf.reshape(labels, (-1,)), tf.int32)

    triples = triples.map(convert, num_parallel_calls=tf.data.AUTOTUNE)
    checker = annotations_lib.BoxChecker(bad_boxes, "the tf.data.Dataset")
    count, largest = 0, -1
    shapes_boxes_labels = triples.map(lambda x, b, lab: (tf.shape(x), b, lab), num_parallel_calls=tf.data.AUTOTUNE)
    for shape, boxes, labels in shapes_boxes_labels.as_numpy_iterator():
        if len(boxes) != len(labels):
            raise ToolkitError(
                f"Example {count} of the dataset has {len(boxes)} box(es) and {len(labels)} label(s).",
                expected="one label per box",
                fix="check how the dataset pairs boxes with labels",
            )
        for box in boxes:  # fails on the first bad box, or counts it (bad_boxes="skip")
            checker.keep(box, int(shape[1]), int(shape[0]), f"#{count}")
        count += 1
        largest = max(largest, int(labels.max(initial=-1)))
    if not count:
        raise ToolkitError("The tf.data.Dataset holds no images.", expected=ACCEPTED, fix="check the dataset")
    checker.report()
    if checker.skipped:
        triples = triples.map(_clip_or_drop, num_parallel_calls=tf.data.AUTOTUNE)  # what the checker would keep
    names = [str(n) for n in class_names] if class_names else [str(i) for i in range(largest + 1)]
    if largest >= len(names):
        raise ToolkitError(
            f"The dataset has class id {largest}, but there are {len(names)} class names.",
            expected=f"class ids 0 to {len(names) - 1}",
            fix="give class_names for every id",
        )
    return Source(data_lib.Stream(triples, np.arange(count), count), None, names)


def _clip_or_drop(image, boxes, labels):
    """A stream's boxes as `annotations.BoxChecker` keeps them: clipped when within its slack of the
    border, dropped when outside or without area."""
    slack = annotations_lib.BORDER_SLACK
    height, width = tf.cast(tf.shape(image)[0], tf.float32), tf.cast(tf.shape(image)[1], tf.float32)
    x0, y0, x1, y1 = tf.unstack(boxes, axis=-1)
    good = (
        (x1 > x0) & (y1 > y0) & (x0 >= -slack) & (y0 >= -slack) & (x1 <= width + slack) & (y1 <= height + slack)
        & tf.reduce_all(tf.math.is_finite(boxes), axis=-1)
    )  # fmt: skip
    clipped = tf.stack(
        [tf.maximum(x0, 0.0), tf.maximum(y0, 0.0), tf.minimum(x1, width), tf.minimum(y1, height)], axis=-1
    )
    return image, tf.boolean_mask(clipped, good), tf.boolean_mask(labels, good)


def _from_tfds(spec, data_dir, class_names, bad_boxes):
    """A TFDS detection set (features "image" and "objects" with "bbox" in TFDS's relative yxyx and "label")."""
    import tensorflow_datasets as tfds

    dataset, _ = tfds_lib.load_tfds(spec, data_dir, as_supervised=False)
    features = dataset.element_spec
    if not isinstance(features, dict) or "image" not in features or "bbox" not in features.get("objects", {}):
        raise ToolkitError(
            f"The TFDS dataset {spec!r} is not a detection set (its features: {sorted(features)}).",
            expected='a TFDS dataset with "image" and "objects" holding "bbox" and "label" (voc, coco, ...)',
            fix="choose a detection dataset, or map it yourself and pass a tf.data.Dataset",
        )
    names = class_names
    if names is None:
        try:
            names = tfds.builder(spec.split(":")[1], data_dir=data_dir).info.features["objects"]["label"].names
        except Exception:  # a dataset without label names: ids become names below
            names = None
    triples = dataset.map(lambda d: (d["image"], d["objects"]["bbox"], d["objects"]["label"]))
    return _stream(triples, "rel_yxyx", names, bad_boxes)


def take(source, positions):
    """The part of a Source at `positions` (a Stream's part, or the listed images and targets)."""
    if isinstance(source.images, data_lib.Stream):
        return Source(source.images.part(positions), None, source.classes)
    return Source(data_lib.take(source.images, positions), [source.targets[i] for i in positions], source.classes)


def sizes_sample(source, limit=200, seed=0):
    """(height, width) of up to `limit` images of a Source: file headers, array shapes, or a stream's first ones."""
    if isinstance(source.images, data_lib.Stream):
        dataset = source.images.dataset().take(limit)
        return [
            tuple(int(v) for v in shape[:2]) for shape in dataset.map(lambda x, b, lab: tf.shape(x)).as_numpy_iterator()
        ]
    images = source.images
    if isinstance(images, np.ndarray):
        return [images.shape[1:3]] * min(limit, len(images))
    chosen = np.random.default_rng(seed).permutation(len(images))[:limit]
    return [_image_size(images[i]) for i in chosen]
