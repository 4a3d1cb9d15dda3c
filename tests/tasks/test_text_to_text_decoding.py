"""Compiled, cached text-to-text decoding (`tasks.text_to_text.decoding`): the same targets as the whole
model read once per token, for both backbones, greedy and beam, including targets that run into padding
tokens (untrained models write them)."""

import numpy as np
import pytest

from tasks.text_to_text import decoding
from tasks.text_to_text import model as model_lib

SOURCES = np.array([[4, 5, 6, 7, 8], [9, 4, 0, 0, 0], [5, 5, 5, 5, 0]])


@pytest.mark.parametrize(
    "backbone, depth, kind",
    [("gru_attention", 1, "recurrent state"), ("gru_attention", 2, "recurrent state"),
     ("transformer", 2, "keys and values")],
)  # fmt: skip
@pytest.mark.parametrize("decoder", ["greedy", "beam"])
def test_cached_decoding_writes_what_the_whole_model_per_token_writes(backbone, depth, kind, decoder):
    import keras

    written = set()
    for seed in range(3):
        keras.utils.set_random_seed(seed)
        model = getattr(model_lib, backbone)(14, 12, width=8, depth=depth, heads=2)
        cached = decoding.Writer(model, jit_compile=False)
        plain = decoding.Writer(model, cache=False, jit_compile=False)
        assert cached.kind == kind and plain.kind == "none"
        mine = cached.write(SOURCES, 10, decoder, beam_width=3)
        assert mine.tolist() == plain.write(SOURCES, 10, decoder, beam_width=3).tolist(), seed
        assert mine.shape == (3, 10) and (mine[:, 0] == decoding.START).all()
        written |= set(mine[:, 1:].ravel().tolist())
        compiled = decoding.Writer(model).write(SOURCES, 10, decoder, beam_width=3)  # XLA, as generate runs
        assert compiled.tolist() == mine.tolist(), seed
    assert len(written) > 3  # the models wrote varied tokens, not one repeated


def test_sources_longer_than_a_bucket_and_batches_past_the_decode_batch(monkeypatch):
    import keras

    keras.utils.set_random_seed(0)
    model = model_lib.transformer(14, 40, width=8, depth=1, heads=2)
    monkeypatch.setattr(decoding, "DECODE_BATCH", 4)
    rng = np.random.default_rng(0)
    sources = rng.integers(4, 14, size=(9, 21))  # 21 columns: padded to 32 (the model reads 40)
    writer = decoding.Writer(model, jit_compile=False)
    together = writer.write(sources, 6, "greedy")
    alone = np.concatenate([writer.write(sources[i : i + 1], 6, "greedy") for i in range(9)])
    assert _until_end(together) == _until_end(alone)  # a row alone stops at its end token
    assert sorted(writer.functions) == [("greedy", 4)]


def _until_end(rows):
    """Each row up to its first end token (what the task reads; in a batch a finished row keeps being
    written while others run)."""
    cut = []
    for row in rows.tolist():
        cut.append(row[: row.index(decoding.END) + 1] if decoding.END in row else row)
    return cut
