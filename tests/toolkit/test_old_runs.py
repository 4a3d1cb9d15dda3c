"""Runs saved by the main of 2026-12-07 (before the reshape) still load and predict what they predicted."""

import json
import pathlib

import numpy as np
from sklearn.datasets import load_digits

import toolkit

RUNS = pathlib.Path(__file__).parents[1] / "data" / "runs_2026_12_07"


def test_runs_saved_before_the_reshape_load_and_predict_as_they_did():
    expected = json.loads((RUNS / "expected.json").read_text())
    images = (load_digits().images * 16).astype("uint8")[:5]

    classifier = toolkit.load(RUNS / "image_classification" / "image")
    assert type(classifier).__name__ == "ImageClassifier"
    assert [a["label"] for a in classifier.predict(list(images))] == expected["image"]

    texts = toolkit.load(RUNS / "text_classification" / "text")
    assert [a["label"] for a in texts.predict(["a fine film", "weak and dull"])] == expected["text"]

    vae = toolkit.load(RUNS / "image_generation" / "vae")
    np.testing.assert_array_equal(vae.sample(2, seed=1), np.array(expected["vae"], dtype=np.uint8))
    assert vae.metrics_["test"]["negative_elbo"] > 0


def test_a_text_generator_saved_before_it_had_a_preprocessor_generates_as_it_did():
    """Saved by main at df0e785 (2026-12-07, text generation still on its own path): a character GPT of 16
    units trained 12 epochs on two lines of Hamlet."""
    expected = json.loads((RUNS / "expected.json").read_text())
    gen = toolkit.load(RUNS / "text_generation" / "text")
    texts = gen.generate(["to be", "whether"], sampler="greedy") + [gen.generate("the", sampler="top_k", seed=3)]
    assert texts == expected["text_generation"]
    loss = gen.evaluate(["whether tis nobler in the mind to suffer\n" * 4])["loss"]
    np.testing.assert_allclose(loss, expected["text_generation_loss"], rtol=1e-5)
