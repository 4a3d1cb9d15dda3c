"""Image segmentation: the shared battery, joint augmentation, data forms, membrane bar, presets."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import toolkit
from tasks import ImageSegmenter
from tasks.image_segmentation.augment import augment_pair
from tasks.image_segmentation.data import shapes
from tests.conftest import real_data, tiny_keras_hub_resnet
from tests.tasks.battery import TaskBattery
from toolkit import data as data_lib
from toolkit.preprocessing import Index

ROOT = pathlib.Path(__file__).resolve().parents[2]

SHAPES_X, SHAPES_Y, SHAPE_NAMES = shapes(count=48, size=32)
SMALL = {"backbone": "unet", "width": 4, "depth": 2, "image_size": 32}


def _masks_with(value):
    masks = SHAPES_Y[:4].astype("float64")
    masks[1, 3, 3] = value
    return masks


def _images_with_nan():
    images = SHAPES_X[:4].astype("float32")
    images[2, 0, 0, 0] = np.nan
    return images


class TestImageSegmenterBattery(TaskBattery):
    task_class = ImageSegmenter

    def task_kwargs(self):
        return dict(SMALL)

    def train_data(self):
        return SHAPES_X, SHAPES_Y

    def predict_inputs(self):
        return [SHAPES_X[0], np.zeros((40, 48, 3), np.uint8), SHAPES_X[1][:20]]

    def model_inputs(self, task):
        return SHAPES_X[:3].astype("float32")

    def assert_same_predictions(self, before, after):
        assert len(before) == len(after)
        for a, b in zip(before, after):
            np.testing.assert_array_equal(a, b)

    def bad_inputs(self):
        return [
            ((SHAPES_X[:4], SHAPES_Y[:4, :, :30]), "differ in size: image 0 is 32x32 but its mask is 32x30"),
            ("/no/such/folder", "does not exist"),
            ((SHAPES_X[:4], np.zeros_like(SHAPES_Y[:4])), "single class"),
            ((SHAPES_X[:4], _masks_with(-1)), "holds class index -1"),
            ((SHAPES_X[:4], _masks_with(300)), "holds class index 300"),
            ((SHAPES_X[:4], _masks_with(np.nan)), "NaN or infinite"),
            ((SHAPES_X[:4], _masks_with(0.5)), "fractional values"),
            ((_images_with_nan(), SHAPES_Y[:4]), "NaN or infinite values"),
        ]

    def bad_arguments(self):
        return [
            ({"depth": 0}, "depth=0 is not valid"),
            ({"image_size": 30}, "does not divide by 2\\*\\*depth = 4"),
            ({"augment": ("flip", "blur")}, "Unknown augmentation 'blur'"),
            ({"loss": "focal"}, "loss='focal' is not valid"),
            ({"backbone": "mlp"}, "Unknown backbone 'mlp'"),
        ]

    def check_prediction(self, task, prediction):
        assert prediction.dtype == np.uint8 and prediction.ndim == 2
        assert prediction.max() < len(task.classes_)

    def test_masks_come_back_at_each_images_size(self, fitted):
        shapes_out = [m.shape for m in fitted.predict(self.predict_inputs())]
        assert shapes_out == [(32, 32), (40, 48), (20, 32)]


# ------------------------------------------------------------ augmentation
def _aligned_fraction(image, mask):
    """Share of pixels where the image (which encodes the mask as 60 x class) agrees with the mask.

    Pixels that a resize blended between classes (values between multiples of 60) are left out.
    """
    value = np.asarray(image)[..., 0] / 60
    whole = np.abs(value - np.round(value)) < 0.02
    return float(np.mean(np.round(value)[whole] == np.asarray(mask)[whole]))


@pytest.mark.parametrize("names", [("flip",), ("rotate90",), ("crop",), ("flip", "rotate90", "crop")])
def test_joint_augmentation_keeps_image_and_mask_aligned(names):
    mask = SHAPES_Y[:16].astype("int32")
    image = np.repeat((mask * 60)[..., None], 3, axis=-1).astype("float32")
    changed = 0
    for i in range(16):
        out_image, out_mask = augment_pair(image[i], mask[i], seed=[i, 7], names=names)
        assert out_image.shape == (32, 32, 3) and out_mask.shape == (32, 32) and out_mask.dtype == tf.int32
        # Flips and quarter turns move pixels exactly; a crop is resized, and nearest and bilinear
        # resizing may pick a neighbouring pixel at a class edge.
        assert _aligned_fraction(out_image, out_mask) >= (1.0 if "crop" not in names else 0.98)
        changed += not np.array_equal(out_mask, mask[i])
        # The control: the same image moved with another seed no longer matches this mask.
        other_image, _ = augment_pair(image[i], mask[i], seed=[i, 8], names=names)
        if not np.array_equal(other_image, out_image):
            assert _aligned_fraction(other_image, out_mask) < 0.97
    assert changed >= 8  # the augmentation really changes most pairs


def test_training_pipeline_augments_pairs_together(fast):
    seg = ImageSegmenter(augment=("flip", "rotate90", "crop"), **{**fast, **SMALL})
    seg.preprocessor_ = seg.make_preprocessor()
    seg.classes_, seg.image_size_, seg.channels_ = SHAPE_NAMES, (32, 32), 3
    mask = SHAPES_Y[:16]
    image = np.repeat((mask * 60)[..., None], 3, axis=-1)
    part = Index(image.astype(np.uint8), mask)

    def training_batches():
        return seg.preprocessor_.dataset(part, training=True, batch_size=seg._global_batch_size(), seed=seg.seed)

    dataset = training_batches()
    batches = list(dataset)
    for images, masks in batches:
        assert _aligned_fraction(images, masks) >= 0.98
    first_pass = np.concatenate([m for _, m in batches])
    second_pass = np.concatenate([m for _, m in dataset])
    assert not np.array_equal(first_pass, second_pass)  # a new draw each epoch
    again = np.concatenate([m for _, m in training_batches()])
    np.testing.assert_array_equal(first_pass, again)  # and the same draws for the same seed


# --------------------------------------------------------------- data forms
@pytest.fixture
def mask_folder(tmp_path):
    """image/ and label/ subfolders: grey PNG images, 0/255 binary masks (like the membrane data)."""
    for sub in ("image", "label"):
        (tmp_path / "data" / sub).mkdir(parents=True)
    for i in range(12):
        binary = (SHAPES_Y[i] > 0).astype(np.uint8) * 255
        Image.fromarray(SHAPES_X[i].mean(axis=-1).astype(np.uint8)).save(tmp_path / "data" / "image" / f"{i}.png")
        Image.fromarray(binary).save(tmp_path / "data" / "label" / f"{i}.png")
    return tmp_path / "data"


def test_folder_of_binary_masks(mask_folder, fast):
    seg = ImageSegmenter(**{**fast, **SMALL}, class_names=("background", "shape")).fit(str(mask_folder))
    assert seg.classes_ == ["background", "shape"] and seg.channels_ == 1
    metrics = json.loads((pathlib.Path(seg.run_dir) / "metrics.json").read_text())["validation"]
    assert set(metrics) >= {"pixel_accuracy", "mean_iou", "dice", "loss", "per_class", "confusion_matrix"}
    assert set(metrics["per_class"]["shape"]) == {"iou", "dice", "pixels"}
    seg.predict([str(mask_folder / "image" / "0.png")], overlays=True)
    overlay = np.asarray(Image.open(pathlib.Path(seg.run_dir) / "overlays" / "0_overlay.png"))
    # the 32x32 image, then a legend strip of one row per class, wide enough for "background (not coloured)"
    assert overlay.shape[0] == 32 + 2 * 14 + 4 and overlay.shape[1] > 100
    legend = overlay[32:]
    assert (legend == [230, 25, 75]).all(axis=-1).sum() >= 50  # the swatch of class 1 ("shape")
    assert (legend.sum(axis=-1) < 200).sum() > 100  # dark text and swatch outlines on white


def test_palette_masks_and_folder_pair(tmp_path, fast):
    for sub in ("pics", "anns"):
        (tmp_path / sub).mkdir()
    for i in range(10):
        Image.fromarray(SHAPES_X[i]).save(tmp_path / "pics" / f"img{i}.jpg")
        palette = Image.fromarray(SHAPES_Y[i], mode="P")
        palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 756)
        palette.save(tmp_path / "anns" / f"img{i}.png")
    seg = ImageSegmenter(**{**fast, **SMALL}).fit((str(tmp_path / "pics"), str(tmp_path / "anns")))
    assert seg.classes_ == ["0", "1", "2", "3"]


def test_unmatched_and_mismatched_files_are_named(mask_folder, fast):
    (mask_folder / "label" / "3.png").unlink()
    with pytest.raises(toolkit.ToolkitError, match=r"1 images have no mask of the same name .*\['3.png'\]"):
        ImageSegmenter(**fast).fit(str(mask_folder))
    Image.fromarray(np.zeros((30, 32), np.uint8)).save(mask_folder / "label" / "3.png")
    with pytest.raises(toolkit.ToolkitError, match=r"'.*3.png' is 32x32 but its mask is 30x32"):
        ImageSegmenter(**fast).fit(str(mask_folder))
    with pytest.raises(toolkit.ToolkitError, match="no image and mask subfolders"):
        ImageSegmenter(**fast).fit(str(mask_folder / "image"))
    with pytest.raises(toolkit.ToolkitError, match="Unknown augmentation 'blur'"):
        ImageSegmenter(augment=("blur",), **fast).fit((SHAPES_X, SHAPES_Y))
    with pytest.raises(toolkit.ToolkitError, match="class index 3, but 2 class names"):
        ImageSegmenter(class_names=("a", "b"), **fast).fit((SHAPES_X, SHAPES_Y))


def test_tf_data_and_default_shapes_data(fast):
    dataset = tf.data.Dataset.from_tensor_slices((SHAPES_X[:24], SHAPES_Y[:24])).batch(8)
    seg = ImageSegmenter(**{**fast, **SMALL}, loss="dice").fit(dataset)
    assert seg.classes_ == ["0", "1", "2", "3"]
    default = ImageSegmenter(**{**fast, **SMALL, "epochs": 1}, loss="cross_entropy").fit()
    assert default.classes_ == SHAPE_NAMES and default.metrics_["data"]["train_source"] == "shapes"


def test_shapes_are_learned(fast):
    """A working U-Net separates the synthetic shapes; a broken one stays near the background-only score."""
    images, masks, _ = shapes(count=160, size=32, seed=1)
    seg = ImageSegmenter(width=8, depth=2, **{**fast, "epochs": 25, "patience": 25, "batch_size": 4})
    seg.fit((images, masks))
    metrics = seg.evaluate(shapes(count=32, size=32, seed=2)[:2])
    background_only = float(np.mean(shapes(count=32, size=32, seed=2)[1] == 0))
    assert background_only < 0.9
    assert metrics["pixel_accuracy"] >= 0.97, metrics["pixel_accuracy"]  # measured 0.995
    assert metrics["mean_iou"] >= 0.8, metrics["mean_iou"]  # measured 0.94


# --------------------------------------------------------------- real data
def test_membrane_small_resolution_bar(tmp_path):
    """Membrane at 64x64: train on images 0-19, stop early on 20-24, score 25-29, which training never saw.

    Predicting the majority class (cell interior) everywhere gives 0.78 pixel accuracy and 0.39 mean IoU.
    """
    from tasks.image_segmentation.data import read_mask

    root = real_data("membrane") / "train"
    images = [str(root / "image" / f"{i}.png") for i in range(30)]
    masks = [str(root / "label" / f"{i}.png") for i in range(30)]
    seg = ImageSegmenter(image_size=64, epochs=40, batch_size=4, test_split=0, save_dir=str(tmp_path), verbose=0)
    seg.fit((images[:20], masks[:20]), (images[20:25], masks[20:25]))
    test = seg.evaluate((images[25:], masks[25:]))
    # The trivial model: every pixel the majority class (cell interior), 0.78 of the test pixels.
    majority = float(np.mean([read_mask(m, (64, 64)) == 1 for m in masks[25:]]))
    assert test["pixel_accuracy"] >= 0.85 > majority, (test["pixel_accuracy"], majority)
    assert test["mean_iou"] >= 0.65, test["mean_iou"]
    full = seg.predict(images[25:26])[0]
    assert full.shape == (512, 512)


# ------------------------------------------------------------------ presets
@pytest.fixture(scope="module")
def tiny_resnet_preset(tmp_path_factory):
    backbone = tiny_keras_hub_resnet()
    folder = tmp_path_factory.mktemp("preset") / "tiny_resnet"
    backbone.save_to_preset(str(folder))
    return str(folder), backbone


def test_preset_encoder_freeze_and_full(tiny_resnet_preset, fast):
    import keras_hub

    folder, _ = tiny_resnet_preset
    frozen = ImageSegmenter(backbone=folder, image_size=32, finetune="freeze", **fast).fit((SHAPES_X, SHAPES_Y))
    pretrained = keras_hub.models.Backbone.from_preset(folder).get_weights()
    assert len(pretrained) == len(frozen.model_.get_layer("backbone").get_weights()) > 0
    for before, after in zip(pretrained, frozen.model_.get_layer("backbone").get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    full = ImageSegmenter(backbone=folder, image_size=32, finetune="freeze_then_unfreeze", **{**fast, "epochs": 3})
    full.fit((SHAPES_X, SHAPES_Y))
    assert len(pretrained) == len(full.model_.get_layer("backbone").get_weights()) > 0
    moved = [
        not np.array_equal(b, a)
        for b, a in zip(pretrained, full.model_.get_layer("backbone").get_weights(), strict=True)
    ]
    assert any(moved)
    loaded = toolkit.load(full.run_dir)
    np.testing.assert_array_equal(loaded.predict(SHAPES_X[:2])[0], full.predict(SHAPES_X[:2])[0])


def test_deeplab_v3_local_preset(tiny_resnet_preset, tmp_path, fast):
    import keras_hub

    _, encoder = tiny_resnet_preset
    deeplab = keras_hub.models.DeepLabV3Backbone(
        image_encoder=encoder, spatial_pyramid_pooling_key="P3", upsampling_size=2, dilation_rates=[2, 4]
    )
    folder = tmp_path / "tiny_deeplab"
    deeplab.save_to_preset(str(folder))
    seg = ImageSegmenter(backbone=str(folder), image_size=32, **fast).fit((SHAPES_X, SHAPES_Y))
    assert type(seg.model_.get_layer("backbone")).__name__ == "DeepLabV3Backbone"
    assert seg.model_.output_shape == (None, 32, 32, 4)
    loaded = toolkit.load(seg.run_dir)
    np.testing.assert_array_equal(loaded.predict(SHAPES_X[:1])[0], seg.predict(SHAPES_X[:1])[0])


def test_preset_name_offline_gives_clear_error(fast, offline):
    with pytest.raises(toolkit.ToolkitError, match="(?s)Could not download KerasHub preset.*local preset folder"):
        ImageSegmenter(backbone="deeplab_v3_plus_resnet50_pascalvoc", **fast).fit((SHAPES_X, SHAPES_Y))


def test_tfds_with_mock_data(fast, tmp_path):
    import tensorflow_datasets as tfds

    def as_dataset(self, *args, **kwargs):  # TFDS's mock draws each feature's size apart; real pairs match
        return tf.data.Dataset.from_tensor_slices(
            {"image": SHAPES_X[:16], "segmentation_mask": SHAPES_Y[:16, ..., None]}
        )

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        seg = ImageSegmenter(data_dir=str(tmp_path / "tfds"), **{**fast, **SMALL, "epochs": 1}).fit(
            "tfds:oxford_iiit_pet"
        )
    assert seg.classes_ == ["0", "1", "2", "3"]
    with tfds.testing.mock_data(num_examples=4):
        with pytest.raises(toolkit.ToolkitError, match="image / mask pairs differ in size"):
            ImageSegmenter(data_dir=str(tmp_path / "tfds"), **fast).fit("tfds:oxford_iiit_pet")


def test_cli_train_and_predict_segmentation(mask_folder, tmp_path, capsys):
    from toolkit.cli import main

    args = ["train", "image-segmentation", "--data", str(mask_folder), "--epochs", "1", "--width", "4", "--depth", "2"]
    assert main(args + ["--save-dir", str(tmp_path / "runs"), "--run-name", "cli", "--verbose", "0"]) == 0
    run_dir = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_dir"]
    image = str(mask_folder / "image" / "0.png")
    assert main(["predict", run_dir, image]) == 0
    source, answer = capsys.readouterr().out.strip().split("\t")
    assert source == image
    answer = json.loads(answer)
    assert answer["shape"] == [32, 32] and sum(answer["pixels"].values()) == 32 * 32
    out = tmp_path / "masks"
    assert main(["predict", run_dir, image, "--output", str(out), "--overlays"]) == 0
    source, written = capsys.readouterr().out.strip().split("\t")
    written = json.loads(written)
    assert written["mask"] == str(out / "0_mask.png") and written["overlay"] == str(out / "0_overlay.png")
    mask = np.asarray(Image.open(written["mask"]))  # a palette PNG: the pixel values are class indices
    assert mask.shape == (32, 32) and {str(v): int((mask == v).sum()) for v in np.unique(mask)} == written["pixels"]
    assert Image.open(written["overlay"]).size[1] > 32  # the legend below the image
    assert main(["predict", run_dir, image, "--output", str(out)]) == 2  # never overwrites
    assert "1 output file(s) exist already" in capsys.readouterr().err
    assert main(["predict", run_dir, image, "--overlays"]) == 0  # default folder: inside the run
    assert (pathlib.Path(run_dir) / "predictions" / "0_overlay.png").is_file()


def test_tuning_searches_loss_and_width(fast):
    seg = ImageSegmenter(tune=True, max_trials=1, **{**fast, **SMALL, "epochs": 1}).fit((SHAPES_X[:16], SHAPES_Y[:16]))
    assert set(seg.best_hyperparameters_) == {"learning_rate", "learning_rate_schedule", "loss", "width", "dropout"}
    assert seg.loss in ("cross_entropy", "dice", "cross_entropy+dice")


def test_segformer_local_preset(tmp_path, fast):
    import keras_hub

    keras.utils.set_random_seed(0)
    encoder = keras_hub.models.MiTBackbone(
        image_shape=(32, 32, 3),
        num_layers=2,
        hidden_dims=[8, 16],
        layerwise_depths=[1, 1],
        layerwise_num_heads=[1, 2],
        layerwise_sr_ratios=[2, 1],
        layerwise_patch_sizes=[3, 3],
        layerwise_strides=[2, 2],
        max_drop_path_rate=0.0,
    )
    folder = tmp_path / "tiny_segformer"
    keras_hub.models.SegFormerBackbone(image_encoder=encoder, projection_filters=8).save_to_preset(str(folder))
    seg = ImageSegmenter(backbone=str(folder), image_size=32, **fast).fit((SHAPES_X, SHAPES_Y))
    assert type(seg.model_.get_layer("backbone")).__name__ == "SegFormerBackbone"
    assert seg.predict(SHAPES_X[:1])[0].shape == (32, 32)


@pytest.mark.parametrize("encoder", ["vgg", "mobilenet"])
def test_scratch_image_backbones_as_encoders(encoder, fast):
    seg = ImageSegmenter(backbone=encoder, width=8, image_size=32, **{**fast, "epochs": 1}).fit((SHAPES_X, SHAPES_Y))
    assert seg.model_.output_shape == (None, 32, 32, 4)


def test_scratch_resnet_encoder_trains_at_64px(tmp_path):
    """Regression: TF 2.21's oneDNN kernels crashed (SIGSEGV) training the strided 1x1 shortcut conv from 48 px.

    Runs in a child process, so a crash fails this test instead of killing the test run.
    """
    code = (
        "from tasks import ImageSegmenter\n"
        "from tasks.image_segmentation.data import shapes\n"
        "x, y, _ = shapes(count=32, size=64, seed=0)\n"
        f"seg = ImageSegmenter(backbone='resnet', width=8, epochs=1, batch_size=8, save_dir={str(tmp_path)!r}, verbose=0)\n"
        "seg.fit((x, y))\n"
        "print('trained', seg.model_.output_shape)\n"
    )
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert result.returncode == 0, (result.returncode, result.stderr[-3000:])
    assert "trained (None, 64, 64, 4)" in result.stdout


def test_unbatched_image_and_mask_dataset_is_read(fast):
    images = np.random.default_rng(0).integers(0, 255, (12, 16, 16, 1)).astype("uint8")
    masks = (images[..., 0] > 127).astype("uint8")
    for dataset in (
        tf.data.Dataset.from_tensor_slices((images, masks)),
        tf.data.Dataset.from_tensor_slices((images, masks[..., None])),
        tf.data.Dataset.from_tensor_slices((images, masks)).batch(4),
    ):
        pairs = data_lib.unbatched(dataset, target_rank=2)
        assert sum(1 for _ in pairs) == 12 and pairs.element_spec[1].shape.rank in (2, 3)
    seg = ImageSegmenter(width=4, depth=2, **{**fast, "epochs": 1}).fit(
        tf.data.Dataset.from_tensor_slices((images, masks))
    )
    assert seg.classes_ == ["0", "1"]
