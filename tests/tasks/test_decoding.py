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


def test_prompts_in_one_call_draw_as_they_would_alone_and_a_seed_repeats(models):
    decoder = decoding.Decoder(models["gpt"], CONTEXT)
    together = decoder.continue_ids([[3, 4], [5], [3, 4]], 10, "top_k", 1.0, 11)
    alone = [decoder.continue_ids([p], 10, "top_k", 1.0, 11)[0] for p in ([3, 4], [5], [3, 4])]
    assert [r.tolist() for r in together] == [r.tolist() for r in alone]
    assert together[0].tolist() == together[2].tolist()  # the seed restarts for each prompt
    other = decoder.continue_ids([[3, 4]], 10, "top_k", 1.0, 12)[0]
    assert other.tolist() != together[0].tolist()  # another seed, other draws (10 draws from the top 10)


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
