"""The one inference path (`toolkit.inference.Inference`): the model's own outputs, traced once for every
batch size and, where the model leaves an axis open, for every length."""

import keras
import numpy as np

from toolkit.inference import Inference


def _lengths_model():
    """Waveform-like input of any length -> per-frame outputs (as the speech recognizer's model)."""
    inputs = keras.Input((None,))
    x = keras.layers.Reshape((-1, 1))(inputs)
    x = keras.layers.Conv1D(3, 5, strides=2, padding="same")(x)
    return keras.Model(inputs, x)


def test_inputs_of_every_batch_size_and_length_share_one_graph_and_give_the_models_outputs():
    model = _lengths_model()
    inference = Inference(model)
    rng = np.random.default_rng(0)
    for rows, length in ((1, 100), (3, 160), (2, 171), (5, 64)):
        x = rng.normal(size=(rows, length)).astype("float32")
        got = inference.predict(x, batch_size=4)
        assert got.shape == (rows, (length + 1) // 2, 3)
        np.testing.assert_allclose(got, model(x, training=False).numpy(), atol=1e-5)
    assert inference.traces == 1


def test_a_fixed_shape_model_traces_once_for_every_batch_size_and_dicts_keep_their_keys():
    a, b = keras.Input((4,), name="a"), keras.Input((2,), name="b")
    model = keras.Model({"a": a, "b": b}, keras.layers.Dense(1)(keras.layers.Concatenate()([a, b])))
    inference = Inference(model)
    for rows in (1, 7, 3):
        x = {"b": np.ones((rows, 2), "float32"), "a": np.full((rows, 4), 2.0, "float32")}
        np.testing.assert_allclose(inference.predict(x, batch_size=5), model(x).numpy(), atol=1e-6)
    assert inference.traces == 1
