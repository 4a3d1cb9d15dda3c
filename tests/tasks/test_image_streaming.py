"""Image classification streams its files: decoding in tf.data, bounded size sampling, capped default size."""

import numpy as np
import pytest
import tensorflow as tf

import toolkit
from tasks import ImageClassifier
from tests.conftest import draw_shape_image
from toolkit import image_streams


def test_folder_trains_from_a_stream_of_paths_without_caching(shapes_folder, fast, monkeypatch):
    """With no room for a cache the pipeline decodes files every epoch, and still learns the shapes."""
    monkeypatch.setattr(image_streams, "MEMORY_CACHE_BYTES", 0)
    clf = ImageClassifier(backbone="lenet", patience=20, **{**fast, "epochs": 12, "batch_size": 8})
    splits = clf.prepare_data(str(shapes_folder), None)
    # The index holds paths: the dataset reads the files when it is iterated, not before.
    assert isinstance(splits.train, tf.data.Dataset)
    assert all(str(p).startswith(str(shapes_folder)) for p in clf.preprocessor_.files)
    fitted = ImageClassifier(backbone="lenet", patience=20, **{**fast, "epochs": 12, "batch_size": 8}).fit(
        str(shapes_folder)
    )
    assert fitted.metrics_["test"]["accuracy"] >= 0.8, fitted.metrics_["test"]  # chance: 0.5


def test_large_photos_train_at_a_capped_size_by_default(tmp_path, fast):
    for label, shape in (("circle", "circle"), ("square", "square")):
        (tmp_path / "photos" / label).mkdir(parents=True)
        for i in range(6):
            draw_shape_image(tmp_path / "photos" / label / f"{i}.jpg", shape, (300, 200), True, i)
    clf = ImageClassifier(backbone="mlp", test_split=0, **{**fast, "epochs": 1}).fit(str(tmp_path / "photos"))
    assert tuple(clf.image_size_) == (43, 64)  # 200x300 (h x w), longer side capped at 64
    sized = ImageClassifier(backbone="mlp", image_size=(200, 300), test_split=0, **{**fast, "epochs": 1})
    assert tuple(sized.fit(str(tmp_path / "photos")).image_size_) == (200, 300)  # as given


def test_file_that_fails_to_decode_while_training_is_named(tmp_path, fast):
    """A truncated JPEG has a good header (so the size sample passes it) and fails inside tf.data."""
    for label, shape in (("circle", "circle"), ("square", "square")):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(8):
            draw_shape_image(tmp_path / "data" / label / f"{i}.png", shape, (24, 24), True, i)
    good = tmp_path / "full.jpg"
    draw_shape_image(good, "circle", (64, 64), True, 0)
    data = good.read_bytes()
    (tmp_path / "data" / "circle" / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(toolkit.ToolkitError, match="(?s)could not be decoded: '.*cut.jpg'.*Fix: remove or replace"):
        ImageClassifier(backbone="mlp", image_size=24, validation_split=0.3, test_split=0, **fast).fit(
            str(tmp_path / "data")
        )


def test_size_is_learned_from_a_bounded_sample_of_headers():
    paths = [f"/nowhere/{i}.png" for i in range(5000)]
    sample = image_streams.header_sample(paths, seed=0)
    assert len(sample) == image_streams.SIZE_SAMPLE and len(set(sample)) == len(sample)
    assert sample == image_streams.header_sample(paths, seed=0)  # seeded


def test_decoded_pixels_match_the_prediction_path(shapes_folder):
    """Training decodes in tf.data; predict reads with PIL: both give nearly the same pixels."""
    paths = sorted(str(p) for p in (shapes_folder / "circle").iterdir())[:4]
    streamed = np.stack([image.numpy() for image, _ in image_streams.file_dataset(paths, [0] * 4, (20, 20), 3)])
    read = image_streams.to_array(paths, (20, 20), 3, verbose=False)
    assert streamed.dtype == np.uint8 and streamed.shape == read.shape
    assert np.abs(streamed.astype(int) - read.astype(int)).mean() < 6


def test_tf_data_input_stays_a_stream(fast):
    """A tf.data.Dataset is read in passes (labels once, images while training), never collected into arrays."""
    from tasks.image_classification.data import digits

    x, y, _ = digits()
    source = tf.data.Dataset.from_tensor_slices((x[:500], [f"digit {v}" for v in y[:500]])).batch(50)
    clf = ImageClassifier(backbone="mlp", patience=20, **{**fast, "epochs": 6})
    splits = clf.prepare_data(source, None)
    assert isinstance(splits.train, tf.data.Dataset)
    fitted = ImageClassifier(backbone="mlp", patience=20, **{**fast, "epochs": 6}).fit(source)
    assert fitted.classes_[:2] == ["digit 0", "digit 1"]
    assert fitted.metrics_["data"]["test"].endswith("stratified)")  # labels known: the split is stratified
    assert fitted.metrics_["test"]["accuracy"] > 0.8  # chance 0.1
    assert fitted.evaluate(source)["accuracy"] > 0.8


def test_stream_of_mixed_sizes_learns_its_size_from_a_sample(fast):
    rng = np.random.default_rng(0)
    shapes = [(40 + 8 * (i % 3), 50, 3) for i in range(40)]
    images = [rng.integers(0, 255, size=s, dtype=np.uint8) for s in shapes]

    def generate():
        for i, image in enumerate(images):
            yield image, i % 2

    spec = (tf.TensorSpec((None, None, 3), tf.uint8), tf.TensorSpec((), tf.int64))
    source = tf.data.Dataset.from_generator(generate, output_signature=spec)
    clf = ImageClassifier(backbone="mlp", test_split=0, **{**fast, "epochs": 1}).fit(source)
    assert tuple(clf.image_size_) == (48, 50) and clf.channels_ == 3  # the median height
    bad = tf.data.Dataset.from_tensor_slices((np.full((20, 8, 8), np.nan, "float32"), np.arange(20) % 2))
    with pytest.raises(toolkit.ToolkitError, match="hold NaN or infinite values"):
        ImageClassifier(backbone="mlp", **{**fast, "epochs": 1}).fit(bad)
