"""One image decoder for training, evaluation, prediction, serving and export: a file gets the pixels,
and so the probabilities, that training saw (JPEG, PNG, grey, RGBA, palette, 16-bit, TIFF)."""

import numpy as np
import pytest
from PIL import Image

from toolkit import image_files, image_streams

KINDS = ("rgb.jpg", "rgb.png", "grey.png", "rgba.png", "palette.png", "deep.png", "grey.jpg", "rgb.tif")


def _write_files(folder, seed=0):
    """Every kind of file, of smooth random pictures (so the JPEG decoders' differences show)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3)).astype(np.uint8)
    rgb = np.asarray(Image.fromarray(small).resize((53, 41), Image.BICUBIC))
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(folder / "rgb.jpg", quality=80)
    Image.fromarray(rgb).save(folder / "rgb.png")
    Image.fromarray(rgb[..., 1]).save(folder / "grey.png")
    Image.fromarray(rgb[..., 1]).save(folder / "grey.jpg", quality=80)
    Image.fromarray(np.dstack([rgb, rgb[..., :1]])).save(folder / "rgba.png")
    Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=32).save(folder / "palette.png")
    Image.fromarray(rgb[..., 2].astype(np.uint16) * 257).save(folder / "deep.png")
    Image.fromarray(rgb).save(folder / "rgb.tif")
    return [str(folder / kind) for kind in KINDS]


def _training_decoding(paths, size, channels):
    """What the training pipeline (`file_dataset`, as every image task's dataset reads files) gives."""
    dataset = image_streams.file_dataset(paths, np.zeros(len(paths), np.int32), size, channels)
    return np.stack([image for image, _ in dataset.as_numpy_iterator()])


@pytest.mark.parametrize("channels", [1, 3])
def test_prediction_reads_files_as_training_does(tmp_path, channels):
    paths = _write_files(tmp_path)
    trained = _training_decoding(paths, (24, 32), channels)
    predicted = image_streams.to_array(paths, (24, 32), channels, verbose=False)
    np.testing.assert_array_equal(predicted, trained)
    assert predicted.dtype == np.uint8 and predicted.shape == (len(paths), 24, 32, channels)
    # Sensible conversions: the 16-bit file scaled to 8 bits, not clipped; grey copied to RGB.
    deep = image_files.read_pixels(paths[KINDS.index("deep.png")], 3)
    assert deep.max() > 200 and np.array_equal(deep[..., 0], deep[..., 2])


def test_a_classifier_predicts_files_with_the_probabilities_of_the_training_pixels(tmp_path):
    import keras

    from tasks import ImageClassifier

    folder = tmp_path / "photos"
    for label in ("a", "b"):
        for seed in range(3):
            _write_files(folder / label / f"{seed}", seed=seed + (10 if label == "b" else 0))
    flat = tmp_path / "flat"
    for label in ("a", "b"):
        (flat / label).mkdir(parents=True)
        for path in sorted((folder / label).rglob("*.*")):
            path.rename(flat / label / f"{path.parent.name}_{path.name}")
    keras.utils.set_random_seed(0)
    clf = ImageClassifier(backbone="lenet", epochs=1, image_size=(24, 32), test_split=0, verbose=0,
                          save_dir=str(tmp_path / "runs")).fit(str(flat))  # fmt: skip
    paths = sorted(str(p) for p in flat.rglob("*.*"))
    expected = clf.model_(_training_decoding(paths, (24, 32), clf.channels_).astype("float32"), training=False)
    found = np.array([[p["probabilities"][c] for c in clf.classes_] for p in clf.predict(paths)])
    assert np.abs(found - np.asarray(expected)).max() <= 1e-5


def test_the_detector_reads_files_as_its_pipeline_does(tmp_path):
    import tensorflow as tf

    from tasks.object_detection import pipeline
    from tasks.object_detection.figures import read_rgb as _read_rgb

    paths = _write_files(tmp_path)
    targets = [(np.zeros((0, 4), np.float32), np.zeros(0, np.int32))] * len(paths)
    batches = pipeline.box_dataset(paths, targets, 32, batch_size=len(paths))
    trained, _ = next(iter(batches))
    for k, path in enumerate(paths):
        pixels = tf.image.resize(tf.cast(_read_rgb(path), tf.float32), (32, 32)).numpy()
        assert np.abs(pixels - trained[k].numpy()).max() <= 1e-5, path


def test_an_undecodable_file_is_named(tmp_path):
    import toolkit

    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(toolkit.ToolkitError, match="(?s)broken.jpg.*Expected.*Fix"):
        image_streams.to_array([str(bad)], (8, 8), 3, verbose=False)
    with pytest.raises(toolkit.ToolkitError, match="(?s)broken.jpg.*Expected.*Fix"):
        image_files.read_pixels(str(bad), 3)
