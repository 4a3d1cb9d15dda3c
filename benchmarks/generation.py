"""Generation speed: the toolkit's `generate` against the uncached loop it replaced and KerasHub's cached,
XLA-compiled `GPT2CausalLM.generate` on a model of the same size, same machine, back to back.

    python benchmarks/generation.py --tokens 200 --repeats 3

Trains a small character GPT on the first 100,000 characters of tiny Shakespeare for one epoch (the
speed of generation does not depend on how well it learned; `sequence_length` 256 so a prompt and 200
tokens fit its context, as they must fit GPT-2's), then times `--tokens` new tokens after "ROMEO:":

- toolkit: `gen.generate(prompt, max_length=N, sampler=...)` (compiled loop, key/value cache);
- before: the loop `generate` ran until this change (KerasHub's sampler stepping in Python, the whole
  window re-read for each token through one traced model call), kept here as the reference;
- KerasHub: `GPT2CausalLM(GPT2Backbone(same vocabulary, layers, heads, width, 4x width, 256)).generate`
  on token ids (random weights: the same work per token), XLA-compiled as KerasHub does by default.

Prints tokens per second (median of `--repeats`, after one call that compiles), for greedy and top-k,
and whether the toolkit's text is identical to the reference loop's for the same weights and seed; then
eight prompts of one length in one call against one at a time (and whether the texts are the same), and
the SavedModel export's `generate` signature against the graph loop it replaced.
"""

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = pathlib.Path(os.environ.get("TOOLKIT_DATA", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(ROOT))


def before(model, ids, max_length, name, seed, context):
    """The generation loop of main before the cache (sampling.continue_ids at 7c7b31d), for one prompt."""
    import keras

    from tasks.text_generation import sampling
    from toolkit.inference import Inference

    step = Inference(model)
    total = len(ids) + max_length
    window = min(context, total)
    prompt = np.zeros((1, total), np.int32)
    prompt[0, : len(ids)] = ids

    def next_token(tokens, cache, index):
        first = keras.ops.clip(index - window, 0, total - window)
        context_ids = keras.ops.slice(tokens, [0, first], [keras.ops.shape(tokens)[0], window])
        return keras.ops.take(step(context_ids), index - 1 - first, axis=1), None, cache

    return np.asarray(sampling.sampler(name, 1.0, seed)(next_token, prompt, index=len(ids)))[0]


def timed(function, repeats):
    function()  # compiles / traces
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import keras_hub

    from tasks import TextGenerator

    text = (DATA / "tinyshakespeare" / "input.txt").read_text()[:100_000]
    gen = TextGenerator(sequence_length=256, epochs=1, verbose=0, save_dir=tempfile.mkdtemp()).fit([text])
    backbone = gen.model_.get_layer("backbone")
    blocks = [layer for layer in backbone.layers if layer.name.startswith("block_")]
    width = backbone.output_shape[-1]
    sizes = {
        "vocabulary": gen.preprocessor_.vocabulary_size(),
        "layers": len(blocks),
        "heads": blocks[0].num_heads,
        "width": width,
        "context": 256,
        "parameters": gen.model_.count_params(),
    }
    hub = keras_hub.models.GPT2CausalLM(
        keras_hub.models.GPT2Backbone(
            vocabulary_size=sizes["vocabulary"], num_layers=sizes["layers"], num_heads=sizes["heads"],
            hidden_dim=width, intermediate_dim=4 * width, max_sequence_length=256,
        ),
        preprocessor=None,
    )  # fmt: skip
    prompt = "ROMEO:"
    ids = gen.preprocessor_.encode([prompt])[0]
    n = args.tokens
    rows = []
    for sampler, hub_sampler in (("greedy", "greedy"), ("top_k", keras_hub.samplers.TopKSampler(k=10, seed=0))):
        hub.compile(sampler=hub_sampler, jit_compile=True)
        hub_inputs = {
            "token_ids": np.zeros((1, len(ids) + n), np.int32),
            "padding_mask": np.zeros((1, len(ids) + n), bool),
        }
        hub_inputs["token_ids"][0, : len(ids)] = ids
        hub_inputs["padding_mask"][0, : len(ids)] = True
        toolkit_text = gen.generate(prompt, max_length=n, sampler=sampler, seed=0)
        reference_ids = before(gen.model_, ids, n, sampler, 0, 256)
        reference_text = gen.preprocessor_.write(prompt, reference_ids[len(ids) :])
        seconds = {
            "toolkit": timed(lambda s=sampler: gen.generate(prompt, max_length=n, sampler=s, seed=0), args.repeats),
            "before": timed(lambda s=sampler: before(gen.model_, ids, n, s, 0, 256), args.repeats),
            "keras_hub_xla": timed(lambda x=hub_inputs: hub.generate(x, stop_token_ids=None), args.repeats),
        }
        row = {
            "sampler": sampler,
            "tokens": n,
            "tokens_per_second": {k: round(n / v, 1) for k, v in seconds.items()},
            "toolkit_over_keras_hub": round(seconds["keras_hub_xla"] / seconds["toolkit"], 3),
            "toolkit_over_before": round(seconds["before"] / seconds["toolkit"], 1),
            "same_text_as_before": toolkit_text == reference_text,
            "model": sizes,
            "load_average": round(os.getloadavg()[0], 2),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    for sampler in ("greedy", "top_k"):
        print(json.dumps(batched(gen, n, sampler, args.repeats)), flush=True)
    print(json.dumps(savedmodel(gen, n, args.repeats)), flush=True)


PROMPTS = ["ROMEO:", "JULIET", "HAMLET", "MACBET", "BANQUO", "OTHELO", "IAGO: ", "PUCK: "]  # 6 characters each


def batched(gen, n, sampler, repeats):
    """Eight prompts of one length in one `generate` call (one batch) against one call per prompt."""
    together = gen.generate(PROMPTS, max_length=n, sampler=sampler, seed=0)
    alone = [gen.generate(p, max_length=n, sampler=sampler, seed=0) for p in PROMPTS]
    seconds = {
        "one_call": timed(lambda: gen.generate(PROMPTS, max_length=n, sampler=sampler, seed=0), repeats),
        "one_prompt_at_a_time": timed(
            lambda: [gen.generate(p, max_length=n, sampler=sampler, seed=0) for p in PROMPTS], repeats
        ),
    }
    tokens = n * len(PROMPTS)
    return {
        "batched": sampler,
        "prompts": len(PROMPTS),
        "tokens_per_second": {k: round(tokens / v, 1) for k, v in seconds.items()},
        "speed_up": round(seconds["one_prompt_at_a_time"] / seconds["one_call"], 2),
        "same_text_as_one_at_a_time": together == alone,
        "load_average": round(os.getloadavg()[0], 2),
    }


def savedmodel(gen, n, repeats):
    """The SavedModel export's `generate` signature (cached steps in the graph) against the graph loop it
    replaced (the whole window re-read per token in a `tf.while_loop`, `graph_generate` at 388f3c9), on
    token ids, greedy, one prompt."""
    import tensorflow as tf

    folder = pathlib.Path(tempfile.mkdtemp()) / "lm"
    gen.set_params(max_length=n).export(folder, "savedmodel")  # checks its text against generate
    loaded = tf.saved_model.load(str(folder))
    model, window = gen.model_, gen.sequence_length
    ids = tf.constant(gen.preprocessor_.encode(["ROMEO:"])[0], tf.int32)

    @tf.function
    def old_loop(ids):
        def step(i, ids):
            logits = model(ids[None, -window:], training=False)
            return i + 1, tf.concat([ids, tf.cast(tf.argmax(logits[0, -1]), tf.int32)[None]], 0)

        return tf.while_loop(
            lambda i, _: i < n,
            step,
            [tf.constant(0), ids],
            shape_invariants=[tf.TensorShape([]), tf.TensorShape([None])],
        )[1]

    prompt = tf.constant(["ROMEO:"])
    new_text = loaded.generate(prompt).numpy()[0].decode()
    old_text = gen.preprocessor_.write("ROMEO:", old_loop(ids).numpy()[len(ids) :])
    seconds = {"savedmodel_generate": timed(lambda: loaded.generate(prompt), repeats),
               "before_graph_loop": timed(lambda: old_loop(ids), repeats)}  # fmt: skip
    return {
        "savedmodel": "greedy",
        "tokens": n,
        "tokens_per_second": {k: round(n / v, 1) for k, v in seconds.items()},
        "speed_up": round(seconds["before_graph_loop"] / seconds["savedmodel_generate"], 2),
        "same_text_as_before": new_text == old_text,
        "load_average": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    main()
