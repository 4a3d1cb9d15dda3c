"""Object detection's building blocks: annotations in every format, the generated set, the pipeline, center
targets. The task itself (and the detector learning) is tested in test_object_detection_task.py."""

import json

import numpy as np
import pytest
from PIL import Image

import toolkit
from tasks.object_detection import annotations as ann
from tests.conftest import real_data

# One hand-written truth: image name, size, boxes (xmin, ymin, xmax, ymax in pixels) with labels.
TRUTH = {
    "a.png": (64, 48, [((4, 6, 30, 40), "cat"), ((32, 8, 60, 24), "dog")]),
    "b.png": (40, 40, [((0, 0, 40, 40), "dog")]),
    "c.png": (32, 20, []),  # a negative: no boxes
}
CLASSES = ["cat", "dog"]


def _images(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for name, (w, h, _) in TRUTH.items():
        Image.new("RGB", (w, h), (120, 30, 60)).save(folder / name)
    return folder


def _write_voc(root):
    (root / "annotations").mkdir(parents=True)
    for name, (w, h, boxes) in TRUTH.items():
        objects = "".join(
            f"<object><name>{label}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax>"
            f"<ymax>{b[3]}</ymax></bndbox></object>"
            for b, label in boxes
        )
        xml = f"<annotation><filename>{name}</filename><size><width>{w}</width><height>{h}</height></size>{objects}</annotation>"
        (root / "annotations" / (name[:-4] + ".xml")).write_text(xml)
    return ann.read_voc(root / "annotations")


def _write_coco(root):
    ids = {"cat": 3, "dog": 17}  # not contiguous, as COCO's are not
    images, annotations = [], []
    for k, (name, (w, h, boxes)) in enumerate(TRUTH.items()):
        images.append({"id": 100 + k, "file_name": name, "width": w, "height": h})
        for b, label in boxes:
            bbox = [b[0], b[1], b[2] - b[0], b[3] - b[1]]
            annotations.append({"id": len(annotations), "image_id": 100 + k, "category_id": ids[label], "bbox": bbox})
    categories = [{"id": i, "name": n} for n, i in ids.items()]
    path = root / "instances_train.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return ann.read_coco(path)


def _write_yolo(root):
    (root / "labels").mkdir(parents=True)
    for name, (w, h, boxes) in TRUTH.items():
        lines = [
            f"{CLASSES.index(label)} {(b[0] + b[2]) / 2 / w} {(b[1] + b[3]) / 2 / h} {(b[2] - b[0]) / w} {(b[3] - b[1]) / h}"
            for b, label in boxes
        ]
        if lines:  # c.png has no label file at all: a negative
            (root / "labels" / (name[:-4] + ".txt")).write_text("\n".join(lines) + "\n")
    (root / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    return ann.read_yolo(root / "labels", root / "classes.txt")


def _write_csv(root):
    rows = ["filename,width,height,class,xmin,ymin,xmax,ymax"]
    rows += [
        f"{name},{w},{h},{label},{b[0]},{b[1]},{b[2]},{b[3]}"
        for name, (w, h, boxes) in TRUTH.items()
        for b, label in boxes
    ]
    path = root / "labels.csv"
    path.write_text("\n".join(rows) + "\n")
    return ann.read_csv(path)


@pytest.mark.parametrize("writer", [_write_voc, _write_coco, _write_yolo, _write_csv])
def test_every_format_reads_the_same_boxes(writer, tmp_path):
    _images(tmp_path / "images")
    found = {a.image.rsplit("/", 1)[-1]: a for a in writer(tmp_path)}
    expected = TRUTH if writer is not _write_csv else {k: v for k, v in TRUTH.items() if v[2]}  # a CSV row is a box
    assert set(found) == set(expected)
    for name, (w, h, boxes) in expected.items():
        a = found[name]
        assert (a.width, a.height) == (w, h) and a.labels == [label for _, label in boxes]
        np.testing.assert_allclose(a.boxes, np.array([b for b, _ in boxes], np.float32).reshape(-1, 4), atol=1e-4)
        assert a.boxes.dtype == np.float32 and a.boxes.shape == (len(boxes), 4)


def test_raccoon_voc_and_csv_hold_the_same_boxes():
    raccoon = real_data("raccoon")
    voc = {a.image.rsplit("/", 1)[-1]: a for a in ann.read_voc(raccoon / "annotations", raccoon / "images")}
    csv_ = {}
    for part in ("train_labels.csv", "test_labels.csv"):
        csv_.update({a.image.rsplit("/", 1)[-1]: a for a in ann.read_csv(raccoon / part, raccoon / "images")})
    assert len(voc) == 200 and set(csv_) == set(voc)
    assert sum(len(a.boxes) for a in voc.values()) == sum(len(a.boxes) for a in csv_.values())
    for name, a in voc.items():
        np.testing.assert_allclose(np.sort(a.boxes, axis=0), np.sort(csv_[name].boxes, axis=0))
        assert sorted(a.labels) == sorted(csv_[name].labels) and set(a.labels) == {"raccoon"}


def test_bad_boxes_fail_naming_the_image_or_are_skipped_and_counted(tmp_path):
    _images(tmp_path / "images")
    path = tmp_path / "labels.csv"
    path.write_text(
        "filename,width,height,class,xmin,ymin,xmax,ymax\n"
        "a.png,64,48,cat,4,6,30,40\n"
        "a.png,64,48,dog,10,10,90,20\n"  # past the right border
        "b.png,40,40,dog,20,5,20,30\n"  # no width
        "b.png,40,40,dog,0,0,40.4,40\n"  # past the border by rounding only: clipped, kept
    )
    with pytest.raises(toolkit.ToolkitError, match="box .* of image 'a.png' lies outside the 64x48 image"):
        ann.read_csv(path)
    with pytest.warns(UserWarning, match="Skipped 2 bad box"):
        found = {a.image.rsplit("/", 1)[-1]: a for a in ann.read_csv(path, bad_boxes="skip")}
    assert len(found["a.png"].boxes) == 1 and found["b.png"].boxes.tolist() == [[0, 0, 40, 40]]


@pytest.mark.parametrize(
    "files, reader, message",
    [
        ({"x.json": '{"images": []}'}, lambda r: ann.read_coco(r / "x.json"), "is not a COCO file"),
        ({"x.json": "[1, 2"}, lambda r: ann.read_coco(r / "x.json"), "is not JSON"),
        (
            {
                "x.json": json.dumps(
                    {
                        "images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
                        "annotations": [{"id": 9, "image_id": 1, "category_id": 5, "bbox": [1, 1, 5, 5]}],
                        "categories": [{"id": 1, "name": "cat"}],
                    }
                )
            },
            lambda r: ann.read_coco(r / "x.json"),
            "category id 5, which is not among the categories",
        ),  # fmt: skip
        (
            {
                "x.json": json.dumps(
                    {
                        "images": [{"id": 1, "file_name": "gone.png", "width": 9, "height": 9}],
                        "annotations": [],
                        "categories": [],
                    }
                )
            },
            lambda r: ann.read_coco(r / "x.json"),
            "names the image 'gone.png'",
        ),  # fmt: skip
        (
            {"x.json": json.dumps({"images": [], "annotations": [], "categories": []})},
            lambda r: ann.read_coco(r / "x.json"),
            "holds no annotated images",
        ),
        ({"labels/a.txt": "2 0.5 0.5 0.1 0.1\n"}, lambda r: ann.read_yolo(r / "labels", CLASSES), "has class 2"),
        ({"labels/a.txt": "0 0.5 0.5\n"}, lambda r: ann.read_yolo(r / "labels", CLASSES), "is not 'class cx cy w h'"),
        (
            {"labels/z.txt": "0 0.5 0.5 0.1 0.1\n"},
            lambda r: ann.read_yolo(r / "labels", CLASSES),
            r"\['z.txt'\] with no image",
        ),
        ({"annotations/a.xml": "<annotation><size>"}, lambda r: ann.read_voc(r / "annotations"), "is not readable XML"),
        ({"l.csv": "name,box\nx,1\n"}, lambda r: ann.read_csv(r / "l.csv"), "lacks the column"),
    ],
)
def test_bad_annotation_files_are_three_part_errors(files, reader, message, tmp_path):
    _images(tmp_path / "images")
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
    with pytest.raises(toolkit.ToolkitError, match=message) as error:
        reader(tmp_path)
    assert "Expected:" in str(error.value) and "Fix:" in str(error.value)


def test_generated_shapes_have_tight_boxes_negatives_and_a_fixed_seed():
    from tasks.object_detection.shapes import CLASSES, generated_shapes

    images, targets = generated_shapes(60, size=64, seed=3)
    painted = images.min(axis=-1) >= 130  # shapes are drawn in channels >= 130, backgrounds stay <= 128
    negatives = 0
    for image_painted, (boxes, labels) in zip(painted, targets):
        negatives += len(boxes) == 0
        inside = np.zeros_like(image_painted)
        for (x0, y0, x1, y1), label in zip(boxes.astype(int), labels):
            region = image_painted[y0:y1, x0:x1]
            assert region[0].any() and region[-1].any() and region[:, 0].any() and region[:, -1].any()  # tight
            inside[y0:y1, x0:x1] = True
            assert 0 <= label < len(CLASSES)
        assert not (image_painted & ~inside).any()  # no painted pixel outside every box
    assert 0 < negatives < 20
    again, again_targets = generated_shapes(60, size=64, seed=3)
    assert np.array_equal(again, images) and all(np.array_equal(a[0], b[0]) for a, b in zip(again_targets, targets))


def _painted_boxes_agree(images, boxes, labels, slack):
    """Every kept box holds painted pixels, and every painted pixel lies in some box (within `slack` px)."""
    painted = images.min(axis=-1) >= 130
    for image_painted, image_boxes, image_labels in zip(painted, boxes, labels):
        covered = np.zeros_like(image_painted)
        for (x0, y0, x1, y1), label in zip(image_boxes, image_labels):
            if label < 0:
                continue
            # A box clipped to a sliver at the border holds only blurred pixels: look within `slack` of it.
            lo_x, lo_y = max(0, int(x0 - slack)), max(0, int(y0 - slack))
            assert image_painted[lo_y : int(np.ceil(y1 + slack)), lo_x : int(np.ceil(x1 + slack))].any()
            lo_x, lo_y = max(0, int(x0 - slack)), max(0, int(y0 - slack))
            covered[lo_y : int(np.ceil(y1 + slack)), lo_x : int(np.ceil(x1 + slack))] = True
        assert not (image_painted & ~covered).any()


def test_the_pipeline_moves_boxes_with_the_pixels_and_streams_files(tmp_path):
    from tasks.object_detection.pipeline import box_dataset
    from tasks.object_detection.shapes import generated_shapes

    images, targets = generated_shapes(24, size=64, seed=5)
    plain = [(x.numpy(), y) for x, y in box_dataset(images, targets, 64, batch_size=8)]
    flipped = [(x.numpy(), y) for x, y in box_dataset(images, targets, 64, augment=("flip",), seed=1, batch_size=8)]
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(plain, flipped))  # some images were flipped
    for x, y in plain + flipped:  # a flipped image's boxes are the flipped boxes: exact, at the same size
        _painted_boxes_agree(x, y["boxes"].numpy(), y["labels"].numpy(), slack=0)
    for x, y in box_dataset(images, targets, 64, augment=("zoom", "translate"), seed=2, batch_size=8):
        _painted_boxes_agree(x.numpy(), y["boxes"].numpy(), y["labels"].numpy(), slack=2)  # interpolation blurs edges
    negatives = [k for k, (b, _) in enumerate(targets) if len(b) == 0]
    rows = [row for _, y in plain for row in y["labels"].numpy()]
    assert negatives and all((rows[k] == -1).all() for k in negatives)  # images without boxes pass through
    # From files, at another size: the same boxes, scaled.
    paths = []
    for k, image in enumerate(images):
        paths.append(tmp_path / f"{k}.png")
        Image.fromarray(image).save(paths[-1])
    (x, y), (_, y0) = next(iter(box_dataset(paths, targets, 32, batch_size=8))), plain[0]
    assert x.shape == (8, 32, 32, 3)
    np.testing.assert_allclose(y["boxes"].numpy(), y0["boxes"].numpy() / 2, atol=1e-5)
    assert np.array_equal(y["labels"].numpy(), y0["labels"].numpy())


def test_augmentation_is_drawn_from_the_seed():
    from tasks.object_detection.pipeline import box_dataset
    from tasks.object_detection.shapes import generated_shapes

    images, targets = generated_shapes(16, size=64, seed=5)

    def draws(seed):
        dataset = box_dataset(images, targets, 64, augment=("flip", "zoom", "translate", "color"), seed=seed,
                              shuffle=True, batch_size=8)  # fmt: skip
        return [np.concatenate([y["boxes"].numpy().ravel() for _, y in dataset]) for _epoch in range(2)]

    first, again, other = draws(1), draws(1), draws(2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))  # the same seed, the same boxes
    assert not np.array_equal(first[0], first[1])  # each pass draws anew
    assert not np.array_equal(first[0], other[0])


def test_center_targets_decode_back_to_the_boxes_and_nms_removes_duplicates():
    import tensorflow as tf

    from tasks.object_detection import centers

    boxes = np.array([[8, 12, 40, 36], [44, 4, 60, 30], [0, 0, 0, 0]], np.float32)  # the last is padding
    labels = np.array([1, 0, -1], np.int32)
    targets = centers.encode(boxes, labels, 64, 3)
    assert targets["heatmap"].shape == (16, 16, 3) and float(tf.reduce_sum(targets["mask"])) == 2.0
    assert float(tf.reduce_max(targets["heatmap"][..., 2])) == 0.0  # no box of class 2
    found = centers.decode(*(targets[k][None] for k in ("heatmap", "size", "offset")), score_threshold=0.9)
    count = int(found["count"][0])
    got = sorted(zip(found["labels"][0, :count].numpy().tolist(), found["boxes"][0, :count].numpy().tolist()))
    assert [label for label, _ in got] == [0, 1]
    np.testing.assert_allclose([box for _, box in got], boxes[[1, 0]], atol=1e-4)
    assert found["scores"][0, :count].numpy() == pytest.approx([1.0, 1.0])
    # Two peaks of one class on overlapping boxes: suppression keeps the stronger; without it both stay.
    heatmap = np.zeros((1, 16, 16, 1), np.float32)
    heatmap[0, 5, 5, 0], heatmap[0, 5, 7, 0] = 0.9, 0.8
    size = np.full((1, 16, 16, 2), 6.0, np.float32)
    offset = np.zeros((1, 16, 16, 2), np.float32)
    kept = centers.decode(heatmap, size, offset, score_threshold=0.5, iou_threshold=0.3)
    both = centers.decode(heatmap, size, offset, score_threshold=0.5, iou_threshold=None)
    assert int(kept["count"][0]) == 1 and float(kept["scores"][0, 0]) == pytest.approx(0.9)
    assert int(both["count"][0]) == 2


def test_center_loss_is_small_for_the_targets_and_large_for_a_blank_guess():
    import tensorflow as tf

    from tasks.object_detection import centers

    targets = centers.encode(np.array([[8, 12, 40, 36]], np.float32), np.array([0], np.int32), 64, 2)
    heat = targets["heatmap"][None]
    perfect = tf.math.log(tf.clip_by_value(heat, 1e-6, 1 - 1e-6) / (1 - tf.clip_by_value(heat, 1e-6, 1 - 1e-6)))
    blank = tf.fill(tf.shape(heat), -2.0)  # sigmoid 0.12 everywhere
    assert float(centers.heatmap_loss(heat, perfect)[0]) < 0.5 * float(centers.heatmap_loss(heat, blank)[0])
    mask = targets["mask"][None]
    assert float(centers.masked_l1(targets["size"][None], targets["size"][None], mask)[0]) == 0.0
    assert float(
        centers.masked_l1(targets["size"][None], tf.zeros_like(targets["size"][None]), mask)[0]
    ) == pytest.approx((32 + 24) / 4)
