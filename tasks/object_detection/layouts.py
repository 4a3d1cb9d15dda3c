"""Detection datasets in the folder layouts they ship in, found from their root folder.

- COCO: `annotations/instances_<split>.json` with the images in `<split>/` beside `annotations/`
  (`train2017/`, `val2017/`).
- Pascal VOC devkit: `Annotations/*.xml` and `JPEGImages/`, with `ImageSets/Main/{train,val,trainval,
  test}.txt` as the official split when present (a `VOCdevkit/` holding one `VOC2007/` is entered).
- Ultralytics YOLO: a `data.yaml` with `names` (a list, or a dict by index) and `train` / `val` image
  folders relative to `path`; each image folder's labels are in the folder named like it with its
  `images` part replaced by `labels` (`images/train` -> `labels/train`), as Ultralytics reads them.

`find(root)` gives, per official part ("train", "val", "test"), a reader of that part's annotations.
Written by hand: no maintained library reads these three layouts without also bringing its own
training framework (Ultralytics, torchvision, MMDetection).
"""

import os
import pathlib

from tasks.object_detection import annotations as annotations_lib
from toolkit.errors import ToolkitError

PARTS = ("train", "val", "test")


def find(root):
    """{part: read(images_dir, bad_boxes, class_names) -> (annotations, class names or None)} of a dataset
    root in one of the three layouts, or None when `root` is in none of them.

    Examples:
        >>> import tempfile
        >>> find(tempfile.mkdtemp()) is None
        True
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        return None
    return _yolo(root) or _voc(root) or _coco(root)


def describe(root):
    """The layout's name and its parts, for the run's info: "COCO (train2017, val2017)"."""
    parts = find(root)
    return None if parts is None else f"{parts['layout']} ({', '.join(p for p in PARTS if p in parts)})"


# ------------------------------------------------------------------------------------------ COCO
def _coco(root):
    folder = root / "annotations"
    files = sorted(folder.glob("instances_*.json")) if folder.is_dir() else []
    parts = {}
    for part in PARTS:
        # instances_train2017.json -> train; the newest year wins when a folder holds 2014 and 2017.
        chosen = [f for f in files if f.stem.split("_", 1)[1].startswith(part)]
        if chosen:
            file = chosen[-1]
            parts[part] = lambda images_dir, bad_boxes, _names, file=file: (
                annotations_lib.read_coco(file, images_dir, bad_boxes),
                None,
            )
    return {"layout": "COCO", **parts} if parts else None


# ------------------------------------------------------------------------------------------- VOC
def _voc(root):
    if not (root / "Annotations").is_dir():
        inner = [d for d in root.iterdir() if d.is_dir() and (d / "Annotations").is_dir()]
        if len(inner) != 1:  # VOCdevkit/ with one VOC2007/ inside; several years are the user's choice
            return None
        root = inner[0]
    annotations_dir = root / "Annotations"
    if not any(annotations_dir.glob("*.xml")):
        return None
    splits = root / "ImageSets" / "Main"
    # train.txt and val.txt when both exist (trainval.txt is their union); else trainval.txt to train on.
    lists = {"train": "train.txt" if (splits / "train.txt").is_file() else "trainval.txt", "test": "test.txt"}
    if (splits / "train.txt").is_file():
        lists["val"] = "val.txt"
    parts = {}
    for part, name in lists.items():
        if (splits / name).is_file():
            ids = _ids(splits / name)
            parts[part] = lambda images_dir, bad_boxes, _names, ids=ids: (
                annotations_lib.read_voc(annotations_dir, images_dir, bad_boxes, ids=ids),
                None,
            )
    if "train" not in parts:  # no official split: every annotation trains, split as any folder is
        parts["train"] = lambda images_dir, bad_boxes, _names: (
            annotations_lib.read_voc(annotations_dir, images_dir, bad_boxes),
            None,
        )
    return {"layout": f"Pascal VOC '{root.name}'", **parts}


def _ids(path):
    """The image ids of a VOC split file (one per line; a second column, as in the per-class lists, ignored)."""
    ids = [line.split()[0] for line in annotations_lib.read_text(path).splitlines() if line.strip()]
    if not ids:
        raise ToolkitError(
            f"The VOC split file '{path}' lists no image ids.",
            expected="one image id (an Annotations/<id>.xml stem) per line",
            fix="restore the file, or remove it to split the annotations at random",
        )
    return ids


# ------------------------------------------------------------------------------------------ YOLO
def _yolo(root):
    import yaml

    for file in sorted(root.glob("*.yaml")) + sorted(root.glob("*.yml")):
        try:
            config = yaml.safe_load(annotations_lib.read_text(file))
        except yaml.YAMLError as error:
            raise ToolkitError(
                f"'{file}' is not readable YAML ({error}).",
                expected="an Ultralytics dataset file: path, train, val and names",
                fix="correct the file",
            ) from None
        if isinstance(config, dict) and "names" in config and "train" in config:
            return _yolo_parts(file, config)
    return None


def _yolo_parts(file, config):
    names = config["names"]
    if isinstance(names, dict):  # {0: person, 1: bicycle}
        names = [names[k] for k in sorted(names, key=int)]
    if not isinstance(names, list) or not names:
        raise ToolkitError(
            f"'{file}' has names: {config['names']!r}.",
            expected="the class names as a list, or a dict from class index to name",
            fix="write names: [person, bicycle, ...]",
        )
    names = [str(n) for n in names]
    base = pathlib.Path(config.get("path") or ".")
    if not base.is_absolute():  # relative to the YAML file's folder, where a downloaded dataset keeps it
        base = file.parent / base
        if not base.is_dir():
            base = file.parent
    parts = {}
    for part in PARTS:
        value = config.get(part)
        if not value:
            continue
        if not isinstance(value, str):
            raise ToolkitError(
                f"'{file}' lists {part}: {value!r}.",
                expected=f"{part}: one image folder relative to path (images/{part})",
                fix="point it at one folder of images; list files (.txt) and several folders are not read",
            )
        images = base / value
        if not images.is_dir():
            raise ToolkitError(
                f"'{file}' names the {part} images '{value}', and '{images}' is not a folder.",
                expected=f"an image folder under path ('{base}'), e.g. images/{part}",
                fix="correct path / train / val in the YAML file, or move the folders there",
            )
        labels = _labels_folder(images)
        if not labels.is_dir():
            raise ToolkitError(
                f"The {part} images '{images}' of '{file}' have no labels folder '{labels}'.",
                expected="labels/<part>/ beside images/<part>/, one .txt per image (Ultralytics' layout)",
                fix="add the labels folder, or correct the paths in the YAML file",
            )
        parts[part] = lambda images_dir, bad_boxes, class_names, images=images, labels=labels: (
            annotations_lib.read_yolo(labels, class_names or names, images_dir or images, bad_boxes),
            list(class_names or names),
        )
    return {"layout": f"Ultralytics YOLO '{file.name}'", **parts} if parts else None


def _labels_folder(images):
    """Ultralytics' rule: the last `images` part of the path becomes `labels`."""
    parts = list(images.parts)
    for k in range(len(parts) - 1, -1, -1):
        if parts[k] == "images":
            parts[k] = "labels"
            return pathlib.Path(*parts)
    return images  # labels beside the images, one .txt per image


def scored_part(data):
    """The part of a dataset root that evaluation scores: its test part, else its val part (COCO's test
    has no boxes); "train" (the data as given) for anything else."""
    parts = find(data) if isinstance(data, (str, os.PathLike)) else None
    return next((p for p in ("test", "val") if p in (parts or {})), "train")
