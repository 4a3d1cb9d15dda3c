"""Image segmentation streams its files and tf.data input: pairs decoded inside tf.data, masks checked in one pass."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import toolkit
from tasks import ImageSegmenter
from tasks.image_segmentation import data as seg_data
from tasks.image_segmentation.data import shapes
from toolkit import image_streams
from toolkit.preprocessing import Index

X, Y, NAMES = shapes(count=40, size=32, seed=1)
SMALL = {"backbone": "unet", "width": 4, "depth": 2, "image_size": 32}


@pytest.fixture
def palette_folder(tmp_path):
    """image/ holds colour JPEGs, label/ palette PNGs whose palette indices are the classes."""
    for sub in ("image", "label"):
        (tmp_path / "data" / sub).mkdir(parents=True)
    palette = [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 12)
    for i in range(len(X)):
        Image.fromarray(X[i]).save(tmp_path / "data" / "image" / f"{i}.png")
        mask = Image.fromarray(Y[i], mode="P")
        mask.putpalette(palette)
        mask.save(tmp_path / "data" / "label" / f"{i}.png")
    return tmp_path / "data"


def test_folder_pairs_are_decoded_in_tf_data_as_predict_reads_them(palette_folder, fast, monkeypatch):
    """With no room for a cache the pairs are decoded every epoch; masks keep their palette indices."""
    monkeypatch.setattr(image_streams, "MEMORY_CACHE_BYTES", 0)
    seg = ImageSegmenter(**{**fast, **SMALL}, augment=())
    splits = seg.prepare_data(str(palette_folder), None)
    assert seg.classes_ == ["0", "1", "2", "3"]
    assert all(p.startswith(str(palette_folder)) for p in seg.preprocessor_.files)  # the index holds paths
    paths = sorted((palette_folder / "image").iterdir(), key=lambda p: int(p.stem))
    streamed = seg.preprocessor_.dataset(
        Index(np.array([str(p) for p in paths]), np.array([str(p).replace("image", "label") for p in paths]))
    )
    images = np.concatenate([x.numpy() for x, _ in streamed])
    masks = np.concatenate([m.numpy() for _, m in streamed])
    np.testing.assert_array_equal(masks, Y)  # palette indices, not palette colours
    np.testing.assert_allclose(images, X.astype("float32"))  # lossless PNGs at their own size
    assert isinstance(splits.train, tf.data.Dataset)


def test_folder_trains_without_a_cache(palette_folder, fast, monkeypatch):
    monkeypatch.setattr(image_streams, "MEMORY_CACHE_BYTES", 0)
    seg = ImageSegmenter(**{**fast, **SMALL, "epochs": 2}, test_split=0).fit(str(palette_folder))
    assert np.isfinite(seg.metrics_["validation"]["loss"])
    assert seg.predict(str(palette_folder / "image" / "0.png"))[0].shape == (32, 32)


def test_tf_data_input_stays_a_stream(fast):
    """A generator of (image, mask) pairs (size unknown to tf.data) is read in passes, never collected."""
    read = []

    def generate():
        for i in range(len(X)):
            read.append(i)
            yield X[i], (Y[i] > 0).astype(np.uint8) * 255  # 0/255 binary masks, read as 0/1

    spec = (tf.TensorSpec((None, None, 3), tf.uint8), tf.TensorSpec((None, None), tf.uint8))
    source = tf.data.Dataset.from_generator(generate, output_signature=spec)
    seg = ImageSegmenter(**{**fast, **SMALL, "epochs": 1})
    splits = seg.prepare_data(source, None)
    assert seg.classes_ == ["0", "1"] and len(read) >= 2 * len(X)  # counted, then its masks checked
    _, masks = next(iter(splits.train))
    assert set(np.unique(masks.numpy())) <= {0, 1}
    fitted = ImageSegmenter(**{**fast, **SMALL, "epochs": 1}).fit(source)
    # Scoring the stream scores what predict gives on the same images against the 0/1 masks.
    predicted = np.stack(fitted.predict(list(X)))
    expected = float(np.mean(predicted == (Y > 0)))
    assert fitted.evaluate(source)["pixel_accuracy"] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    "mask, message",
    [
        (np.full((32, 32), 0.5, "float32"), "fractional, NaN or infinite"),
        (np.full((32, 32), -1, "int32"), "class index -1"),
        (np.zeros((16, 16), "uint8"), "1 image / mask pairs differ in size"),
    ],
)
def test_bad_masks_in_a_stream_are_reported_before_training(mask, message, fast):
    masks = [Y[0].astype(mask.dtype), Y[1].astype(mask.dtype), mask]
    source = tf.data.Dataset.from_generator(
        lambda: zip(X[:3], masks),
        output_signature=(tf.TensorSpec((32, 32, 3), tf.uint8), tf.TensorSpec((None, None), mask.dtype)),
    )
    with pytest.raises(toolkit.ToolkitError, match=message):
        ImageSegmenter(**{**fast, **SMALL}).fit(source)


def test_image_that_fails_to_decode_while_training_is_named(palette_folder, fast):
    """A truncated JPEG keeps a good header (the size check passes it) and fails inside tf.data."""
    full = palette_folder / "big.jpg"
    Image.fromarray(np.repeat(np.repeat(X[0], 4, 0), 4, 1)).save(full, quality=95)
    data = full.read_bytes()
    full.unlink()
    (palette_folder / "image" / "0.png").unlink()
    (palette_folder / "image" / "0.jpg").write_bytes(data[: len(data) // 2])
    Image.fromarray(np.repeat(np.repeat(Y[0], 4, 0), 4, 1)).save(palette_folder / "label" / "0.png")
    with pytest.raises(toolkit.ToolkitError, match="(?s)could not be decoded: '.*0.jpg'"):
        ImageSegmenter(**{**fast, **SMALL}, test_split=0, validation_split=0.5).fit(str(palette_folder))


def test_stream_mask_converter_matches_the_file_reader():
    mask = (Y[3] > 0).astype(np.uint8) * 255
    converted = seg_data.stream_mask_converter(tf.TensorShape([32, 32, 1]), (16, 16))(mask[..., None]).numpy()
    np.testing.assert_array_equal(converted, seg_data.read_mask(mask, (16, 16)))
