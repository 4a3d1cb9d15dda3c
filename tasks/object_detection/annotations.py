"""Object-detection annotations in every common format -> one list of `Annotation`s.

Pascal VOC (a folder of XML files beside the images), COCO JSON (`instances_*.json` and an image
folder), YOLO text files (one `.txt` per image, `class cx cy w h` relative, and class names) and the
raccoon-style CSV (`filename,width,height,class,xmin,ymin,xmax,ymax`). Each reader gives the same
thing: per image its path, size and boxes as absolute pixel `[xmin, ymin, xmax, ymax]` with class
names, so the rest of the task never sees a format. Images without boxes are kept (negatives).

A box outside its image or with no area fails with the file and image named, or is skipped and
counted (`bad_boxes="skip"`); a box that only pokes past the border by rounding (under a pixel) is
clipped. Written by hand: no library reads all four formats into one form (pycocotools reads COCO
only, and is used for the metrics).
"""

import collections
import csv
import io
import json
import pathlib
import warnings
import xml.etree.ElementTree as ElementTree  # expat refuses entity expansion bombs (Python >= 3.7.1)

import numpy as np

from toolkit import readers
from toolkit.errors import ToolkitError

# crowd: per box, True for a COCO crowd region (`iscrowd: 1`), which evaluation ignores detections in and
# training leaves out; None when the format has no crowd regions.
Annotation = collections.namedtuple("Annotation", ["image", "width", "height", "boxes", "labels", "crowd"])
BAD_BOXES = ("fail", "skip")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
CSV_COLUMNS = ("filename", "width", "height", "class", "xmin", "ymin", "xmax", "ymax")
BORDER_SLACK = 1.0  # pixels a box may pass the image's border by (rounding in annotation tools); clipped


class BoxChecker:
    """Checks boxes against their image: fails on the first bad one, or skips and counts them."""

    def __init__(self, bad_boxes, source):
        if bad_boxes not in BAD_BOXES:
            raise ToolkitError(
                f"bad_boxes={bad_boxes!r} is not valid.", expected=f"one of {BAD_BOXES}", fix="pass a valid bad_boxes"
            )
        self.bad_boxes, self.source, self.skipped = bad_boxes, source, 0

    def keep(self, box, width, height, image):
        """The box clipped to the image, or None when skipped; an error when it is bad and bad_boxes="fail"."""
        xmin, ymin, xmax, ymax = (float(v) for v in box)
        problem = None
        if not all(np.isfinite([xmin, ymin, xmax, ymax])):
            problem = "has a coordinate that is not a number"
        elif xmax <= xmin or ymax <= ymin:
            problem = "has no area (xmax <= xmin or ymax <= ymin)"
        elif (
            xmin < -BORDER_SLACK or ymin < -BORDER_SLACK or xmax > width + BORDER_SLACK or ymax > height + BORDER_SLACK
        ):
            problem = f"lies outside the {width}x{height} image"
        if problem is None:
            return [max(0.0, xmin), max(0.0, ymin), min(float(width), xmax), min(float(height), ymax)]
        if self.bad_boxes == "skip":
            self.skipped += 1
            return None
        raise ToolkitError(
            f"In {self.source}, the box {[xmin, ymin, xmax, ymax]} of image '{image}' {problem}.",
            expected="boxes [xmin, ymin, xmax, ymax] in pixels inside the image, with xmax > xmin and ymax > ymin",
            fix='correct the annotation, or pass bad_boxes="skip" to leave such boxes out (they are counted)',
        )

    def report(self):
        if self.skipped:
            warnings.warn(f"Skipped {self.skipped} bad box(es) in {self.source} (bad_boxes='skip').", stacklevel=3)


def _annotation(image, width, height, boxes, labels, crowd=None):
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    return Annotation(str(image), int(width), int(height), boxes, list(labels), None if crowd is None else list(crowd))


class ImageFolders:
    """Finds annotated images by name in one or more folders, and names every folder searched when one
    is missing (real datasets keep images away from their annotations: COCO's `train2017/`, VOC's
    `JPEGImages/`)."""

    def __init__(self, folders):
        self.folders = list(dict.fromkeys(pathlib.Path(f) for f in folders))

    def find(self, name, source, stem=None):
        """The path of image `name` in the first folder that has it (or, when `stem` is given, of an image
        with that stem and any image suffix); a three-part error naming `source` (the annotation that
        names it) and every folder searched."""
        for folder in self.folders:
            if (folder / name).is_file():
                return folder / name
        for folder in self.folders if stem else ():
            for suffix in IMAGE_SUFFIXES:
                if (folder / (stem + suffix)).is_file():
                    return folder / (stem + suffix)
        searched = ", ".join(f"'{f}'" + ("" if f.is_dir() else " (no such folder)") for f in self.folders)
        raise ToolkitError(
            f"{source} names the image '{name}', which is in none of the folders searched: {searched}.",
            expected="every annotated image in the image folder",
            fix="pass the image folder: images_dir= (CLI --images-dir) or data=(image_folder, annotation_file); "
            "or add the image, or remove its annotation",
        )


def _folders(given, defaults):
    """The image folders to search: the one the user gave, else the defaults that exist first, in order."""
    if given:
        return [pathlib.Path(given)]
    defaults = [pathlib.Path(f) for f in defaults]
    return [f for f in defaults if f.is_dir()] + [f for f in defaults if not f.is_dir()]


def _not_empty(annotations, source):
    if not annotations:
        raise ToolkitError(
            f"{source} holds no annotated images.",
            expected="at least one image with its boxes (or with none, as a negative)",
            fix="check the path and the format",
        )
    return annotations


def read_voc(annotations_dir, images_dir=None, bad_boxes="fail", ids=None):
    """Pascal VOC: one XML file per image (`annotation/filename`, `size`, `object/name`, `object/bndbox`).

    Args:
        annotations_dir: the folder of .xml files.
        images_dir: the image folder; None: `images/` or `JPEGImages/` beside `annotations_dir` (the VOC
            devkit's layout), else `annotations_dir` itself.
        bad_boxes: "fail" or "skip" for a box outside its image or without area.
        ids: only these file stems (a VOC `ImageSets/Main/<split>.txt`); None: every .xml file.
    """
    folder = pathlib.Path(annotations_dir)
    images = ImageFolders(_folders(images_dir, [folder.parent / "images", folder.parent / "JPEGImages", folder]))
    if ids is None:
        files = sorted(folder.glob("*.xml"))
    else:
        files = [folder / f"{i}.xml" for i in ids]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise ToolkitError(
                f"The split lists {len(missing)} image id(s) with no annotation file in '{folder}' "
                f"({', '.join(missing[:5])}).",
                expected="an Annotations/<id>.xml file for every id in ImageSets/Main/<split>.txt",
                fix="restore those files, or remove their ids from the split file",
            )
    checker = BoxChecker(bad_boxes, f"the VOC annotations in '{folder}'")
    annotations = []
    for file in files:
        try:
            root = ElementTree.parse(file).getroot()
        except ElementTree.ParseError as error:
            raise ToolkitError(
                f"'{file}' is not readable XML ({error}).",
                expected="Pascal VOC XML: <annotation> with <filename>, <size> and <object> elements",
                fix="correct or remove that file",
            ) from None
        name = root.findtext("filename") or file.stem + ".jpg"
        image = images.find(
            name, f"'{file}'", stem=file.stem
        )  # VOC files often name the image differently: match the stem
        size = root.find("size")
        try:
            width, height = int(float(size.findtext("width"))), int(float(size.findtext("height")))
        except (AttributeError, TypeError, ValueError):
            raise ToolkitError(
                f"'{file}' has no readable <size><width>/<height>.",
                expected="Pascal VOC XML with the image's size",
                fix="add <size><width>W</width><height>H</height></size>",
            ) from None
        boxes, labels = [], []
        for obj in root.iter("object"):
            box = obj.find("bndbox")
            try:
                values = [float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")]
            except (AttributeError, TypeError, ValueError):
                raise ToolkitError(
                    f"An <object> in '{file}' has no readable <bndbox>.",
                    expected="<bndbox> with <xmin>, <ymin>, <xmax>, <ymax> numbers",
                    fix="correct that object",
                ) from None
            kept = checker.keep(values, width, height, image.name)
            if kept is not None:
                boxes.append(kept)
                labels.append((obj.findtext("name") or "").strip())
        annotations.append(_annotation(image, width, height, boxes, labels))
    checker.report()
    return _not_empty(annotations, f"The VOC folder '{folder}'")


def read_csv(path, images_dir=None, bad_boxes="fail"):
    """A CSV of `filename,width,height,class,xmin,ymin,xmax,ymax`, one row a box (the raccoon CSVs).

    Args:
        path: the .csv file.
        images_dir: the image folder; None: `images/` beside the file, else the file's folder.
        bad_boxes: "fail" or "skip".
    """
    path = pathlib.Path(path)
    images = ImageFolders(_folders(images_dir, [path.parent / "images", path.parent]))
    rows = list(csv.DictReader(io.StringIO(read_text(path), newline="")))
    missing = [c for c in CSV_COLUMNS if rows and c not in rows[0]]
    if missing or not rows:
        raise ToolkitError(
            f"'{path}' " + (f"lacks the column(s) {missing}." if rows else "has no rows."),
            expected=f"a header with {', '.join(CSV_COLUMNS)} and one row per box",
            fix="rename the columns, or convert the file to that layout",
        )
    checker = BoxChecker(bad_boxes, f"'{path}'")
    by_image = {}
    for number, row in enumerate(rows, start=2):
        try:
            width, height = int(float(row["width"])), int(float(row["height"]))
            values = [float(row[k]) for k in ("xmin", "ymin", "xmax", "ymax")]
        except (TypeError, ValueError):
            raise ToolkitError(
                f"Line {number} of '{path}' has a size or coordinate that is not a number.",
                expected="numbers in width, height, xmin, ymin, xmax, ymax",
                fix="correct that line",
            ) from None
        name = row["filename"]
        if name not in by_image:
            by_image[name] = (images.find(name, f"Line {number} of '{path}'"), width, height, [], [])
        kept = checker.keep(values, width, height, name)
        if kept is not None:
            by_image[name][3].append(kept)
            by_image[name][4].append(row["class"].strip())
    checker.report()
    return _not_empty([_annotation(*v) for v in by_image.values()], f"'{path}'")


def read_coco(path, images_dir=None, bad_boxes="fail"):
    """COCO JSON: `images` (id, file_name, width, height), `annotations` (image_id, category_id, bbox as
    [x, y, w, h], iscrowd), `categories` (id, name; ids need not be contiguous). Images without
    annotations are negatives; crowd regions (`iscrowd: 1`) are kept as such (see `Annotation`).

    Args:
        path: the .json file.
        images_dir: the image folder; None: searched where COCO keeps them: for
            `annotations/instances_train2017.json`, the sibling `train2017/` (the split's name), then
            `images/train2017/`, `images/` and the file's own folder.
        bad_boxes: "fail" or "skip".
    """
    path = pathlib.Path(path)
    split = path.stem.split("_")[-1]  # instances_train2017 -> train2017
    root = path.parent.parent
    images_folders = ImageFolders(
        _folders(images_dir, [root / split, root / "images" / split, path.parent / "images", root / "images",
                              path.parent / split, path.parent])
    )  # fmt: skip
    try:
        coco = json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise ToolkitError(
            f"'{path}' is not JSON ({error.msg}).", expected="a COCO instances file", fix="check the file"
        ) from None
    if not isinstance(coco, dict) or not all(
        isinstance(coco.get(k), list) for k in ("images", "annotations", "categories")
    ):
        raise ToolkitError(
            f"'{path}' is not a COCO file: it lacks the lists 'images', 'annotations' and 'categories'.",
            expected='COCO JSON: {"images": [...], "annotations": [...], "categories": [...]}',
            fix="export the annotations as COCO, or use VOC XML, YOLO text or a CSV",
        )
    categories = {}
    for number, category in enumerate(coco["categories"]):
        _require(category, ("id", "name"), f"Category {number}", path, '{"id": 1, "name": "person"}')
        categories[category["id"]] = str(category["name"])
    images = {}
    for number, image in enumerate(coco["images"]):
        _require(image, ("id", "file_name", "width", "height"), f"Image {number}", path,
                 '{"id": 1, "file_name": "000001.jpg", "width": 640, "height": 480}')  # fmt: skip
        width, height = _number(image["width"]), _number(image["height"])
        if width is None or height is None or width <= 0 or height <= 0:
            raise ToolkitError(
                f"Image {image['id']!r} in '{path}' has width {image['width']!r} and height {image['height']!r}.",
                expected="the image's size in pixels, two positive numbers",
                fix="correct that image's entry",
            )
        images[image["id"]] = [images_folders.find(str(image["file_name"]), f"'{path}'"), width, height, [], [], []]
    checker = BoxChecker(bad_boxes, f"'{path}'")
    for number, a in enumerate(coco["annotations"]):
        _require(a, ("image_id", "category_id", "bbox"), f"Annotation {a.get('id', number) if isinstance(a, dict) else number}",
                 path, '{"id": 1, "image_id": 1, "category_id": 1, "bbox": [x, y, width, height]}')  # fmt: skip
        if a.get("image_id") not in images:
            raise ToolkitError(
                f"Annotation {a.get('id')} in '{path}' names image id {a.get('image_id')!r}, which 'images' lacks.",
                expected="every annotation's image_id among the images' ids",
                fix="add the image entry, or remove the annotation",
            )
        if a.get("category_id") not in categories:
            raise ToolkitError(
                f"Annotation {a.get('id')} in '{path}' has category id {a.get('category_id')!r}, which is not among "
                f"the categories {sorted(categories)}.",
                expected="category ids from 'categories'",
                fix="add the category, or correct the annotation",
            )
        bbox = a["bbox"]
        values = [_number(v) for v in bbox] if isinstance(bbox, list) else []
        if len(values) != 4 or None in values:
            raise ToolkitError(
                f"Annotation {a.get('id', number)} in '{path}' has the bbox {bbox!r}.",
                expected="a bbox of four numbers [x, y, width, height] in pixels (COCO's layout)",
                fix="correct that annotation's bbox",
            )
        entry = images[a["image_id"]]
        x, y, w, h = values
        kept = checker.keep([x, y, x + w, y + h], entry[1], entry[2], entry[0].name)
        if kept is not None:
            entry[3].append(kept)
            entry[4].append(categories[a["category_id"]])
            entry[5].append(bool(a.get("iscrowd", 0)))
    checker.report()
    return _not_empty([_annotation(*v) for v in images.values()], f"'{path}'")


def _require(entry, keys, what, path, example):
    """A three-part error when a COCO entry is not an object or lacks one of `keys`."""
    missing = [k for k in keys if k not in entry] if isinstance(entry, dict) else list(keys)
    if missing:
        raise ToolkitError(
            f"{what} in '{path}' lacks {', '.join(repr(k) for k in missing)}"
            + ("" if isinstance(entry, dict) else f" (it is a {type(entry).__name__}, not an object)")
            + ".",
            expected=f"COCO entries with {', '.join(keys)}, e.g. {example}",
            fix="add the missing field(s), or remove that entry",
        )


def _number(value):
    """A JSON number as float; None for anything else (a string, a list, a boolean)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def read_text(path):
    """An annotation file as UTF-8 text, or a three-part error naming it."""
    return readers.read_text(path, "annotation files, as COCO, VOC and YOLO tools write them")


def read_class_names(class_names):
    """A list of class names, or a file with one name per line (classes.txt, obj.names) -> the list."""
    if isinstance(class_names, (str, pathlib.Path)):
        return [n.strip() for n in read_text(class_names).splitlines() if n.strip()]
    return [str(n) for n in class_names]


def read_yolo(labels_dir, class_names, images_dir=None, bad_boxes="fail"):
    """YOLO text files: per image a `.txt` of `class cx cy w h` lines, relative to the image's size (an
    image without a .txt, or with an empty one, is a negative).

    Args:
        labels_dir: the folder of .txt files.
        class_names: the names by class index: a list, or a file with one name per line (classes.txt,
            obj.names).
        images_dir: the image folder; None: `images/` beside `labels_dir`, else `labels_dir` itself.
        bad_boxes: "fail" or "skip".
    """
    from PIL import Image

    folder = pathlib.Path(labels_dir)
    images_dir = _folders(images_dir, [folder.parent / "images", folder])[0]
    names = read_class_names(class_names)
    checker = BoxChecker(bad_boxes, f"the YOLO labels in '{folder}'")
    annotations = []
    for image in sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        with Image.open(image) as opened:
            width, height = opened.size
        boxes, labels = [], []
        label_file = folder / (image.stem + ".txt")
        lines = read_text(label_file).splitlines() if label_file.is_file() else []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            parts = line.split()
            try:
                index, cx, cy, w, h = int(parts[0]), *(float(v) for v in parts[1:])
            except ValueError:  # not numbers, or not five of them
                raise ToolkitError(
                    f"Line {number} of '{label_file}' is not 'class cx cy w h'.",
                    expected="YOLO lines: a class index and four numbers relative to the image size",
                    fix="correct that line",
                ) from None
            if not 0 <= index < len(names):
                raise ToolkitError(
                    f"Line {number} of '{label_file}' has class {index}; there are {len(names)} class names.",
                    expected=f"class indices 0 to {len(names) - 1}",
                    fix="correct the index, or add the missing name to the class names",
                )
            box = [(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height]
            kept = checker.keep(box, width, height, image.name)
            if kept is not None:
                boxes.append(kept)
                labels.append(names[index])
        annotations.append(_annotation(image, width, height, boxes, labels))
    orphans = sorted(
        p.name for p in folder.glob("*.txt") if not any((images_dir / (p.stem + s)).is_file() for s in IMAGE_SUFFIXES)
    )
    orphans = [o for o in orphans if o != "classes.txt"]  # the usual name of the class-names file
    if orphans:
        raise ToolkitError(
            f"'{folder}' has label file(s) {orphans[:5]} with no image of the same name in '{images_dir}'.",
            expected="one image per label file, with the same name",
            fix="add the images, or remove those label files",
        )
    checker.report()
    return _not_empty(annotations, f"The YOLO folder '{folder}'")
