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
import json
import pathlib
import warnings
import xml.etree.ElementTree as ElementTree  # expat refuses entity expansion bombs (Python >= 3.7.1)

import numpy as np

from toolkit.errors import ToolkitError

Annotation = collections.namedtuple("Annotation", ["image", "width", "height", "boxes", "labels"])
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


def _annotation(image, width, height, boxes, labels):
    return Annotation(str(image), int(width), int(height), np.asarray(boxes, np.float32).reshape(-1, 4), list(labels))


def _image_path(folder, name, source):
    path = pathlib.Path(folder) / name
    if not path.is_file():
        raise ToolkitError(
            f"{source} names the image '{name}', which is not in '{folder}'.",
            expected="every annotated image in the image folder",
            fix="add the image, remove its annotation, or point images= at the right folder",
        )
    return path


def _not_empty(annotations, source):
    if not annotations:
        raise ToolkitError(
            f"{source} holds no annotated images.",
            expected="at least one image with its boxes (or with none, as a negative)",
            fix="check the path and the format",
        )
    return annotations


def read_voc(annotations_dir, images_dir=None, bad_boxes="fail"):
    """Pascal VOC: one XML file per image (`annotation/filename`, `size`, `object/name`, `object/bndbox`).

    Args:
        annotations_dir: the folder of .xml files.
        images_dir: the image folder; None: `images/` beside `annotations_dir`, else `annotations_dir` itself.
        bad_boxes: "fail" or "skip" for a box outside its image or without area.
    """
    folder = pathlib.Path(annotations_dir)
    images_dir = pathlib.Path(images_dir) if images_dir else _default_images(folder)
    files = sorted(folder.glob("*.xml"))
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
        image = images_dir / name
        if not image.is_file():  # VOC files often name the image differently from the file; match the stem
            found = [images_dir / (file.stem + s) for s in IMAGE_SUFFIXES if (images_dir / (file.stem + s)).is_file()]
            image = found[0] if found else _image_path(images_dir, name, f"'{file}'")
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


def _default_images(folder):
    """The image folder beside an annotation folder (`images/` next to it), else the folder itself."""
    sibling = folder.parent / "images"
    return sibling if sibling.is_dir() else folder


def _images_beside(file):
    """The image folder of an annotation file: `images/` in its folder, else its folder."""
    inside = file.parent / "images"
    return inside if inside.is_dir() else file.parent


def read_csv(path, images_dir=None, bad_boxes="fail"):
    """A CSV of `filename,width,height,class,xmin,ymin,xmax,ymax`, one row a box (the raccoon CSVs).

    Args:
        path: the .csv file.
        images_dir: the image folder; None: `images/` beside the file, else the file's folder.
        bad_boxes: "fail" or "skip".
    """
    path = pathlib.Path(path)
    images_dir = pathlib.Path(images_dir) if images_dir else _images_beside(path)
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
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
            by_image[name] = (_image_path(images_dir, name, f"Line {number} of '{path}'"), width, height, [], [])
        kept = checker.keep(values, width, height, name)
        if kept is not None:
            by_image[name][3].append(kept)
            by_image[name][4].append(row["class"].strip())
    checker.report()
    return _not_empty([_annotation(*v) for v in by_image.values()], f"'{path}'")


def read_coco(path, images_dir=None, bad_boxes="fail"):
    """COCO JSON: `images` (id, file_name, width, height), `annotations` (image_id, category_id, bbox as
    [x, y, w, h]), `categories` (id, name; ids need not be contiguous). Images without annotations are
    negatives.

    Args:
        path: the .json file.
        images_dir: the image folder; None: `images/` beside the file, else the file's folder.
        bad_boxes: "fail" or "skip".
    """
    path = pathlib.Path(path)
    images_dir = pathlib.Path(images_dir) if images_dir else _images_beside(path)
    try:
        coco = json.loads(path.read_text(encoding="utf-8"))
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
    categories = {c["id"]: str(c["name"]) for c in coco["categories"]}
    images = {}
    for image in coco["images"]:
        images[image["id"]] = [
            _image_path(images_dir, image["file_name"], f"'{path}'"),
            image["width"],
            image["height"],
            [],
            [],
        ]
    checker = BoxChecker(bad_boxes, f"'{path}'")
    for a in coco["annotations"]:
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
        entry = images[a["image_id"]]
        x, y, w, h = (float(v) for v in a["bbox"])
        kept = checker.keep([x, y, x + w, y + h], entry[1], entry[2], entry[0].name)
        if kept is not None:
            entry[3].append(kept)
            entry[4].append(categories[a["category_id"]])
    checker.report()
    return _not_empty([_annotation(*v) for v in images.values()], f"'{path}'")


def read_class_names(class_names):
    """A list of class names, or a file with one name per line (classes.txt, obj.names) -> the list."""
    if isinstance(class_names, (str, pathlib.Path)):
        return [n.strip() for n in pathlib.Path(class_names).read_text(encoding="utf-8").splitlines() if n.strip()]
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
    images_dir = pathlib.Path(images_dir) if images_dir else _default_images(folder)
    names = read_class_names(class_names)
    checker = BoxChecker(bad_boxes, f"the YOLO labels in '{folder}'")
    annotations = []
    for image in sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        with Image.open(image) as opened:
            width, height = opened.size
        boxes, labels = [], []
        label_file = folder / (image.stem + ".txt")
        lines = label_file.read_text(encoding="utf-8").splitlines() if label_file.is_file() else []
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
