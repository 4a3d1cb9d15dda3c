"""Compiled, cached generation (`tasks.text_generation.decoding`): the same tokens as one full forward
pass per token, for every backbone with a cache (GPT's keys and values, LSTM and GRU states, a KerasHub
preset's own cache) and every sampler, inside the context and past it; prompts in one call draw as they
would alone."""

import numpy as np
import pytest

from tasks.text_generation import decoding, pretrained
from tasks.text_generation import model as model_lib
from tests.tasks.test_text_generation import tiny_gpt2_preset

CONTEXT = 16
# (prompts, tokens to add): inside the context; crossing it; a prompt longer than the context
CASES = [([[3, 4, 5], [7]], 9), ([[1, 2, 3, 4, 5, 6]], 20), ([list(range(1, 20))], 4)]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(0)
    built = {
        name: model_lib.build(name, 30, CONTEXT, width=16, depth=2, heads=2) for name in ("gpt", "lstm_lm", "gru_lm")
    }
    folder = tmp_path_factory.mktemp("preset") / "gpt2"
    built["preset"] = pretrained.wrap(
        pretrained.load_causal_lm(tiny_gpt2_preset(folder, "to be or not to be " * 50, merges=5)), CONTEXT
    )
    return built


@pytest.mark.parametrize("backbone, kind", [("gpt", "keys and values"), ("lstm_lm", "recurrent state"),
                                            ("gru_lm", "recurrent state"), ("preset", "keys and values")])  # fmt: skip
@pytest.mark.parametrize("sampler", ["greedy", "top_k", "beam"])
def test_cached_generation_writes_what_a_full_pass_per_token_writes(models, backbone, kind, sampler):
    cached, plain = (
        decoding.Decoder(models[backbone], CONTEXT),
        decoding.Decoder(models[backbone], CONTEXT, cache=False),
    )
    assert cached.kind == kind and plain.kind == "none"
    for prompts, count in CASES:
        mine = cached.continue_ids(prompts, count, sampler, 1.0, 5)
        reference = plain.continue_ids(prompts, count, sampler, 1.0, 5)
        assert [row.tolist() for row in mine] == [row.tolist() for row in reference], (prompts, count)
        assert all(row[: len(p)].tolist() == p and len(row) == len(p) + count for row, p in zip(mine, prompts))


@pytest.mark.parametrize("sampler", ["greedy", "random", "top_k", "top_p", "beam"])
def test_prompts_in_one_batch_write_what_they_write_alone_and_a_seed_repeats(models, sampler):
    decoder = decoding.Decoder(models["gpt"], CONTEXT)
    prompts = [[3, 4], [5], [3, 4], [6, 7]]
    together = decoder.continue_ids(prompts, 10, sampler, 1.0, 11)
    assert decoder.calls == 2  # one batch per prompt length
    alone = [decoder.continue_ids([p], 10, sampler, 1.0, 11)[0] for p in prompts]
    assert [r.tolist() for r in together] == [r.tolist() for r in alone]
    assert together[0].tolist() == together[2].tolist()  # the seed restarts for each batch
    if sampler in ("random", "top_k", "top_p"):
        other = decoder.continue_ids([[3, 4]], 10, sampler, 1.0, 12)[0]
        assert other.tolist() != together[0].tolist()  # another seed, other draws


def test_one_prompt_draws_exactly_as_kerashubs_own_sampler(models):
    """The row-wise draw changes nothing for one prompt: KerasHub's TopKSampler, same seed, same tokens."""
    import keras_hub
    import tensorflow as tf

    lm = models["gpt"]

    def next_token(prompt, cache, index):
        return tf.gather(lm(prompt, training=False), index - 1, axis=1), None, cache

    prompt = np.zeros((1, 12), np.int32)
    prompt[0, :2] = [3, 4]
    theirs = keras_hub.samplers.TopKSampler(k=10, seed=11)(next_token, prompt, index=2)
    mine = decoding.Decoder(lm, CONTEXT, cache=False).continue_ids([[3, 4]], 10, "top_k", 1.0, 11)
    assert np.asarray(theirs)[0].tolist() == mine[0].tolist()


def test_the_graph_greedy_path_writes_what_continue_ids_writes(models):
    import tensorflow as tf

    for backbone in ("gpt", "lstm_lm", "preset"):
        decoder = decoding.Decoder(models[backbone], CONTEXT)
        run = tf.function(
            lambda ids, d=decoder: d.greedy_graph(ids, 9), input_signature=[tf.TensorSpec([None], tf.int32)]
        )
        for prompt in ([3, 4, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], list(range(1, 20))):
            wanted = decoder.continue_ids([prompt], 9, "greedy", 1.0, 0)[0].tolist()
            assert run(tf.constant(prompt, tf.int32)).numpy().tolist() == wanted, (backbone, prompt)


def test_a_users_own_backbone_generates_without_a_cache():
    import keras

    backbone = keras.Sequential(
        [keras.Input((None,), dtype="int32"), keras.layers.Embedding(30, 8), keras.layers.Dense(8)]
    )
    lm = model_lib.build(backbone, 30, CONTEXT)
    decoder = decoding.Decoder(lm, CONTEXT)
    assert decoder.kind == "none"
    rows = decoder.continue_ids([[1, 2]], 5, "greedy", 1.0, 0)
    expected = [1, 2]
    for _ in range(5):
        expected.append(int(np.argmax(lm(np.array([expected]))[0, -1])))
    assert rows[0].tolist() == expected
