"""Pretrained text encoders: the real all-MiniLM-L6-v2 folder, a local KerasHub preset, offline errors."""

import pathlib

import keras
import numpy as np
import pytest

import toolkit
from tasks import TextClassifier
from tests.tasks.test_text_classification import read_sst2, toy_texts

WORDS = sorted({w.strip(",") for text in toy_texts()[0] for w in text.split()})


@pytest.fixture(scope="session")
def tiny_bert_preset(tmp_path_factory):
    """A real KerasHub preset folder: a one-layer BERT and its tokenizer, written with save_to_preset."""
    import keras_hub

    keras.utils.set_random_seed(0)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ","] + WORDS)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=32,
    )
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=32)
    folder = tmp_path_factory.mktemp("preset") / "tiny_bert"
    backbone.save_to_preset(str(folder))
    preprocessor.save_to_preset(str(folder))
    return str(folder)


def test_minilm_fine_tune_lowers_loss_and_round_trips(minilm, tmp_path):
    """The real pretrained path: load MiniLM from its Hugging Face folder, fine-tune briefly on SST-2."""
    texts, labels = read_sst2("train.tsv", limit=96)
    assert TextClassifier(backbone=minilm)._learning_rate() == 5e-5  # the default for pretrained encoders
    clf = TextClassifier(
        backbone=minilm,
        learning_rate=1e-4,
        epochs=2,
        batch_size=16,
        sequence_length=32,
        test_split=0,
        save_dir=str(tmp_path),
        verbose=0,
    )
    clf.fit((texts, labels), read_sst2("dev.tsv", limit=32))
    assert clf.model_.get_layer("backbone").count_params() > 22_000_000  # MiniLM-L6: 22.7M parameters

    # The same model before fine-tuning: pretrained encoder, freshly initialised head.
    keras.utils.set_random_seed(clf.seed)
    untrained = clf.build_model()
    clf.compile_model(untrained, lambda group=None: keras.optimizers.Adam(1e-4))
    dataset = clf.evaluation_data((texts, labels))
    before = untrained.evaluate(dataset, verbose=0, return_dict=True)["loss"]
    after = clf.evaluate((texts, labels))["loss"]
    assert after < before - 0.02, (before, after)  # measured: 0.690 -> 0.662

    loaded = toolkit.load(clf.run_dir)
    sentences = ["a gorgeous , witty , seductive movie .", "a tedious mess ."]
    assert loaded.predict(sentences) == clf.predict(sentences)
    np.testing.assert_allclose(
        [p["probability"] for p in loaded.predict(sentences)], [p["probability"] for p in clf.predict(sentences)]
    )


def test_local_preset_freeze_keeps_encoder_fixed(tiny_bert_preset, fast):
    import keras_hub

    clf = TextClassifier(backbone=tiny_bert_preset, finetune="freeze", learning_rate=1e-2, **fast).fit(toy_texts())
    assert clf.sequence_length_ <= 32  # within the preset's limit
    pretrained = keras_hub.models.Backbone.from_preset(tiny_bert_preset).get_weights()
    trained = clf.model_.get_layer("backbone").get_weights()
    assert len(pretrained) == len(trained) > 0
    for before, after in zip(pretrained, trained, strict=True):
        np.testing.assert_array_equal(before, after)


def test_local_preset_full_fine_tune_moves_encoder_and_loads(tiny_bert_preset, fast):
    import keras_hub

    clf = TextClassifier(backbone=tiny_bert_preset, learning_rate=3e-3, **{**fast, "epochs": 1, "batch_size": 8})
    clf.fit(toy_texts())
    # Mechanics only: a random one-layer BERT gives nearly equal features for every text, so learning is
    # tested on the real MiniLM above.
    pretrained = keras_hub.models.Backbone.from_preset(tiny_bert_preset).get_weights()
    trained = clf.model_.get_layer("backbone").get_weights()
    assert len(pretrained) == len(trained) > 0
    moved = [not np.array_equal(b, a) for b, a in zip(pretrained, trained, strict=True)]
    assert all(moved)
    loaded = toolkit.load(clf.run_dir)
    assert loaded.predict(["a fine film", "boring plot"]) == clf.predict(["a fine film", "boring plot"])


def test_preset_rejects_start_padding(tiny_bert_preset, fast):
    with pytest.raises(toolkit.ToolkitError, match="padding='start' applies to from-scratch backbones only"):
        TextClassifier(backbone=tiny_bert_preset, padding="start", **fast).fit(toy_texts())


def test_preset_name_offline_gives_clear_error(fast, offline):
    with pytest.raises(
        toolkit.ToolkitError, match="(?s)Could not download KerasHub preset 'bert_tiny_en_uncased'.*local preset folder"
    ):
        TextClassifier(backbone="bert_tiny_en_uncased", **fast).fit(toy_texts())


def test_list_backbones_for_text(capsys):
    from toolkit.cli import main

    assert main(["list", "backbones", "--task", "text-classification"]) == 0
    out = capsys.readouterr().out
    for name in ("cnn", "bilstm", "gru", "transformer", "bert_tiny_en_uncased"):
        assert name in out
    assert "resnet " not in out


def test_cnn_student_distils_from_a_preset_teacher_run(tiny_bert_preset, fast):
    """A KerasHub teacher tokenises in its preprocessor, not in `call`: the distiller feeds it token ids."""
    teacher = TextClassifier(backbone=tiny_bert_preset, **{**fast, "epochs": 1}).fit(toy_texts())
    student = TextClassifier(backbone="cnn", width=8, embedding_dim=8, teacher=teacher.run_dir, alpha=0.0, **fast)
    student.fit(toy_texts())
    history = toolkit.files.read_history(pathlib.Path(student.run_dir) / toolkit.runs.HISTORY_FILE)
    assert np.isfinite(history["loss"]).all() and history["loss"][0] > 0
    assert student.model_.name == "text_classifier"  # the student is saved, not the distiller
