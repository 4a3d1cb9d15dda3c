"""Metric definitions, independent augmentation seeds, explicit input scaling, warnings, parameter types."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import f1_score

import toolkit
from tasks import ImageClassifier, ImageSegmenter, SpeechClassifier, SpeechRecognizer, TextClassifier
from tasks.image_classification.data import digits
from toolkit import data as data_lib
from toolkit import params
from toolkit import splits as splits_lib
from toolkit.metrics import classification_metrics, error_rates, segmentation_metrics

DIGITS_X, DIGITS_Y, _ = digits()


def test_macro_f1_counts_only_classes_present_like_scikit_learn():
    labels = np.array([0, 1, 1, 0])
    probabilities = np.eye(10)[labels]  # perfect predictions, 2 of 10 classes present
    metrics = classification_metrics(labels, probabilities, [str(i) for i in range(10)])
    assert metrics["macro_f1"] == 1.0 == f1_score(labels, labels, average="macro")
    # A class predicted but absent from the truth counts (as in scikit-learn), with F1 0.
    predicted = np.array([0, 1, 2, 0])
    metrics = classification_metrics(labels, np.eye(10)[predicted], [str(i) for i in range(10)])
    assert metrics["macro_f1"] == pytest.approx(f1_score(labels, predicted, average="macro"))
    # Segmentation agrees: a class absent from truth and prediction is left out of the mean.
    seg = segmentation_metrics(np.array([[5, 0, 0], [0, 3, 0], [0, 0, 0]]), ["a", "b", "c"])
    assert seg["mean_iou"] == 1.0


def test_error_rates_score_references_as_written():
    # A character the model cannot produce ("x") still counts; case and spacing do not.
    assert error_rates(["Two  X"], ["two"])["cer"] == pytest.approx(2 / 5)
    assert error_rates(["ONE two"], ["one  two "])["wer"] == 0.0


def _flip_and_rotation_decisions(model, count=400):
    """Runs the augmentation layers of an image classifier on a probe image; returns (flipped, turned_left)."""
    image = np.zeros((count, 64, 64, 1), "float32")
    image[:, 20:27, 20:27] = 255.0  # a blob in the top-left quadrant, clear of the reflected borders
    x = tf.constant(image)
    for name in ("flip", "rotation"):
        x = model.get_layer(name)(x, training=True)
    out = x.numpy()[..., 0]
    rows, cols = np.mgrid[0:64, 0:64]
    weight = out.sum(axis=(1, 2))
    row = (out * rows).sum(axis=(1, 2)) / weight - 31.5
    col = (out * cols).sum(axis=(1, 2)) / weight - 31.5
    flipped = col > 0
    # Unturned, the blob sits at -135 degrees (-45 when flipped); the sign of the turn is what is left.
    angle = np.degrees(np.arctan2(row, col))
    expected = np.where(flipped, -45.0, -135.0)
    turn = (angle - expected + 180) % 360 - 180
    return flipped.astype(float), (turn > 0).astype(float)


def test_augmentation_layers_draw_independent_random_numbers(fast):
    clf = ImageClassifier(backbone="mlp", augment=("flip", "rotation"), **{**fast, "epochs": 1})
    clf.fit((DIGITS_X[:100], DIGITS_Y[:100]))
    seeds = {layer.seed for layer in clf.model_.layers if layer.name in ("flip", "rotation")}
    assert len(seeds) == 2
    flipped, turned = _flip_and_rotation_decisions(clf.model_)
    assert 0.35 < flipped.mean() < 0.65 and 0.35 < turned.mean() < 0.65
    # With one shared seed these decisions correlate at about -0.97; independent layers near 0.
    assert abs(np.corrcoef(flipped, turned)[0, 1]) < 0.2


def test_speech_augmentation_layers_get_their_own_seeds():
    from tasks.speech import frontend

    normalizer = keras.layers.Normalization(axis=-1)
    normalizer.adapt(frontend.log_mel(np.random.default_rng(0).normal(size=(2, 8000)).astype("float32"), 8000))
    inputs = keras.Input((8000,))
    model = keras.Model(inputs, frontend.front_end(inputs, 8000, normalizer, ("shift", "noise", "specaugment"), seed=3))
    seeds = [model.get_layer(name).seed for name in ("time_shift", "added_noise", "spec_augment")]
    assert len(set(seeds)) == 3 and None not in seeds


@pytest.mark.parametrize("scaling, low, high", [("unit", 0.0, 1.0), ("symmetric", -1.0, 1.0), ("raw", 0.0, 255.0)])
def test_input_scaling_is_explicit(fast, scaling, low, high):
    user = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4)])
    clf = ImageClassifier(backbone=user, input_scaling=scaling, **{**fast, "epochs": 1})
    clf.fit((DIGITS_X[:60], DIGITS_Y[:60]))
    scaled = keras.Model(clf.model_.inputs, clf.model_.get_layer("rescale").output)
    values = scaled(np.stack([np.zeros((8, 8, 1)), np.full((8, 8, 1), 255.0)]).astype("float32")).numpy()
    assert values.min() == pytest.approx(low) and values.max() == pytest.approx(high)


def test_from_scratch_default_standardizes_each_image_and_survives_saving(fast):
    # Two images that differ only in brightness and contrast reach the backbone identical.
    clf = ImageClassifier(backbone="mlp", **{**fast, "epochs": 1}).fit((DIGITS_X[:60], DIGITS_Y[:60]))
    scaled = keras.Model(clf.model_.inputs, clf.model_.get_layer("rescale").output)
    image = DIGITS_X[:1, ..., None].astype("float32")
    dim, bright = scaled(image * 0.5).numpy(), scaled(image * 0.5 + 100).numpy()
    assert np.allclose(dim, bright, atol=1e-4)
    assert abs(dim.mean()) < 1e-4 and dim.std() == pytest.approx(1.0, abs=1e-3)
    reloaded = toolkit.load(clf.run_dir)  # a registered layer, so safe-mode loading accepts it
    before, after = clf.predict(DIGITS_X[:5]), reloaded.predict(DIGITS_X[:5])
    assert [a["probability"] for a in after] == pytest.approx([b["probability"] for b in before], abs=1e-6)
    # A user's keras.Model keeps [0, 1] unless told otherwise (test_input_scaling_is_explicit).
    assert ImageClassifier(backbone=keras.Sequential([keras.layers.Flatten()]))._input_scaling() == "unit"


def test_bad_input_scaling_is_an_error_before_training(fast):
    with pytest.raises(toolkit.ToolkitError, match="input_scaling='caffe' is not valid"):
        ImageClassifier(input_scaling="caffe", **fast).fit((DIGITS_X[:40], DIGITS_Y[:40]))


def test_warnings_go_through_the_warnings_module(fast, capsys):
    with pytest.warns(UserWarning, match="pixel values are all 0 or 1"):
        ImageClassifier(backbone="mlp", **{**fast, "epochs": 1}).fit(
            ((DIGITS_X[:60] > 100).astype("uint8"), DIGITS_Y[:60])
        )
    mixed = [np.zeros((8 + i % 3, 8, 1), "uint8") + (i % 2) * 200 for i in range(40)]
    with pytest.warns(UserWarning, match="Images differ in size"):
        ImageClassifier(backbone="mlp", **{**fast, "epochs": 1}).fit((mixed, ["a", "b"] * 20))
    texts = ["good film", "", "bad film", None] * 10
    with pytest.warns(UserWarning, match="Skipped 20 of 40"):
        TextClassifier(**{**fast, "epochs": 1}).fit((texts, ["pos", "neg", "neg", "pos"] * 10))
    assert capsys.readouterr().out == "", "a warning was printed to stdout"


@pytest.mark.parametrize(
    "task_class, kwargs, message",
    [
        (ImageClassifier, {"learning_rate": "x"}, "got learning_rate='x' \\(a str\\)"),
        (ImageClassifier, {"width": 2.5}, "got width=2.5"),
        (TextClassifier, {"columns": "text"}, "got columns='text'"),
        (SpeechClassifier, {"sample_rate": "8k"}, "got sample_rate='8k'"),
        (SpeechRecognizer, {"augment": "noise"}, "got augment='noise'"),
        (ImageSegmenter, {"depth": "4"}, "got depth='4'"),
    ],
)
def test_argument_types_are_checked_before_any_work(task_class, kwargs, message, fast):
    with pytest.raises(toolkit.ToolkitError, match=message):
        task_class(**kwargs, **fast).fit("no/such/data")  # the type error comes before the data is looked at


def test_every_constructor_argument_has_a_declared_type():
    for task_class in toolkit.TASKS.available():
        cls = toolkit.TASKS.get(task_class)
        missing = set(cls.param_names()) - set(cls.param_annotations())
        assert not missing, f"{cls.__name__} arguments without a type: {missing}"
        for name, default in cls.param_defaults().items():
            assert params.matches(default, cls.param_annotations()[name]), (cls.__name__, name, default)


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


def _held_out(labels, test_split=0.2, validation_split=0.1, seed=0):
    """Indices the task's seeded split holds out (validation and test): the same `holdout` call `fit` makes."""
    index = np.arange(len(labels))
    _, (validation, _), (test, _), _ = splits_lib.holdout(
        [index], np.asarray(labels), test_split=test_split, validation_split=validation_split, seed=seed
    )
    return sorted(set(validation[0].tolist()) | set(test[0].tolist()))


def test_text_sequence_length_comes_from_the_training_split(fast):
    labels = ["a", "b"] * 30
    held_out = _held_out([0, 1] * 30)
    # Short training texts; very long held-out ones, which must not stretch the sequence length.
    texts = [" ".join(["word"] * (300 if i in held_out else 5 + i % 7)) for i in range(60)]
    clf = TextClassifier(**{**fast, "epochs": 1}).fit((texts, labels))
    assert sorted(clf.train_texts_.tolist()) == sorted(t for i, t in enumerate(texts) if i not in held_out)
    assert clf.sequence_length_ == clf.preprocessor_.choose_sequence_length(clf.train_texts_) == 16
    assert clf.preprocessor_.choose_sequence_length(texts) == 304  # what the old code, fitted on all the data, chose


def test_speech_duration_and_vocabulary_come_from_the_training_split(fast):
    from tasks.speech.audio import choose_duration

    rate = 8000
    rng = np.random.default_rng(0)
    labels = ["a", "b"] * 20
    held_out = _held_out([0, 1] * 20)
    waves = [rng.normal(size=3 * rate if i in held_out else rate // 2).astype("float32") * 0.1 for i in range(40)]
    clf = SpeechClassifier(backbone="lenet", width=4, augment=(), **{**fast, "epochs": 1})
    clf.fit((waves, labels, rate))
    assert clf.duration_ == 0.5 and choose_duration(waves, rate) == 3.0

    texts = ["ab ba"] * 40
    texts[_held_out([0] * 40)[0]] = "abz"  # transcripts are split without strata
    long_waves = [np.resize(w, rate) for w in waves]
    with pytest.warns(UserWarning, match="Characters \\['z'\\] of the held-out transcripts"):
        asr = SpeechRecognizer(width=8, num_layers=1, augment=(), **{**fast, "epochs": 1}).fit(
            (long_waves, texts, rate)
        )
    assert "z" not in asr.vocabulary_
    assert asr.vocabulary_ == [" ", "a", "b"]
