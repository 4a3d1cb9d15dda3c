"""Text classification streams: tf.data texts stay a stream, class folders are read inside tf.data."""

import warnings

import numpy as np
import pytest
import tensorflow as tf

import toolkit
from tasks import TextClassifier
from tasks.text_classification import data as text_data
from tests.tasks.test_text_classification import toy_texts
from toolkit import data as data_lib

SMALL = {"backbone": "cnn", "embedding_dim": 16, "width": 8}


def test_tf_data_texts_stay_a_stream_and_shape_the_model_from_training_texts(fast):
    texts, labels = toy_texts(repeat=24)
    texts = texts + ["   ", "zebra " * 200]  # an empty text (skipped) and a long one
    labels = labels + ["pos", "neg"]

    def generate():
        yield from zip(texts, labels)

    spec = (tf.TensorSpec((), tf.string), tf.TensorSpec((), tf.string))
    source = tf.data.Dataset.from_generator(generate, output_signature=spec)
    clf = TextClassifier(**SMALL, **{**fast, "epochs": 8}, patience=20)
    with pytest.warns(UserWarning, match="Skipped 1 of 50 examples"):
        splits = clf.prepare_data(source, None)
    assert isinstance(clf.train_texts_, data_lib.Stream) and 30 <= len(clf.train_texts_) < 49
    train_words = {w for t in text_data.texts_dataset(clf.train_texts_).as_numpy_iterator() for w in t.split()}
    in_train = b"zebra" in train_words
    # The length covers 95% of the training texts; one 200-word text does not stretch it.
    assert clf.sequence_length_ == 8
    model = clf.build_model()
    vocabulary = model.get_layer("tokenize").get_vocabulary()
    assert ("zebra" in vocabulary) == in_train  # the vocabulary comes from the training part only
    assert isinstance(splits.validation, tf.data.Dataset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = TextClassifier(**SMALL, **{**fast, "epochs": 8}, patience=20).fit(source)
        assert fitted.evaluate(source)["accuracy"] > 0.8  # chance: 0.5


def test_stream_of_non_strings_or_bad_utf8_is_rejected(fast):
    ids = tf.data.Dataset.from_tensor_slices((np.zeros((4, 3), "int32"), [0, 1, 0, 1]))
    with pytest.raises(toolkit.ToolkitError, match="(?s)one string per example.*decode token ids"):
        TextClassifier(**SMALL, **fast).fit(ids)
    latin1 = tf.data.Dataset.from_tensor_slices(([b"caf\xe9", b"good", b"bad", b"fine"], [0, 1, 0, 1]))
    with pytest.raises(
        toolkit.ToolkitError, match=r"1 texts of the tf.data.Dataset are not valid UTF-8 \(at positions \[0\]\)"
    ):
        TextClassifier(**SMALL, **fast).fit(latin1)


def test_class_folder_is_read_inside_tf_data(tmp_path, fast):
    texts, labels = toy_texts()
    for i, (text, label) in enumerate(zip(texts, labels)):
        (tmp_path / label).mkdir(exist_ok=True)
        (tmp_path / label / f"{i}.txt").write_text(text)
    (tmp_path / "pos" / "empty.txt").write_text("")
    with pytest.warns(UserWarning, match=r"Skipped 1 of 17 examples .* with an empty text \(at \['pos/empty.txt'\]\)"):
        clf = TextClassifier(**SMALL, **fast, test_split=0)
        splits = clf.prepare_data(str(tmp_path), None)
    assert isinstance(clf.train_texts_, text_data.TextFiles)
    assert all(p.startswith(str(tmp_path)) for p in clf.train_texts_.paths)  # paths, read while training
    read = sorted(t.decode() for t, _ in splits.train.unbatch().as_numpy_iterator())
    assert read == sorted(clf.train_texts_.read()) and len(read) > 8


def test_undecodable_text_file_is_named_while_training(tmp_path, fast):
    texts, labels = toy_texts()
    for i, (text, label) in enumerate(zip(texts, labels)):
        (tmp_path / label).mkdir(exist_ok=True)
        (tmp_path / label / f"{i}.txt").write_text(text)
    (tmp_path / "neg" / "latin1.txt").write_bytes("a dull café".encode("latin-1"))
    with pytest.raises(toolkit.ToolkitError, match=r"(?s)'.*latin1.txt' is not valid UTF-8: byte 0xe9.*iconv"):
        TextClassifier(**SMALL, **fast, test_split=0, validation_split=0.5).fit(str(tmp_path))
