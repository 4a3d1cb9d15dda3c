"""Continuing token ids with KerasHub's samplers around a language model's next-token logits."""

import warnings

import keras
import numpy as np

from toolkit.errors import ToolkitError

TOP_K, TOP_P, BEAMS = 10, 0.9, 4
SAMPLERS = ("greedy", "random", "top_k", "top_p", "beam")


def sampler(name, temperature, seed):
    """KerasHub's sampler of that name: "greedy", "random" (the model's distribution at `temperature`),
    "top_k" (the 10 likeliest), "top_p" (the likeliest 90%) or "beam" (4 beams)."""
    import keras_hub

    samplers = {
        "greedy": lambda: keras_hub.samplers.GreedySampler(temperature=temperature),
        "random": lambda: keras_hub.samplers.RandomSampler(seed=seed, temperature=temperature),
        "top_k": lambda: keras_hub.samplers.TopKSampler(k=TOP_K, seed=seed, temperature=temperature),
        "top_p": lambda: keras_hub.samplers.TopPSampler(p=TOP_P, seed=seed, temperature=temperature),
        "beam": lambda: keras_hub.samplers.BeamSampler(num_beams=BEAMS, temperature=temperature),
    }
    return samplers[name]()


def continue_ids(step, encoded, max_length, name, temperature, seed, context):
    """Each prompt's ids followed by `max_length` generated ids.

    Args:
        step: a traced function from token ids (1, window) to logits (1, window, vocabulary).
        encoded: the prompts' ids (lists, none empty).
        context: the most tokens the model reads (its `sequence_length`); a longer text is read
            through its last `context` tokens.

    One prompt at a time: a seeded draw then depends on the prompt and the seed only, not on which
    other prompts share the call.
    """
    rows = []
    for ids in encoded:
        total = len(ids) + max_length
        window = min(context, total)
        prompt = np.zeros((1, total), np.int32)
        prompt[0, : len(ids)] = ids

        def next_token(tokens, cache, index, total=total, window=window):
            # The context is the last `window` tokens before `index` (the whole text while it is short).
            first = keras.ops.clip(index - window, 0, total - window)
            context = keras.ops.slice(tokens, [0, first], [keras.ops.shape(tokens)[0], window])
            return keras.ops.take(step(context), index - 1 - first, axis=1), None, cache

        rows.append(np.asarray(sampler(name, temperature, seed)(next_token, prompt, index=len(ids)))[0])
    return rows


def check(prompts, name):
    """The prompts as a list, or an error for anything but strings or an unknown sampler name."""
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    if not prompts or not all(isinstance(p, str) for p in prompts):
        raise ToolkitError(
            "generate takes a prompt string or a list of prompt strings.",
            expected="'ROMEO:' or ['ROMEO:', 'JULIET:']",
            fix="pass strings",
        )
    if name not in SAMPLERS:
        raise ToolkitError(f"sampler={name!r} is not valid.", expected=f"one of {SAMPLERS}", fix="pass one")
    return prompts


def write(step, corpus, prompts, max_length, name, temperature, seed, context):
    """Each prompt followed by the text of `max_length` tokens generated after it: read through the
    corpus preprocessor's tokens (an empty prompt starts a new line), continued by `continue_ids`."""
    encoded = corpus.check_prompts(prompts)
    start = corpus.encode(["\n"])[0] or [1]
    encoded = [ids or list(start) for ids in encoded]
    if max(len(ids) for ids in encoded) > context:
        warnings.warn(
            f"A prompt is longer than the model's context of {context} tokens; it is read through its last tokens.",
            stacklevel=4,
        )
    rows = continue_ids(step, encoded, max_length, name, temperature, seed, context)
    return [corpus.write(prompt, row[len(ids) :]) for prompt, ids, row in zip(prompts, encoded, rows)]
