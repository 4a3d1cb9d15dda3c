"""Detection datasets in the layouts they ship in (COCO, the VOC devkit, Ultralytics YOLO), images kept
away from their annotations, COCO's crowd regions, and malformed COCO files as three-part errors."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import toolkit
from tasks.object_detection import annotations as ann
from tasks.object_detection import data as detection_data
from toolkit import detection_metrics

# name: (width, height, [((xmin, ymin, xmax, ymax), label), ...]); the part each image is in
TRAIN = {"t1.jpg": (64, 48, [((4, 6, 30, 40), "cat")]), "t2.jpg": (40, 40, [((2, 2, 38, 30), "dog")])}
VAL = {"v1.jpg": (50, 40, [((10, 10, 40, 30), "dog")])}
CLASSES = ["cat", "dog"]


def _save_images(folder, truth):
    folder.mkdir(parents=True, exist_ok=True)
    for name, (w, h, _) in truth.items():
        Image.new("RGB", (w, h), (90, 140, 20)).save(folder / name)


def _coco_json(truth, crowd=()):
    ids = {"cat": 3, "dog": 17}
    images, annotations = [], []
    for k, (name, (w, h, boxes)) in enumerate(truth.items()):
        images.append({"id": k + 1, "file_name": name, "width": w, "height": h})
        for b, label in boxes:
            annotations.append({"id": len(annotations) + 1, "image_id": k + 1, "category_id": ids[label],
                                "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "iscrowd": int(name in crowd)})  # fmt: skip
    return {"images": images, "annotations": annotations, "categories": [{"id": i, "name": n} for n, i in ids.items()]}


def write_coco_root(root):
    """COCO as it downloads: annotations/instances_{train,val}2017.json, images in train2017/ and val2017/."""
    (root / "annotations").mkdir(parents=True)
    for split, truth in (("train2017", TRAIN), ("val2017", VAL)):
        _save_images(root / split, truth)
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(_coco_json(truth)))
    return root


def write_voc_devkit(root):
    """VOCdevkit/VOC2007/{Annotations, JPEGImages, ImageSets/Main/{train,val,trainval}.txt}."""
    voc = root / "VOCdevkit" / "VOC2007"
    (voc / "Annotations").mkdir(parents=True)
    (voc / "ImageSets" / "Main").mkdir(parents=True)
    _save_images(voc / "JPEGImages", {**TRAIN, **VAL})
    for name, (w, h, boxes) in {**TRAIN, **VAL}.items():
        objects = "".join(
            f"<object><name>{label}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax>"
            f"<ymax>{b[3]}</ymax></bndbox></object>"
            for b, label in boxes
        )
        (voc / "Annotations" / (name[:-4] + ".xml")).write_text(
            f"<annotation><filename>{name}</filename><size><width>{w}</width><height>{h}</height></size>"
            f"{objects}</annotation>"
        )
    main = voc / "ImageSets" / "Main"
    main.joinpath("train.txt").write_text("".join(n[:-4] + "\n" for n in TRAIN))
    main.joinpath("val.txt").write_text("".join(n[:-4] + "\n" for n in VAL))
    main.joinpath("trainval.txt").write_text("".join(n[:-4] + "\n" for n in {**TRAIN, **VAL}))
    return root / "VOCdevkit"


def write_ultralytics(root):
    """data.yaml (path, train, val, names as a dict) with images/{train,val} and labels/{train,val}."""
    for split, truth in (("train", TRAIN), ("val", VAL)):
        _save_images(root / "images" / split, truth)
        (root / "labels" / split).mkdir(parents=True)
        for name, (w, h, boxes) in truth.items():
            lines = [
                f"{CLASSES.index(label)} {(b[0] + b[2]) / 2 / w} {(b[1] + b[3]) / 2 / h} {(b[2] - b[0]) / w} "
                f"{(b[3] - b[1]) / h}"
                for b, label in boxes
            ]
            (root / "labels" / split / (name[:-4] + ".txt")).write_text("\n".join(lines) + "\n")
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\nnames:\n  0: cat\n  1: dog\n")
    return root


def _names_and_boxes(source):
    by_name = {str(image).rsplit("/", 1)[-1]: target for image, target in zip(source.images, source.targets)}
    return {name: (np.round(b).astype(int).tolist(), [source.classes[i] for i in labels])
            for name, (b, labels) in by_name.items()}  # fmt: skip


def _expected(truth):
    return {name: ([list(b) for b, _ in boxes], [label for _, label in boxes]) for name, (_, _, boxes) in truth.items()}


@pytest.mark.parametrize("writer", [write_coco_root, write_voc_devkit, write_ultralytics])
def test_dataset_roots_are_read_with_their_official_parts(writer, tmp_path):
    root = writer(tmp_path / "dataset")
    train = detection_data.load_source(str(root))
    assert _names_and_boxes(train) == _expected(TRAIN)
    assert detection_data.official_validation(str(root))
    assert _names_and_boxes(detection_data.load_source(str(root), part="val")) == _expected(VAL)
    with pytest.raises(toolkit.ToolkitError, match="has no 'test' part"):
        detection_data.load_source(str(root), part="test")


def test_a_coco_file_finds_its_split_folder_and_a_pair_or_images_dir_points_anywhere(tmp_path):
    root = write_coco_root(tmp_path / "coco")
    file = root / "annotations" / "instances_val2017.json"
    assert _names_and_boxes(detection_data.load_source(str(file))) == _expected(VAL)  # images in ../val2017
    elsewhere = tmp_path / "pictures"
    (root / "val2017").rename(elsewhere)
    with pytest.raises(toolkit.ToolkitError) as error:
        detection_data.load_source(str(file))
    message = str(error.value)
    # Every folder searched is named, and the argument that fixes it.
    assert str(root / "val2017") in message and str(root / "annotations") in message
    assert "images_dir=" in message and "--images-dir" in message and "Expected:" in message
    assert _names_and_boxes(detection_data.load_source((str(elsewhere), str(file)))) == _expected(VAL)
    assert _names_and_boxes(detection_data.load_source(str(file), images_dir=str(elsewhere))) == _expected(VAL)


def test_the_detector_trains_on_a_coco_root_with_its_val_part_as_validation(tmp_path):
    from tasks import ObjectDetector

    root = write_coco_root(tmp_path / "coco")
    detector = ObjectDetector(epochs=1, patience=1, image_size=32, width=4, augment=(), test_split=0.0, verbose=0,
                              save_dir=str(tmp_path / "runs"), run_name="coco").fit(str(root))  # fmt: skip
    info = json.loads((pathlib.Path(detector.run_dir) / "metrics.json").read_text())["data"]
    assert info["validation"].endswith("(its official val part)") and info["validation_examples"] == 1
    assert info["train_examples"] == 2 and info["layout"] == "COCO (train, val)"


def test_coco_crowd_regions_reach_cocoeval(tmp_path):
    """A crowd region and two detections inside it: COCOeval ignores them (mAP 1.0); read as ordinary boxes
    they would be missed objects and false positives."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    truth = {"images": [{"id": 1, "width": 200, "height": 200}], "categories": [{"id": 0, "name": "person"}],
             "annotations": [{"id": 1, "image_id": 1, "category_id": 0, "bbox": [10, 10, 30, 30], "area": 900, "iscrowd": 0},
                             {"id": 2, "image_id": 1, "category_id": 0, "bbox": [100, 100, 90, 90], "area": 8100, "iscrowd": 1}]}  # fmt: skip
    found = [{"image_id": 1, "category_id": 0, "bbox": [10, 10, 30, 30], "score": 0.9},
             {"image_id": 1, "category_id": 0, "bbox": [110, 110, 20, 20], "score": 0.95},
             {"image_id": 1, "category_id": 0, "bbox": [150, 150, 30, 30], "score": 0.8}]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = truth
        coco.createIndex()
        reference = COCOeval(coco, coco.loadRes(found), "bbox")
        reference.evaluate(), reference.accumulate(), reference.summarize()
    xyxy = [[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in truth["annotations"])]
    ours = detection_metrics.detection_scores(
        [(np.array(xyxy), np.array([0, 0]), np.array([False, True]))],
        [(np.array([[x, y, x + w, y + h] for x, y, w, h in (d["bbox"] for d in found)]), np.zeros(3, int),
          np.array([d["score"] for d in found]))],
        ["person"], score_threshold=0.5,
    )  # fmt: skip
    assert reference.stats[0] == pytest.approx(1.0)
    assert ours["map"] == pytest.approx(reference.stats[0]) and ours["map_50"] == pytest.approx(reference.stats[1])
    assert ours["precision_at_threshold"] == 1.0 and ours["recall_at_threshold"] == 1.0

    # Read from a COCO file, the crowd flag travels with the box as its own label (training skips it).
    _save_images(tmp_path / "images", {"a.jpg": (200, 200, [])})
    truth["images"][0]["file_name"] = "a.jpg"
    (tmp_path / "instances_x.json").write_text(json.dumps(truth))
    read = ann.read_coco(tmp_path / "instances_x.json")
    assert read[0].crowd == [False, True]
    source = detection_data.load_source(str(tmp_path / "instances_x.json"))
    classes, crowd = detection_data.split_crowd(source.targets[0][1])
    assert classes.tolist() == [0, 0] and crowd.tolist() == [False, True]


GOOD = {"images": [{"id": 1, "file_name": "a.jpg", "width": 20, "height": 20}],
        "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}],
        "categories": [{"id": 1, "name": "cat"}]}  # fmt: skip


def _broken(part, index, change):
    coco = json.loads(json.dumps(GOOD))
    entry = coco[part][index]
    for key, value in change.items():
        if value is None:
            entry.pop(key)
        else:
            entry[key] = value
    return json.dumps(coco).encode()


@pytest.mark.parametrize(
    "content, message",
    [
        (_broken("images", 0, {"file_name": None}), "Image 0 in .* lacks 'file_name'"),
        (_broken("annotations", 0, {"bbox": None}), "Annotation 7 in .* lacks 'bbox'"),
        (_broken("annotations", 0, {"bbox": [1, 2, 3]}), r"Annotation 7 in .* has the bbox \[1, 2, 3\]"),
        (_broken("annotations", 0, {"bbox": ["1", 2, 3, 4]}), "has the bbox"),
        (_broken("categories", 0, {"name": None}), "Category 0 in .* lacks 'name'"),
        (_broken("images", 0, {"width": "wide"}), "has width 'wide'"),
        (json.dumps(GOOD).replace('"cat"', '"chat\u00e9"').encode("latin-1"), "is not UTF-8 text"),
    ],
)
def test_malformed_coco_files_are_three_part_errors(content, message, tmp_path):
    _save_images(tmp_path / "images", {"a.jpg": (20, 20, [])})
    (tmp_path / "instances_x.json").write_bytes(content)
    with pytest.raises(toolkit.ToolkitError, match=message) as error:
        ann.read_coco(tmp_path / "instances_x.json")
    assert "Expected:" in str(error.value) and "Fix:" in str(error.value)


def test_the_cli_refuses_a_malformed_coco_file_with_exit_2_and_no_run_folder(tmp_path):
    _save_images(tmp_path / "data" / "images", {"a.jpg": (20, 20, [])})
    (tmp_path / "data" / "instances_x.json").write_bytes(_broken("annotations", 0, {"bbox": [1, 2, 3]}))
    result = subprocess.run(
        [sys.executable, "-m", "toolkit.cli", "train", "object-detection", "--data",
         str(tmp_path / "data" / "instances_x.json"), "--save-dir", str(tmp_path / "runs"), "--epochs", "1"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "has the bbox [1, 2, 3]" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("config.json"))
