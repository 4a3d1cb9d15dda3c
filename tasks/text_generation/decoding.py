"""Compiled generation: KerasHub's samplers run inside one XLA-compiled function, with a cache.

Re-running the whole window for every new token, with the sampling loop stepping in Python, made 89
tokens/s on a tiny character GPT where the same weights with a key/value cache make 17,000 (2026-12-06).
Here the sampler's loop runs inside a `tf.function` (XLA where it compiles), and while the text fits
the model's context each step reads one token:

- the `gpt` backbone keeps each block's keys and values (KerasHub's `TransformerDecoder` takes
  `self_attention_cache` / `self_attention_cache_update_index`, its `TokenAndPositionEmbedding` a
  `start_index`: the cache layout of KerasHub's `GPT2CausalLM.call_with_cache`);
- `lstm_lm` and `gru_lm` carry their cells' states;
- any other backbone (a user's model) re-reads the text each step, compiled.

Past the context, every step reads the last `context` tokens at positions 0..context-1, as the model
was trained, which no cache can reuse (each step moves every position); those steps re-read the
window, compiled, so the text is the same as one full forward pass per token gives. Written here
because KerasHub's `CausalLM.generate` needs one of its own backbones; a preset's model uses it.

Prompts of one length run together as one batch; the sampler's seed restarts for each batch and the
seeded samplers draw row by row, so a prompt's text depends on the prompt and the seed only, not on
which other prompts share the call. Prompts of other lengths run as other batches (a shorter prompt
padded beside a longer one would start drawing at another step of the seed's stream).
"""

import keras
import numpy as np
import tensorflow as tf

from tasks.text_generation import sampling

BATCH = 64  # prompts of one length generated together


class Decoder:
    """Generates from a token-ids -> logits language model `model` whose context is `context` tokens.

    Examples:
        >>> from tasks.text_generation import model as model_lib
        >>> lm = model_lib.build("gpt", 20, 16, width=8, depth=1, heads=2)
        >>> decoder = Decoder(lm, 16)
        >>> cached = decoder.continue_ids([[3, 4, 5]], 8, "greedy", 1.0, 0)
        >>> again = Decoder(lm, 16, cache=False).continue_ids([[3, 4, 5]], 8, "greedy", 1.0, 0)
        >>> cached[0].tolist() == again[0].tolist(), len(cached[0])
        (True, 11)
    """

    def __init__(self, model, context, cache=True, jit_compile=True):
        self.model, self.context, self.jit_compile = model, int(context), jit_compile
        self.stepper = _stepper(model) if cache else None
        self.samplers, self.functions, self.calls = {}, {}, 0

    @property
    def kind(self):
        """ "keys and values", "recurrent state" or "none": what the model keeps between steps."""
        return "none" if self.stepper is None else self.stepper.kind

    def continue_ids(self, encoded, max_length, name, temperature, seed):
        """Each prompt's ids (lists, none empty) followed by `max_length` generated ids (NumPy rows).

        Prompts of one length are generated together, `BATCH` at a time, each row as it would be alone
        (the seeded samplers draw row by row, `sampling._row_wise`); `calls` counts the batches run."""
        sampler, initial = self._sampler(name, temperature, seed)
        rows = [None] * len(encoded)
        by_length = {}
        for i, ids in enumerate(encoded):
            by_length.setdefault(len(ids), []).append(i)
        for length, members in by_length.items():
            for first in range(0, len(members), BATCH):
                batch = members[first : first + BATCH]
                for state, value in zip(sampler.variables, initial):
                    state.assign(value)  # the seed's first state: a fresh sampler's draws
                prompt = np.zeros((len(batch), length + max_length), np.int32)
                prompt[:, :length] = [encoded[i] for i in batch]
                for i, row in zip(batch, self._continue(sampler, prompt, length)):
                    rows[i] = row
                self.calls += 1
        return rows

    def _continue(self, sampler, prompt, index):
        total = prompt.shape[1]
        cached_end = min(total, self.context) if self.stepper is not None else 0
        if total > self.context and isinstance(sampler, _beam_class()):
            cached_end = 0  # a beam search split in two phases would keep only one beam between them
        if index < cached_end:
            head = self._function("cached", sampler)(tf.constant(prompt[:, :cached_end]), tf.constant(index))
            prompt[:, :cached_end] = head.numpy()
            index = cached_end
        if index < total:
            prompt = self._function("window", sampler)(tf.constant(prompt), tf.constant(index)).numpy()
        return prompt

    def greedy_graph(self, ids, max_length):
        """`ids` (a 1-D int32 tensor, not empty) and `max_length` greedy ids after them, in TensorFlow ops
        only (for a SavedModel's signature): the same two phases as `continue_ids`, chosen by `tf.cond`."""
        sampler = sampling.sampler("greedy", 1.0, 0)
        given = tf.size(ids)
        total = given + max_length
        prompt = tf.concat([ids, tf.zeros([max_length], tf.int32)], 0)[None]
        if self.stepper is not None:
            cached_end = tf.minimum(total, self.context)

            def cached():
                head = self._cached(sampler, prompt[:, :cached_end], given)
                return tf.concat([head, prompt[:, cached_end:]], 1)

            prompt = tf.cond(given < cached_end, cached, lambda: prompt)
            index = tf.maximum(given, cached_end)
        else:
            index = given
        prompt = tf.cond(index < total, lambda: self._window(sampler, prompt, index), lambda: prompt)
        return prompt[0]

    def _sampler(self, name, temperature, seed):
        key = (name, float(temperature), int(seed))
        if key not in self.samplers:
            made = sampling.sampler(name, temperature, seed)
            self.samplers[key] = (made, [np.array(v.numpy()) for v in made.variables])
        return self.samplers[key]

    def _function(self, phase, sampler):
        key = (phase, id(sampler))
        if key not in self.functions:
            run = self._cached if phase == "cached" else self._window
            seeded = bool(sampler.variables)
            self.functions[key] = tf.function(
                lambda prompt, index: run(sampler, prompt, index),
                # XLA draws random numbers with another algorithm than TensorFlow's kernels: a seeded
                # sampler compiled by XLA would write other text than the same seed eagerly.
                jit_compile=self.jit_compile and not seeded,
                # The beam sampler's loop needs static shapes (it tiles the prompt and cache per beam).
                reduce_retracing=not isinstance(sampler, _beam_class()),
            )
        return self.functions[key]

    def _cached(self, sampler, prompt, index):
        cache = self.stepper.seed(prompt, index)

        def next_token(tokens, cache, index):
            logits, cache = self.stepper.step(
                tf.slice(tokens, [0, index - 1], [tf.shape(tokens)[0], 1]), cache, index - 1
            )
            return logits[:, 0], None, cache

        return sampler(next_token, prompt, cache=cache, index=index)

    def _window(self, sampler, prompt, index):
        total = tf.shape(prompt)[1]
        window = tf.minimum(self.context, total)

        def next_token(tokens, cache, index):
            # The context is the last `window` tokens before `index`, at positions 0..window-1.
            first = tf.clip_by_value(index - window, 0, total - window)
            context = tf.slice(tokens, [0, first], [tf.shape(tokens)[0], window])
            logits = self.model(context, training=False)
            return tf.gather(logits, index - 1 - first, axis=1), None, cache

        return sampler(next_token, prompt, index=index)


class _KeysAndValues:
    """The `gpt` backbone's cached step: KerasHub's `GPT2CausalLM.call_with_cache`, on this layout."""

    kind = "keys and values"

    def __init__(self, model, embedding, blocks, norm, head):
        self.model, self.embedding, self.blocks, self.norm, self.head = model, embedding, blocks, norm, head

    def step(self, token_ids, cache, index):
        x = self.embedding(token_ids, start_index=index)
        caches = []
        for i, block in enumerate(self.blocks):
            x, layer_cache = block(x, self_attention_cache=cache[:, i], self_attention_cache_update_index=index)
            caches.append(layer_cache)
        return self.head(self.norm(x)), tf.stack(caches, axis=1)

    def seed(self, prompt, index):
        """The cache after reading the whole prompt array in one pass (positions past `index` are written
        over as tokens are drawn, and the causal mask hides them until then)."""
        block = self.blocks[0]
        heads = block._self_attention_layer.num_heads
        size = block._self_attention_layer.key_dim
        shape = [tf.shape(prompt)[0], len(self.blocks), 2, tf.shape(prompt)[1], heads, size]
        return self.step(prompt, tf.zeros(shape, self.model.compute_dtype), 0)[1]


class _RecurrentState:
    """`lstm_lm` / `gru_lm`: the cells' states after each token, one token per step."""

    kind = "recurrent state"

    def __init__(self, embedding, layers, head):
        self.embedding, self.cells, self.head = embedding, [layer.cell for layer in layers], head

    def step(self, token_ids, states, index):
        x = self.embedding(token_ids)[:, 0]
        carried = []
        for cell, state in zip(self.cells, states):
            x, new = cell(x, list(state) if isinstance(state, (list, tuple)) else [state], training=False)
            carried.append(tuple(new) if isinstance(new, (list, tuple)) else (new,))
        return self.head(x)[:, None], tuple(carried)

    def seed(self, prompt, index):
        """The states after the prompt's tokens before `index - 1` (the first step reads that one)."""
        batch = prompt.shape[0] if prompt.shape[0] is not None else tf.shape(prompt)[0]
        states = tuple(
            tuple(tf.zeros([batch, size]) for size in tf.nest.flatten(cell.state_size)) for cell in self.cells
        )

        def body(i, states):
            return i + 1, self.step(tf.slice(prompt, [0, i], [batch, 1]), states, i)[1]

        return tf.while_loop(lambda i, _: i < index - 1, body, (tf.constant(0), states))[1]


def _beam_class():
    import keras_hub

    return keras_hub.samplers.BeamSampler


class _HubCache:
    """A preset's KerasHub `CausalLM`: its own `call_with_cache` and `_build_cache`, as its `generate` uses."""

    kind = "keys and values"

    def __init__(self, causal_lm):
        self.causal_lm = causal_lm

    def step(self, token_ids, cache, index):
        logits, _, cache = self.causal_lm.call_with_cache(token_ids, cache, index)
        return tf.cast(logits, "float32"), cache

    def seed(self, prompt, index):
        return self.causal_lm._build_cache(prompt)[1]


def _stepper(model):
    """The cached step of a preset's causal LM or of the toolkit's own backbones (by their layout), or
    None for any other model."""
    import keras_hub

    hub = [layer for layer in model.layers if isinstance(layer, keras_hub.models.CausalLM)]
    if hub and hasattr(hub[0], "call_with_cache") and hasattr(hub[0], "_build_cache"):
        return _HubCache(hub[0])
    try:
        backbone, head = model.get_layer("backbone"), model.get_layer("next_token")
        embedding = backbone.get_layer("embedding")
    except ValueError:
        return None
    inner = [
        layer for layer in backbone.layers if not isinstance(layer, (keras.layers.InputLayer, keras.layers.Dropout))
    ]
    if len(model.layers) != 3 or inner[0] is not embedding:
        return None
    blocks = inner[1:-1]
    if (
        isinstance(embedding, keras_hub.layers.TokenAndPositionEmbedding)
        and blocks
        and all(isinstance(b, keras_hub.layers.TransformerDecoder) for b in blocks)
        and isinstance(inner[-1], keras.layers.LayerNormalization)
    ):
        return _KeysAndValues(model, embedding, blocks, inner[-1], head)
    recurrent = inner[1:]
    if (
        isinstance(embedding, keras.layers.Embedding)
        and recurrent
        and all(isinstance(layer, (keras.layers.LSTM, keras.layers.GRU)) for layer in recurrent)
    ):
        return _RecurrentState(embedding, recurrent, head)
    return None
