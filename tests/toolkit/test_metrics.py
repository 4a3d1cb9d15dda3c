"""The metrics (`toolkit.metrics`, `toolkit.answer_metrics`) against their references: scikit-learn, the
official scorers, and the cases outside checks found to differ, each on the case that failed.

(COCO's crowd regions against COCOeval are in tests/tasks/test_detection_layouts.py.)
"""

import numpy as np
import pytest
from sklearn.metrics import f1_score

import toolkit
from toolkit import answer_metrics, metrics
from toolkit.metrics import classification_metrics, error_rates, segmentation_metrics


def test_top_5_accuracy_counts_classes_scored_strictly_higher():
    """Ties go to the true class: numpy's argsort of tied scores used to decide, differently per layout."""
    tied = np.full((1, 10), 0.1)  # all ten classes tie: no class scores higher than the true one
    for label in range(10):
        assert metrics.classification_metrics(np.array([label]), tied, list("abcdefghij"))["top_5_accuracy"] == 1.0
    # Hand-checked: class 9 has five strictly higher (a miss), class 4 has four higher (a hit).
    scores = np.array([[0.3, 0.2, 0.15, 0.1, 0.09, 0.09, 0.03, 0.02, 0.01, 0.01]] * 2)
    scores[0, 9] = 0.05
    m = metrics.classification_metrics(np.array([9, 4]), scores / scores.sum(-1, keepdims=True), list("abcdefghij"))
    assert m["top_5_accuracy"] == 0.5


def _official_has_answer(answers):
    # The official SQuAD v2.0 script: qid_to_has_ans = {qa["id"]: bool(qa["answers"]) ...}
    return bool(answers)


def test_squad_counts_a_question_answerable_when_its_answer_list_is_not_empty():
    references = [["The"], ["."], [], ["Paris"]]
    predictions = ["", "", "", "Paris"]
    scores = answer_metrics.squad_scores(references, predictions)
    assert scores["has_answer_count"] == sum(_official_has_answer(r) for r in references) == 3
    assert scores["no_answer_count"] == 1
    # The official script scores "The" against "" as a match (the gold normalises to nothing).
    assert scores["has_answer_exact"] == pytest.approx(100.0) and scores["exact_match"] == pytest.approx(100.0)


def test_vae_negative_elbo_weighs_every_image_alike():
    """Batches of 3 and 1 images: the mean over the four images, not the mean of the two batch means."""
    import keras
    import tensorflow as tf

    from tasks.image_generation import networks
    from tasks.image_generation.model import VAE

    keras.utils.set_random_seed(0)
    model = VAE(
        networks.encoder("dense", (8, 8, 1), 8, 1, 2, True), networks.decoder("dense", (8, 8, 1), 8, 1, 2, None)
    )
    model.compile(optimizer="adam")
    images = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 1)).astype("float32")
    images[3] = 255.0  # one image far from the others, alone in the last batch
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(3)
    start = model.noise.state.numpy().copy()
    evaluated = model.evaluate(dataset, verbose=0, return_dict=True)
    model.noise.state.assign(start)  # the same noise draws, batch by batch
    per_image = np.concatenate([(lambda r, k: (r + k).numpy())(*model.terms(batch / 255.0)) for batch in dataset])
    assert evaluated["loss"] == pytest.approx(per_image.mean(), rel=1e-5)
    batch_means = np.mean([per_image[:3].mean(), per_image[3:].mean()])
    assert abs(batch_means - per_image.mean()) > 1e-3 * abs(per_image.mean())  # the case tells them apart


def test_perplexity_scores_the_cross_entropy_without_the_weight_penalty(tmp_path):
    import keras

    from tasks import TextGenerator

    text = "the cat sat on the mat. the dog sat on the log.\n" * 60
    gen = TextGenerator(backbone="gpt", width=16, depth=1, heads=2, sequence_length=16, max_length=4, l2=0.05,
                        epochs=1, verbose=0, test_split=0, save_dir=str(tmp_path))  # fmt: skip
    gen.fit([text])
    with pytest.raises(toolkit.ToolkitError, match="validation part of the corpus is empty"):  # one long line
        TextGenerator(epochs=1, verbose=0, save_dir=str(tmp_path)).fit([text.replace("\n", " ")])
    dataset = gen.evaluation_data([text[-800:]])
    total, count = 0.0, 0
    for x, y in dataset:
        losses = keras.losses.sparse_categorical_crossentropy(y, gen.model_(x, training=False), from_logits=True)
        total, count = total + float(np.sum(losses)), count + int(np.size(losses))
    cross_entropy = total / count
    scores = gen.score(dataset)
    assert scores["loss"] == pytest.approx(cross_entropy, rel=1e-4)
    assert scores["perplexity"] == pytest.approx(np.exp(cross_entropy), rel=1e-4)
    with_penalty = gen.model_.evaluate(dataset, verbose=0, return_dict=True)["loss"]
    assert with_penalty > cross_entropy + 0.01  # Keras' loss holds the penalty: the case tells them apart


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
