"""Compiled, cached decoding for the encoder-decoder backbones: the source read once, one target token
per step.

Writing a target used to run KerasHub's sampler in Python around the whole model, re-reading the
source and every target token so far at each step. Here the sampler's loop runs inside one
`tf.function` (XLA-compiled), the encoder reads the source once, and each step reads one token:

- `transformer_seq2seq`: each decoder block's self-attention keys and values, and its cross-attention
  keys and values of the source computed once (KerasHub's `TransformerDecoder` takes both caches, as
  its BART model's `call_with_cache` uses them);
- `gru_attention`: the decoder cells' states, with the additive attention over the encoder's memory
  at each step.

Any other model re-reads the whole target each step, compiled. Sources are padded to a multiple of
`BUCKET` characters and batches to `DECODE_BATCH` rows so a few shapes compile, not one per batch
(padding is masked, so it changes no output). Written here because KerasHub's `Seq2SeqLM.generate`
needs one of its own backbones.
"""

import keras
import numpy as np
import tensorflow as tf

from tasks.text_to_text.preprocessor import END, PAD, START

BUCKET = 16  # source lengths are padded up to a multiple of this
DECODE_BATCH = 256  # sources decoded together


class Writer:
    """Writes target ids for source ids with a {"source", "target"} -> next-token-logits `model`.

    Examples:
        >>> from tasks.text_to_text import model as model_lib
        >>> model = model_lib.gru_attention(12, 10, width=8)
        >>> source = np.array([[4, 5, 6], [7, 8, 0]])
        >>> cached = Writer(model).write(source, 6, "greedy")
        >>> plain = Writer(model, cache=False).write(source, 6, "greedy")
        >>> cached.tolist() == plain.tolist(), cached.shape, Writer(model).kind
        (True, (2, 6), 'recurrent state')
    """

    def __init__(self, model, cache=True, jit_compile=True):
        self.model, self.jit_compile = model, jit_compile
        self.stepper = _stepper(model) if cache else None
        self.functions = {}
        try:  # a position embedding reads no source longer than its positions: buckets stop there
            self.source_limit = getattr(model.get_layer("source_embedding"), "sequence_length", None)
        except ValueError:
            self.source_limit = None

    @property
    def kind(self):
        """ "keys and values", "recurrent state" or "none": what the model keeps between steps."""
        return "none" if self.stepper is None else self.stepper.kind

    def write(self, source, length, decoder, beam_width=4):
        """Target ids (`length` per row, starting with START) for a (rows, characters) array of source
        ids padded with 0, greedy or by beam search, stopping rows at END."""
        source = np.asarray(source, np.int32)
        rows = len(source)
        columns = max(BUCKET, -(-source.shape[1] // BUCKET) * BUCKET)
        if self.source_limit:
            columns = max(source.shape[1], min(columns, self.source_limit))
        written = []
        for first in range(0, rows, DECODE_BATCH):
            part = source[first : first + DECODE_BATCH]
            size = DECODE_BATCH if rows > DECODE_BATCH else _power_of_two(len(part))
            padded = np.zeros((size, columns), np.int32)
            padded[: len(part), : part.shape[1]] = part
            padded[len(part) :, 0] = END  # rows that only pad the batch: a one-character source
            prompt = np.zeros((size, length), np.int32)
            prompt[:, 0] = START
            out = self._function(decoder, beam_width)(tf.constant(padded), tf.constant(prompt))
            written.append(out.numpy()[: len(part)])
        return np.concatenate(written)

    def _function(self, decoder, beam_width):
        key = (decoder, beam_width)
        if key not in self.functions:
            import keras_hub

            sampler = (
                keras_hub.samplers.GreedySampler()
                if decoder == "greedy"
                else keras_hub.samplers.BeamSampler(num_beams=beam_width)
            )
            self.functions[key] = tf.function(
                lambda source, prompt: self._run(sampler, source, prompt),
                jit_compile=self.jit_compile,
                # The beam sampler's loop needs static shapes (it tiles the prompt and cache per beam);
                # greedy shares one graph across the few bucketed shapes.
                reduce_retracing=decoder == "greedy",
            )
        return self.functions[key]

    def _run(self, sampler, source, prompt):
        if self.stepper is None:

            def next_token(tokens, cache, index):
                # The whole target so far (the zeros after `index` are padding the model masks, and
                # its decoder is causal); the source rides in the cache, so beam search repeats it.
                logits = self.model({"source": cache, "target": tokens}, training=False)
                return tf.gather(logits, index - 1, axis=1), None, cache

            return sampler(next_token, prompt, cache=source, index=1, stop_token_ids=[END])

        def next_token(tokens, cache, index):
            token = tf.slice(tokens, [0, index - 1], [tf.shape(tokens)[0], 1])
            logits, cache = self.stepper.step(token, tokens, cache, index - 1)
            return logits[:, 0], None, cache

        cache = self.stepper.seed(source, prompt)
        return sampler(next_token, prompt, cache=cache, index=1, stop_token_ids=[END])


def _power_of_two(n):
    return 1 << (int(n) - 1).bit_length()


class _KeysAndValues:
    """`transformer_seq2seq`: the encoder once, then per block the self-attention cache of the target
    so far and the cross-attention cache of the source (filled by the first call)."""

    kind = "keys and values"

    def __init__(self, model, blocks):
        self.source_embedding = model.get_layer("source_embedding")
        self.encoders = [model.get_layer(f"encoder_{i}") for i in range(blocks)]
        self.target_embedding = model.get_layer("target_embedding")
        self.decoders = [model.get_layer(f"decoder_{i}") for i in range(blocks)]
        self.head = model.get_layer("next_token")

    def seed(self, source, prompt):
        source_mask = tf.not_equal(source, PAD)
        x = self.source_embedding(source)
        for block in self.encoders:
            x = block(x, padding_mask=source_mask, training=False)
        attention = self.decoders[0]._self_attention_layer
        batch = tf.shape(source)[0]

        def zeros(length):
            shape = [batch, len(self.decoders), 2, length, attention.num_heads, attention.key_dim]
            return tf.zeros(shape, x.dtype)

        empty = (x, source_mask, zeros(tf.shape(prompt)[1]), zeros(tf.shape(source)[1]))
        # One pass over the start token with both caches' update index at 0 fills the cross-attention
        # caches from the source (the first step writes position 0 of the self-attention cache again).
        _, (x, source_mask, _, cross) = self.step(prompt[:, :1], prompt, empty, 0, fill_source=True)
        return x, source_mask, empty[2], cross

    def step(self, token, tokens, cache, index, fill_source=False):
        x, source_mask, own, cross = cache
        y = self.target_embedding(token, start_index=index)
        # A target token that is padding is masked as the full model's padding mask masks it.
        seen = tf.cast(tf.not_equal(tokens, PAD), "int32")[:, None, :]
        owns, crosses = [], []
        for i, block in enumerate(self.decoders):
            y, block_own, block_cross = block(
                y, x, decoder_attention_mask=seen, encoder_padding_mask=source_mask,
                self_attention_cache=own[:, i], self_attention_cache_update_index=index,
                cross_attention_cache=cross[:, i], cross_attention_cache_update_index=0 if fill_source else None,
                training=False,
            )  # fmt: skip
            owns.append(block_own)
            crosses.append(block_cross)
        return self.head(y), (x, source_mask, tf.stack(owns, axis=1), tf.stack(crosses, axis=1))


class _RecurrentAttention:
    """`gru_attention`: the encoder's memory and the bridge state once, then the decoder cells one token
    a step and the additive attention over the memory."""

    kind = "recurrent state"

    def __init__(self, model, depth):
        source = model.get_layer("source").output
        self.encoder = keras.Model(source, [model.get_layer("bridge").output, model.get_layer("memory").output])
        self.embedding = model.get_layer("target_embedding")
        self.cells = [model.get_layer(f"decoder_{i}").cell for i in range(depth)]
        self.attention, self.attend = model.get_layer("attention"), model.get_layer("attend")
        self.head = model.get_layer("next_token")

    def seed(self, source, prompt):
        bridge, memory = self.encoder(source, training=False)
        return memory, tf.not_equal(source, PAD), tuple(bridge for _ in self.cells)

    def step(self, token, tokens, cache, index):
        memory, source_mask, states = cache
        # As the full model computes it: the GRUs read a padding token as any other (their layers get
        # no mask beside an initial state), and the attention's output is zero for it.
        real = tf.not_equal(token, PAD)
        x = self.embedding(token)[:, 0]
        carried = []
        for cell, state in zip(self.cells, states):
            x, _ = cell(x, [state], training=False)
            carried.append(x)
        context = self.attention([x[:, None], memory], mask=[real, source_mask])
        y = self.attend(tf.concat([x[:, None], context], axis=-1))
        return self.head(y), (memory, source_mask, tuple(carried))


def _stepper(model):
    """The cached step for the toolkit's two backbones (by their layer names), or None for any other."""
    names = {layer.name for layer in model.layers}
    depth = sum(1 for name in names if name.startswith("decoder_"))
    if model.name == "transformer_seq2seq" and {"source_embedding", "target_embedding", "next_token"} <= names:
        return _KeysAndValues(model, depth)
    if model.name == "gru_attention" and {"bridge", "memory", "attention", "attend"} <= names:
        return _RecurrentAttention(model, depth)
    return None
