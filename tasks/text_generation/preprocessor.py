"""What a language model learns from a corpus's training part (its vocabulary, or a preset's tokenizer),
the split by position, and the tf.data pipeline of (ids, next ids) windows read in chunks."""

import collections

import tensorflow as tf

from tasks.text_generation import data as corpus_lib
from tasks.text_generation import pretrained, scoring, tokenizing
from toolkit import backbones as backbones_lib
from toolkit import image_streams
from toolkit.errors import ToolkitError
from toolkit.preprocessing import Index, Preprocessor

SHUFFLE_WINDOWS = 10_000  # sequences in the shuffle buffer: a corpus of any size shuffles in bounded memory


def corpus_index(pieces, about):
    """A corpus as an `Index`: its pieces, in order (a language model's targets are its inputs, one token on)."""
    return Index(pieces, pieces, None, about)


class CorpusPreprocessor(Preprocessor):
    """Learns the training part's vocabulary (or takes a preset's tokenizer) and counts its tokens; batches
    windows of `sequence_length` token ids and the ids one token on.

    Args:
        tokenizer: "character", "word" or "wordpiece" (see `tokenizing`).
        vocabulary_size: at most this many tokens; None: the kind's default.
        sequence_length: tokens in a window.
        preset: the pretrained causal LM whose tokenizer is used instead of a learned vocabulary, or None.

    Examples:
        >>> from tasks.text_generation.data import Piece
        >>> corpus = CorpusPreprocessor(sequence_length=3)
        >>> train = corpus_index([Piece(text="abcabcabc")], "text")
        >>> corpus.adapt(train)
        >>> corpus.vocabulary, corpus.examples(train)
        (['a', 'b', 'c'], 2)
        >>> (x, y), = corpus.dataset(train, batch_size=2)
        >>> x.numpy().tolist(), y.numpy().tolist()
        ([[1, 2, 3], [2, 3, 1]], [[2, 3, 1], [3, 1, 2]])
    """

    state_attributes = ("vocabulary", "pretrained")

    def __init__(self, *, tokenizer="character", vocabulary_size=None, sequence_length=128, preset=None):
        super().__init__(
            tokenizer=tokenizer, vocabulary_size=vocabulary_size, sequence_length=sequence_length, preset=preset
        )
        self.vocabulary, self.pretrained = None, preset is not None
        self.hub = None  # the preset's KerasHub tokenizer: set from a trained model, or loaded on first use
        self.sizes = {}  # id(dataset) -> (tokens, characters) of its text, for bits per character
        self.parts = {}  # id(dataset) -> its Index
        self._counted = {}  # id(pieces) -> (pieces, token counts by id, tokens, characters)
        self._lookup = None

    @property
    def kind(self):
        """ "preset" (the preset's tokenizer), or the tokenizer kind the vocabulary was learned with."""
        return "preset" if self.pretrained else self.config["tokenizer"]

    @property
    def length(self):
        return self.config["sequence_length"]

    # --------------------------------------------------------------- the split and what is learned
    def hold_out(self, index, validation_index, split_options, validation_about=None):
        """The corpus's first part trains, then validation, then test: by position, each cut moved to the
        next line start (never shuffled: validation text shares no line with training text)."""
        if validation_index is not None:
            return {"train": index, "validation": validation_index, "test": None}, {"split": "as given"}
        validation_split, test_split = split_options["validation_split"], split_options["test_split"]
        train, validation, test = corpus_lib.split_by_position(index.inputs, validation_split, test_split)
        split = (
            f"by position: the first {1 - validation_split - test_split:.0%} trains, then {validation_split:.0%} "
            "validation" + (f", then {test_split:.0%} test" if test else "")
        )
        # An empty validation part (no line break after the cut) is None: the task says so once it knows the
        # training part has a sequence at all.
        parts = {"train": train, "validation": validation or None, "test": test or None}
        return {name: None if p is None else corpus_index(p, index.about) for name, p in parts.items()}, {
            "split": split
        }

    def adapt(self, index):
        pieces = index.inputs
        self._lookup, self._counted = None, {}
        if self.pretrained:  # the preset's tokenizer; counting the training tokens is one streaming pass
            self.vocabulary = None
            self.count(pieces)
        else:
            kind = self.config["tokenizer"]
            most = self.config["vocabulary_size"] or tokenizing.DEFAULT_SIZES[kind]
            if kind == "wordpiece":
                self.say(f"Learning a WordPiece vocabulary of {most:,} from the training part...")
            self.vocabulary, *counted = tokenizing.learn_vocabulary(lambda: corpus_lib.chunks(pieces), kind, most)
            self._counted[id(pieces)] = (pieces, *counted)
        self.check_length(pieces, "The training part of the corpus", "give more text, or a smaller sequence_length")

    def check_length(self, pieces, what, fix):
        """An error unless `pieces` hold one sequence of `sequence_length` + 1 tokens."""
        tokens = self.count(pieces)[1]
        if tokens < self.length + 1:
            raise ToolkitError(
                f"{what} has {tokens} tokens, fewer than one sequence of sequence_length + 1 = {self.length + 1}.",
                expected="at least one sequence of text",
                fix=fix,
            )

    def examples(self, part):
        """Whole windows of `sequence_length` + 1 tokens in the part."""
        return self.count(part.inputs)[1] // (self.length + 1)

    def vocabulary_size(self):
        """Ids the model predicts: the preset's vocabulary, or the learned one and the unknown token."""
        if self.pretrained:
            return int(self.tokenizer().vocabulary_size())
        return len(self.vocabulary) + 1

    def count(self, pieces):
        """(token counts by id, tokens, characters) of `pieces`, in one streaming pass (kept per part)."""
        held = self._counted.get(id(pieces))
        if held is not None and held[0] is pieces:  # the same list, not a new one at a freed one's address
            return held[1:]
        counts, tokens, chars = collections.Counter(), 0, 0
        for text in corpus_lib.chunks(pieces):
            ids = self.ids(tf.constant(text)).numpy()
            counts.update(ids.tolist())
            tokens += len(ids)
            chars += len(text)
        self._counted[id(pieces)] = (pieces, counts, tokens, chars)
        return counts, tokens, chars

    # ---------------------------------------------------------------------------- tokens
    def tokenizer(self):
        """The preset's KerasHub tokenizer (None for a learned vocabulary)."""
        if not self.pretrained:
            return None
        if self.hub is None:
            preprocessor = backbones_lib.load_preset(self.config["preset"], "CausalLMPreprocessor")
            self.hub = getattr(preprocessor, "tokenizer", None)
            if self.hub is None:
                raise ToolkitError(
                    f"The preset {self.config['preset']!r} has no tokenizer.",
                    expected="a causal LM preset with tokenizer.json and its vocabulary",
                    fix="save the preset with its preprocessor, or use a complete Hugging Face folder",
                )
        return self.hub

    def with_tokenizer_of(self, model):
        """Itself, holding the preset's tokenizer from `model` (a trained run's: none to download)."""
        if self.pretrained and self.hub is None and model is not None:
            self.hub = pretrained.tokenizer_of(model)
        return self

    def lookup(self):
        """The learned vocabulary's `StringLookup`, made once."""
        if self._lookup is None:
            self._lookup = tokenizing.lookup(self.vocabulary)
        return self._lookup

    def ids(self, text):
        """A string tensor -> int32 token ids (in tf.data or eagerly)."""
        hub = self.tokenizer()
        if hub is not None:
            return tf.cast(hub(text), tf.int32)
        return tf.cast(self.lookup()(tokenizing.tokens(text, self.kind, self.vocabulary)), tf.int32)

    def encode(self, texts):
        """Python strings -> lists of ids (0: a token the vocabulary lacks)."""
        hub = self.tokenizer()
        if hub is not None:
            return pretrained.encode(hub, texts)
        return tokenizing.encode(texts, self.vocabulary, self.kind, self.lookup())

    def decode(self, ids):
        hub = self.tokenizer()
        if hub is not None:
            return pretrained.decode(hub, ids)
        return tokenizing.decode(ids, self.vocabulary, self.kind)

    def write(self, prompt, ids):
        """The prompt followed by the text of the ids generated after it (a space between words)."""
        continuation = self.decode(ids)
        words = self.kind in ("word", "wordpiece")
        joiner = " " if words and prompt and continuation[:1].isalnum() and not prompt[-1:].isspace() else ""
        return (prompt or "") + joiner + continuation

    def readable(self, prompts):
        """The prompts whose every token is in the vocabulary (a preset's tokenizer reads any)."""
        return [p for p in prompts if self.vocabulary is None or 0 not in self.encode([p])[0]]

    def check_prompts(self, prompts):
        """The prompts' ids; an error naming the characters or words of a prompt the vocabulary lacks (a
        preset's byte-level tokenizer reads any text)."""
        encoded = self.encode(prompts)
        for prompt, ids in zip(prompts, encoded):
            if self.vocabulary is None or 0 not in ids:
                continue
            if self.kind == "wordpiece":  # name the words whose pieces are unknown (a piece says "[UNK]")
                words = {t.decode() for t in _tokens(prompt, "word", None)}
                unknown = sorted(w for w in words if 0 in self.encode([w])[0])
                what = "word(s) with characters"
            else:
                tokens = _tokens(prompt, self.kind, self.vocabulary)
                unknown = sorted({t.decode() for t, i in zip(tokens, ids) if i == 0})
                what = f"{self.kind}(s)"
            raise ToolkitError(
                f"The prompt {prompt[:60]!r} holds {len(unknown)} {what} the model's vocabulary lacks: {unknown[:10]}.",
                expected=f"prompts made of the {len(self.vocabulary)} {self.kind}s seen in training",
                fix="leave those out of the prompt",
            )
        return encoded

    # ---------------------------------------------------------------------------- batches
    def check_held_out(self, splits, validation_split, test_split):
        """An error for an empty validation part (no line break after the cut) or a held-out part shorter
        than one sequence."""
        if splits.validation is None:
            raise ToolkitError(
                "The validation part of the corpus is empty: the split moves each cut to the next line start, "
                f"and the text has no line break after the first {1 - validation_split - test_split:.0%}.",
                expected="a corpus of many lines (the last validation_split of them validate), or validation_data",
                fix="give text with line breaks, or pass validation_data= (a file or a list of texts)",
            )
        for name in ("validation", "test"):
            part = getattr(splits, name)
            if part is not None:
                fix = f"give more text, a larger {name}_split, or a smaller sequence_length"
                self.check_length(self.parts[id(part)].inputs, f"The {name} part of the corpus", fix)

    def unigram_losses(self, splits):
        """(validation, test or None): the unigram model's loss on each (`scoring.unigram_loss`)."""
        train = self.count(self.parts[id(splits.train)].inputs)[0]
        return tuple(
            None if part is None else scoring.unigram_loss(train, self.count(self.parts[id(part)].inputs)[0])
            for part in (splits.validation, splits.test)
        )

    def describe(self, splits):
        """Adds the parts' sizes (windows, tokens, characters) to `splits.info`; returns a line saying them."""
        parts = {name: self.parts[id(part)] for name, part in splits._asdict().items() if id(part) in self.parts}
        (train_tokens, train_chars), windows = self.sizes[id(splits.train)], self.examples(parts["train"])
        test_tokens = self.sizes[id(splits.test)][0] if splits.test is not None else 0
        splits.info.update(
            train_examples=windows, train_tokens=train_tokens, train_characters=train_chars,
            validation_tokens=self.sizes[id(splits.validation)][0], test_tokens=test_tokens,
            test_examples=test_tokens // (self.length + 1),
        )  # fmt: skip
        return (
            f"Text generation: {self.vocabulary_size():,} {self.kind} tokens; corpus {splits.info['train_source']}: "
            f"{corpus_lib.describe_size(parts['train'].inputs)} train ({train_tokens:,} tokens, {windows:,} "
            f"sequences of {self.length}) / {corpus_lib.describe_size(parts['validation'].inputs)} validation."
        )

    def dataset(self, index, *, training=False, batch_size=32, seed=0):
        """Batches of (ids, next ids), `sequence_length` each, read in chunks; training starts each epoch at a
        random offset (sequences cut the text at new places every epoch) and shuffles the windows."""
        pieces, length = index.inputs, self.length
        _, tokens, chars = self.count(pieces)
        chunks = tf.data.Dataset.from_generator(
            lambda: corpus_lib.chunks(pieces), output_signature=tf.TensorSpec((), tf.string)
        )
        ids = chunks.map(self.ids)
        if sum(p.size() for p in pieces) <= image_streams.MEMORY_CACHE_BYTES // 8:  # int32 ids: 4-8 bytes a character
            ids = ids.cache()
        ids = ids.unbatch()
        if training:
            offsets = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
            windows = offsets.flat_map(
                lambda r: ids.skip(tf.math.floormod(r, length)).batch(length + 1, drop_remainder=True)
            )
        else:
            windows = ids.batch(length + 1, drop_remainder=True)
        pairs = windows.map(lambda w: (w[:-1], w[1:]))
        # The count of sequences, stated, so Keras knows an epoch's steps before reading it; every offset
        # leaves at least `count` whole sequences, so each epoch has the same number of steps.
        count = (tokens - length) // (length + 1) if training else tokens // (length + 1)
        pairs = pairs.take(max(1, count)).apply(tf.data.experimental.assert_cardinality(max(1, count)))
        if training:
            pairs = pairs.shuffle(SHUFFLE_WINDOWS, seed=seed, reshuffle_each_iteration=True)
        dataset = pairs.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)
        self.sizes[id(dataset)], self.parts[id(dataset)] = (tokens, chars), index
        return dataset


def _tokens(text, kind, vocabulary):
    return tokenizing.tokens(tf.constant([text]), kind, vocabulary).to_list()[0]


def line_starts(pieces, count, width=24):
    """The first `count` non-empty line starts (up to `width` characters, ending at a word) of a corpus.

    Examples:
        >>> from tasks.text_generation.data import Piece
        >>> line_starts([Piece(text="\\nROMEO: What light through yonder window\\nJULIET: Ay me")], 2)
        ['ROMEO: What light', 'JULIET: Ay me']
    """
    starts = []
    for text in corpus_lib.chunks(pieces):
        for line in text.split("\n"):
            line = line.strip()
            if line:
                starts.append(line[:width].rsplit(" ", 1)[0] if len(line) > width else line)
            if len(starts) >= count:
                return starts
    return starts
