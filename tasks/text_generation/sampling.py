"""Continuing token ids with KerasHub's samplers around a language model's next-token logits."""

import warnings

from toolkit.errors import ToolkitError

TOP_K, TOP_P, BEAMS = 10, 0.9, 4
SAMPLERS = ("greedy", "random", "top_k", "top_p", "beam")


def sampler(name, temperature, seed):
    """KerasHub's sampler of that name: "greedy", "random" (the model's distribution at `temperature`),
    "top_k" (the 10 likeliest), "top_p" (the likeliest 90%) or "beam" (4 beams). The seeded ones draw
    each row of a batch as that row would draw alone (`_RowWise`)."""
    import keras_hub

    samplers = {
        "greedy": lambda: keras_hub.samplers.GreedySampler(temperature=temperature),
        "random": lambda: _row_wise(keras_hub.samplers.RandomSampler)(seed=seed, temperature=temperature),
        "top_k": lambda: _row_wise(keras_hub.samplers.TopKSampler)(k=TOP_K, seed=seed, temperature=temperature),
        "top_p": lambda: _row_wise(keras_hub.samplers.TopPSampler)(p=TOP_P, seed=seed, temperature=temperature),
        "beam": lambda: keras_hub.samplers.BeamSampler(num_beams=BEAMS, temperature=temperature),
    }
    return samplers[name]()


def _row_wise(base):
    """`base` (a seeded KerasHub sampler) whose draws for a batch of prompts are, row by row, the draws
    each prompt gets alone with the same seed.

    KerasHub's samplers draw a step's tokens with one `stateless_categorical` over the whole batch, so
    row i of a batch reads other random numbers than the same prompt alone, and a prompt's text would
    depend on the prompts beside it. Here each step draws the seed once, as one prompt alone does, and
    every row draws with that seed on its own: a batch writes what one prompt at a time writes (and one
    prompt alone writes exactly what KerasHub's sampler writes). Written here because KerasHub's
    samplers have no such option; `get_next_token` is theirs with the draw replaced.
    """
    import tensorflow as tf
    from keras import ops

    def draw(log_weights, sampler):
        seed = sampler.seed_generator.next()
        seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)  # as keras.random does
        log_weights = tf.cast(log_weights, tf.float32)

        def one(row):
            return tf.random.stateless_categorical(row[None], 1, seed=seed, dtype=tf.int32)[0]

        return tf.map_fn(one, log_weights, fn_output_signature=tf.TensorSpec([1], tf.int32))

    class RowWise(base):
        def get_next_token(self, probabilities):
            if base.__name__ == "RandomSampler":
                return draw(ops.log(probabilities), self)[:, 0]
            if base.__name__ == "TopKSampler":
                top, indices = ops.top_k(probabilities, k=self.k, sorted=False)
                return ops.take_along_axis(indices, draw(ops.log(top), self), axis=-1)[:, 0]
            # TopPSampler (no k): the likeliest tokens up to p, and the one that crosses it
            top, indices = ops.top_k(probabilities, k=ops.shape(probabilities)[1], sorted=True)
            keep = ops.cumsum(top, axis=-1) <= self.p
            keep = ops.concatenate([ops.ones_like(keep[:, :1]), keep[:, :-1]], axis=-1)
            kept = ops.where(keep, top, ops.zeros(ops.shape(top), dtype=top.dtype))
            return ops.take_along_axis(indices, draw(ops.log(kept), self), axis=-1)[:, 0]

    RowWise.__name__ = base.__name__
    return RowWise


def check(prompts, name, max_length=1):
    """The prompts as a list, or an error for anything but strings, an unknown sampler name or a
    `max_length` below 1."""
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    if not prompts or not all(isinstance(p, str) for p in prompts):
        raise ToolkitError(
            "generate takes a prompt string or a list of prompt strings.",
            expected="'ROMEO:' or ['ROMEO:', 'JULIET:']",
            fix="pass strings",
        )
    if name not in SAMPLERS:
        raise ToolkitError(f"sampler={name!r} is not valid.", expected=f"one of {SAMPLERS}", fix="pass one")
    if max_length < 1:
        raise ToolkitError(f"max_length={max_length} is not valid.", expected="1 or more tokens", fix="pass one")
    return prompts


def write(decoder, corpus, prompts, max_length, name, temperature, seed, context):
    """Each prompt followed by the text of `max_length` tokens generated after it: read through the
    corpus preprocessor's tokens (an empty prompt starts a new line), continued by the `decoding.Decoder`."""
    encoded = corpus.check_prompts(prompts)
    start = corpus.encode(["\n"])[0] or [1]
    encoded = [ids or list(start) for ids in encoded]
    if max(len(ids) for ids in encoded) > context:
        warnings.warn(
            f"A prompt is longer than the model's context of {context} tokens; it is read through its last tokens.",
            stacklevel=4,
        )
    rows = decoder.continue_ids(encoded, max_length, name, temperature, seed)
    return [corpus.write(prompt, row[len(ids) :]) for prompt, ids, row in zip(prompts, encoded, rows)]
