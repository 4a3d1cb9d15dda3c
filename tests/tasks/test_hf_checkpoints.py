"""Hugging Face task checkpoints as backbones, from folders written here (no download): a
BertForQuestionAnswering folder without a pooler loads, its `qa_outputs` starts the span head, a
sequence-classification head starts the text classifier when the classes fit, and a folder with only
PyTorch weights gets a clear error."""

import hashlib
import warnings

import numpy as np
import pytest

import toolkit
from tasks import QuestionAnswerer, TextClassifier
from tasks.question_answering import data as qa_data
from tests.tasks.hf_folders import write_folder
from toolkit import backbones


def _fingerprint(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize(
    "model_type, pooler",
    [("bert", False), ("bert", True), ("distilbert", True), ("roberta", True), ("albert", False)],
)
def test_a_question_answering_checkpoint_keeps_its_span_head(tmp_path, model_type, pooler):
    folder, heads = write_folder(tmp_path / "squad-tuned", model_type, head="qa", pooler=pooler)
    before = _fingerprint(folder)
    task = QuestionAnswerer(backbone=str(folder), max_length=32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = task.build_model()
    kernel, bias = model.get_layer("span").get_weights()
    np.testing.assert_array_equal(kernel, heads["qa_outputs.weight"].T)
    np.testing.assert_array_equal(bias, heads["qa_outputs.bias"])
    said = [str(w.message) for w in caught if "has no pooler" in str(w.message)]
    assert bool(said) == (model_type in ("bert", "albert") and not pooler)  # a missing pooler is said, never silent
    assert _fingerprint(folder) == before  # the user's folder is read, never changed


def test_the_span_head_answers_as_the_checkpoint_did_and_trains_on(tmp_path):
    """The model's start and end logits are the checkpoint's head on the encoder's features; one short fit
    runs end to end on the folder (its tokenizer, its encoder, its head)."""
    import keras

    folder, heads = write_folder(tmp_path / "squad-tuned", "bert", head="qa", pooler=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        encoder = backbones.load_preset(str(folder), "backbone")
        model = QuestionAnswerer(backbone=str(folder), max_length=32).build_model()
    ids = np.array([[2, 8, 12, 3, 11, 13, 3, 0]])
    inputs = {"token_ids": ids, "segment_ids": np.array([[0, 0, 0, 0, 1, 1, 1, 0]]), "padding_mask": ids > 0}
    features = keras.ops.convert_to_numpy(encoder(inputs)["sequence_output"])
    expected = features @ heads["qa_outputs.weight"].T + heads["qa_outputs.bias"]
    found = model(inputs)
    np.testing.assert_allclose(np.asarray(found["start"])[0, :7], expected[0, :7, 0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(found["end"])[0, :7], expected[0, :7, 1], rtol=1e-4, atol=1e-4)
    questions = qa_data.generated_facts(40)
    fitted = QuestionAnswerer(backbone=str(folder), max_length=48, epochs=1, test_split=0, verbose=0,
                              save_dir=str(tmp_path / "runs")).fit(questions)  # fmt: skip
    assert "f1" in fitted.metrics_["validation"]


def _classifier(folder, classes):
    task = TextClassifier(backbone=str(folder))
    task.classes_, task.sequence_length_ = list(classes), 16
    return task.build_model()


@pytest.mark.parametrize("model_type", ["bert", "distilbert", "roberta", "albert"])
def test_a_sequence_classification_head_starts_the_classifier_in_the_data_s_class_order(tmp_path, model_type):
    folder, heads = write_folder(tmp_path / "sst2-tuned", model_type, head="classes", labels=["positive", "negative"])
    classifier = _classifier(folder, ["negative", "positive"])  # the data's classes, sorted
    output = "classifier.out_proj" if model_type == "roberta" else "classifier"
    kernel, bias = classifier.output_dense.get_weights()
    np.testing.assert_array_equal(kernel, heads[f"{output}.weight"].T[:, [1, 0]])
    np.testing.assert_array_equal(bias, heads[f"{output}.bias"][[1, 0]])
    hidden = {"distilbert": "pre_classifier", "roberta": "classifier.dense"}.get(model_type)
    if hidden:
        np.testing.assert_array_equal(classifier.pooled_dense.get_weights()[0], heads[f"{hidden}.weight"].T)


def test_a_classification_head_of_another_class_count_is_said_and_left_untrained(tmp_path):
    folder, heads = write_folder(tmp_path / "sst2-tuned", "bert", head="classes", labels=["negative", "positive"])
    with pytest.warns(UserWarning, match=r"head for 2 classes .* this data has 3: the head starts untrained"):
        classifier = _classifier(folder, ["a", "b", "c"])
    assert classifier.output_dense.get_weights()[0].shape == (16, 3)


def test_a_folder_with_only_pytorch_weights_says_how_to_convert_it(tmp_path):
    folder, _ = write_folder(tmp_path / "torch-only", "bert", head="qa")
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(toolkit.ToolkitError, match="(?s)has only pytorch_model.bin.*Expected: model.safetensors.*"
                       "Fix: convert it once.*safe_serialization=True"):  # fmt: skip
        backbones.load_preset(str(folder), "backbone")


def test_an_albert_question_answering_folder_fits_and_answers_through_its_sentencepiece_tokenizer(tmp_path):
    """ALBERT: SentencePiece tokens, no pooler, `qa_outputs`: one short fit and a prediction whose answer is
    a span of the context, found through the folder's own spiece.model."""
    folder, _ = write_folder(tmp_path / "albert-squad", "albert", head="qa", pooler=False)
    questions = qa_data.generated_facts(40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = QuestionAnswerer(backbone=str(folder), max_length=48, epochs=1, test_split=0, verbose=0,
                                  save_dir=str(tmp_path / "runs")).fit(questions)  # fmt: skip
    assert fitted.tokenizer_["kind"] == "sentencepiece"
    context = "the normans was led by rollo in france ."
    asked = qa_data.Question("q", "who led the normans ?", context, (), (), "t")
    best = fitted._find(fitted.model_, [asked])[0]  # the best span, as if the no-answer threshold let it through
    assert best["text"] and context[best["start"] : best["end"]] == best["text"]
    answer = fitted.predict([{"question": asked.question, "context": context}])[0]
    assert answer["answer"] in ("", best["text"])
    assert "f1" in fitted.metrics_["validation"]
