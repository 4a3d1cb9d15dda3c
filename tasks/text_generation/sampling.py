"""Continuing token ids with KerasHub's samplers around a language model's next-token logits."""

import warnings

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
