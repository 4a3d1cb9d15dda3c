"""Text generation: `TextGenerator` (a language model learned from a corpus) and `train_text_generator`."""

import collections
import html
import math
import warnings
from typing import Literal

import keras
import numpy as np
import tensorflow as tf

from tasks.text_generation import data as corpus_lib
from tasks.text_generation import (
    graph_generate,
    models,  # noqa: F401  (registers lstm_lm, gru_lm and gpt)
    pretrained,
    tokenizing,
)
from toolkit import backbones as backbones_lib
from toolkit import data as data_lib
from toolkit import estimator, image_streams
from toolkit.errors import ToolkitError
from toolkit.saving import register_task
from toolkit.task import Task

SAMPLERS = ("greedy", "random", "top_k", "top_p", "beam")
TOP_K, TOP_P, BEAMS = 10, 0.9, 4
SHUFFLE_WINDOWS = 10_000  # sequences in the shuffle buffer: a corpus of any size shuffles in bounded memory
SAMPLE_PROMPTS = 3  # seeded samples saved with the run, from the starts of validation lines
SAMPLE_TOKENS = 200


@register_task
class TextGenerator(Task):
    """Learns a language model of a corpus and generates text from prompts.

    The corpus is read in chunks (a file, a folder of .txt files, a .csv / .tsv /
    JSON Lines file's text column, "tfds:NAME", or a list of strings;
    "python-docs", Python's own help text, by default). Its last part
    (`validation_split`, by position, never shuffled in) is validation, and
    training reads windows of `sequence_length` tokens at a random offset each
    epoch. Scores: the validation loss (nats per token), `perplexity` and
    `bits_per_character`, which compares models whatever their tokens.

    Args:
        backbone: "gpt" (a GPT-style decoder), "lstm_lm" or "gru_lm" (stacked
            recurrent layers), a `keras.Model` from token ids (batch, time)
            to features (batch, time, width), or a pretrained KerasHub causal
            LM: a preset name ("gpt2_base_en"), a hub handle, a folder written
            by `save_to_preset`, or a Hugging Face folder KerasHub converts.
            A preset brings its own tokenizer (`tokenizer`, `vocabulary_size`,
            `width`, `depth`, `heads` and `dropout` are then not used) and
            fine-tunes every layer (`finetune="full"`).
        tokenizer: "character", "word" (words, punctuation marks and line
            breaks; spacing is rebuilt when decoding) or "wordpiece" (subwords:
            KerasHub's WordPiece, whole frequent words and pieces of rare ones,
            so no word is unknown). The vocabulary is learned from the training part.
        vocabulary_size: at most this many tokens (the most frequent; the rest
            become the unknown token). None: every character, 20,000 words, or
            8,000 word pieces.
        sequence_length: tokens of context the model learns from (and, for
            "gpt", the longest context it can see).
        width: embedding and hidden size.
        depth: layers (recurrent layers, or attention blocks).
        heads: attention heads ("gpt").
        dropout: dropout rate.
        max_length: tokens `generate` adds to a prompt by default (and the seeded samples saved with the run).
        sampler: "greedy", "random" (the model's distribution, at `temperature`),
            "top_k" (the 10 likeliest), "top_p" (the likeliest 90%) or "beam"
            (4 beams), KerasHub's samplers.
        temperature: divides the logits before sampling (below 1: safer text).
        lora_rank: for a pretrained causal LM, train low-rank adapters of this rank on
            the attention's query and value projections (KerasHub's `enable_lora`)
            and keep every pretrained weight fixed; None: fine-tune every weight.
        text_column: for a .csv / .tsv / JSON Lines / TFDS corpus, the column, key or
            feature that holds the text (an index for a .csv without a header row);
            None: the one called "text" (or "content", "document", "body", "sentence"),
            or the only one.
        data_dir: TFDS data folder for "tfds:NAME" corpora.
        epochs: most epochs to train (early stopping may stop sooner); None: 20, raised on a small corpus
            until a from-scratch network gets 1,000 optimizer steps (at most 200 epochs; 100,000 characters
            give 21 steps an epoch).
        learning_rate: the (peak) learning rate; None: 5e-5 fine-tuning a pretrained preset (2e-4 with
            LoRA's adapters), 1e-3 from scratch.
        **kwargs: the arguments every task shares (see `toolkit.Task`).

    Examples:
        >>> gen = TextGenerator(backbone="lstm_lm", epochs=10).fit("input.txt")  # doctest: +SKIP
        >>> gen.generate("ROMEO:", max_length=100, seed=1)  # doctest: +SKIP
        'ROMEO:\\nWhat shall I say...'
    """

    task_name = "text-generation"
    description = "language models: learn a corpus, then generate text"
    default_data = corpus_lib.DEFAULT_CORPUS
    data_forms = (
        "a UTF-8 text file, a folder of .txt files, a .csv / .tsv / .jsonl table (its text column: --text-column, "
        "or the one called text, content, ...), a list of strings, or 'tfds:NAME'"
    )
    built_in_data = {corpus_lib.DEFAULT_CORPUS: "Python's help topics, about 1 MB of English text (no download)"}
    backbone_filters = ({"modality": "text-generation"},)
    keras_hub_task = "CausalLM"
    serving_input = "texts"
    budget_epochs = 20  # epochs=None on a corpus of a megabyte or more (the built-in one, Tiny Shakespeare)
    _parameter_constraints = {
        "tokenizer": estimator.one_of(tokenizing.KINDS),
        # Two entries are enough here: a character vocabulary has no unknown-word entry of its own.
        "vocabulary_size": estimator.at_least(2, none=True),
        "sequence_length": estimator.at_least(2),
        "width": estimator.POSITIVE,
        "depth": estimator.POSITIVE,
        "heads": estimator.POSITIVE,
        "dropout": estimator.DROPOUT,
        "max_length": estimator.POSITIVE,
        "sampler": estimator.one_of(SAMPLERS),
        "temperature": estimator.above(0),
        "split": estimator.Constraint(
            lambda v: v in ("auto", "contiguous"), "'auto' or 'contiguous': a corpus is split by position"
        ),
        "lora_rank": estimator.POSITIVE_OR_NONE,
    }

    def __init__(
        self,
        *,
        backbone: str | keras.Model = "gpt",
        tokenizer: Literal["character", "word", "wordpiece"] = "character",
        vocabulary_size: int | None = None,
        sequence_length: int = 128,
        width: int = 128,
        depth: int = 2,
        heads: int = 4,
        dropout: float = 0.1,
        max_length: int = SAMPLE_TOKENS,
        sampler: str = "top_k",
        temperature: float = 1.0,
        lora_rank: int | None = None,
        text_column: str | int | None = None,
        data_dir: str | None = None,
        test_split: float = 0.0,
        epochs: int | None = None,
        learning_rate: float | None = None,
        **kwargs,
    ):
        super().__init__(test_split=test_split, epochs=epochs, learning_rate=learning_rate, **kwargs)
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.vocabulary_size = vocabulary_size
        self.sequence_length = sequence_length
        self.width = width
        self.depth = depth
        self.heads = heads
        self.dropout = dropout
        self.max_length = max_length
        self.sampler = sampler
        self.temperature = temperature
        self.lora_rank = lora_rank
        self.text_column = text_column
        self.data_dir = data_dir

    def _check_combinations(self):
        super()._check_combinations()
        if self.finetune != "full" and self._uses_preset():
            raise estimator.invalid_argument(
                "finetune",
                self.finetune,
                "'full' for a pretrained causal LM (its output layer is its token embedding: there is no "
                "separate head to train alone)",
            )
        if self.lora_rank is not None and not self._uses_preset():
            raise estimator.invalid_argument(
                "lora_rank",
                self.lora_rank,
                "None for a from-scratch model (LoRA adapts a pretrained causal LM: pass a preset as backbone)",
            )

    @classmethod
    def keras_hub_presets(cls):
        return pretrained.causal_presets()

    def _default_learning_rate(self):
        # A pretrained decoder forgets what it knows at a from-scratch rate (GPT-2 fine-tuning uses 1e-5 to 1e-4);
        # LoRA's adapters start at zero and train at a higher one (the LoRA paper's GPT-2 runs: 2e-4).
        if self._uses_preset():
            return 2e-4 if self.lora_rank else 5e-5
        return 1e-3

    # ----------------------------------------------------------------- tokens
    def _hub_tokenizer(self):
        """The preset's KerasHub tokenizer, or None when the task learns its own vocabulary."""
        uses = self.__dict__["pretrained_"] if "pretrained_" in self.__dict__ else self._uses_preset()
        if not uses:
            return None
        if self.__dict__.get("_hub_tokenizer_object") is None:
            model = getattr(self, "model_", None)
            if model is not None:
                tokenizer = pretrained.tokenizer_of(model)
            else:
                preprocessor = backbones_lib.load_preset(self.backbone, "CausalLMPreprocessor")
                tokenizer = getattr(preprocessor, "tokenizer", None)
                if tokenizer is None:
                    raise ToolkitError(
                        f"The preset {self.backbone!r} has no tokenizer.",
                        expected="a causal LM preset with tokenizer.json and its vocabulary",
                        fix="save the preset with its preprocessor, or use a complete Hugging Face folder",
                    )
            self._hub_tokenizer_object = tokenizer
        return self._hub_tokenizer_object

    def _ids(self, text):
        """A string tensor -> int32 token ids (in tf.data or eagerly)."""
        hub = self._hub_tokenizer()
        if hub is not None:
            return tf.cast(hub(text), tf.int32)
        return tf.cast(self._lookup(tokenizing.tokens(text, self.tokenizer, self.vocabulary_)), tf.int32)

    def _encode(self, texts):
        hub = self._hub_tokenizer()
        if hub is not None:
            return pretrained.encode(hub, texts)
        return tokenizing.encode(texts, self.vocabulary_, self.tokenizer, self._lookup)

    def _decode(self, ids):
        hub = self._hub_tokenizer()
        if hub is not None:
            return pretrained.decode(hub, ids)
        return tokenizing.decode(ids, self.vocabulary_, self.tokenizer)

    def _token_kind(self):
        return "preset" if self._hub_tokenizer() is not None else self.tokenizer

    # ------------------------------------------------------------------- data
    def prepare_data(self, data, validation_data):
        self._check_backbone()
        pieces, about = corpus_lib.load_corpus(data, self.text_column, self.data_dir)
        if validation_data is not None:
            train, test = pieces, []
            validation, _ = corpus_lib.load_corpus(validation_data, self.text_column, self.data_dir)
        else:
            train, validation, test = corpus_lib.split_by_position(pieces, self.validation_split, self.test_split)
        self.pretrained_ = self._uses_preset()
        self.__dict__.pop("_hub_tokenizer_object", None)
        if self.pretrained_:  # the preset's tokenizer; counting the training tokens is one streaming pass
            self.vocabulary_ = None
            train_counts, train_tokens, train_chars = self._count(train)
            vocabulary_size = int(self._hub_tokenizer().vocabulary_size())
        else:
            most = self.vocabulary_size or tokenizing.DEFAULT_SIZES[self.tokenizer]
            if self.tokenizer == "wordpiece":
                self.say(f"Learning a WordPiece vocabulary of {most:,} from the training part...")
            vocabulary, train_counts, train_tokens, train_chars = tokenizing.learn_vocabulary(
                lambda: corpus_lib.chunks(train), self.tokenizer, most
            )
            self.vocabulary_ = vocabulary
            self._lookup = tokenizing.lookup(vocabulary)
            vocabulary_size = len(vocabulary) + 1
        windows = train_tokens // (self.sequence_length + 1)
        if windows < 1:
            raise ToolkitError(
                f"The training part of the corpus has {train_tokens} tokens, fewer than one sequence of "
                f"sequence_length + 1 = {self.sequence_length + 1}.",
                expected="a corpus with many sequences of training text",
                fix="give more text, or a smaller sequence_length",
            )
        parts = {"train": train, "validation": validation, "test": test}
        self._sizes = {}  # tokens and characters of each part, for bits per character and the baseline
        counts = {}
        if not validation:
            raise ToolkitError(
                "The validation part of the corpus is empty: the split moves each cut to the next line start, "
                "and the text has no line break after the first "
                f"{1 - self.validation_split - self.test_split:.0%}.",
                expected="a corpus of many lines (the last validation_split of them validate), or validation_data",
                fix="give text with line breaks, or pass validation_data= (a file or a list of texts)",
            )
        for name in ("validation", "test"):
            if parts[name]:
                counts[name], tokens, chars = self._count(parts[name])
                self._sizes[name] = (tokens, chars)
                if tokens < self.sequence_length + 1:
                    raise ToolkitError(
                        f"The {name} part of the corpus has {tokens} tokens, fewer than one sequence of "
                        f"sequence_length + 1 = {self.sequence_length + 1}.",
                        expected=f"a {name} part of at least one sequence",
                        fix=f"give more text, a larger {name}_split, or a smaller sequence_length",
                    )
        self._unigram_loss = _unigram_loss(train_counts, counts.get("validation"))
        self._unigram_test_loss = _unigram_loss(train_counts, counts.get("test"))
        self._validation_head = _line_starts(corpus_lib.chunks(validation), SAMPLE_PROMPTS)
        info = {
            "train_source": about,
            "train_examples": windows,
            "train_tokens": train_tokens,
            "train_characters": train_chars,
            "validation_tokens": self._sizes["validation"][0],
            "test_tokens": self._sizes.get("test", (0, 0))[0],
            "test_examples": self._sizes.get("test", (0, 0))[0] // (self.sequence_length + 1),
            "split": "as given" if validation_data is not None else (
                f"by position: the first {1 - self.validation_split - self.test_split:.0%} trains, then "
                f"{self.validation_split:.0%} validation" + (f", then {self.test_split:.0%} test" if test else "")
            ),
        }  # fmt: skip
        self.say(
            f"Text generation: {vocabulary_size:,} {self._token_kind()} tokens; corpus {about}: "
            f"{corpus_lib.describe_size(train)} train ({train_tokens:,} tokens, {windows:,} sequences of "
            f"{self.sequence_length}) / {corpus_lib.describe_size(validation)} validation."
        )
        return data_lib.Splits(
            train=self._dataset(train, train_tokens, shuffle=True),
            validation=self._dataset(validation, self._sizes["validation"][0], part="validation"),
            test=self._dataset(test, self._sizes["test"][0], part="test") if test else None,
            info=info,
        )

    def _count(self, pieces):
        """(token counts by id, tokens, characters) of `pieces`, in one streaming pass."""
        counts, tokens, chars = collections.Counter(), 0, 0
        for text in corpus_lib.chunks(pieces):
            ids = self._ids(tf.constant(text)).numpy()
            counts.update(ids.tolist())
            tokens += len(ids)
            chars += len(text)
        return counts, tokens, chars

    def _dataset(self, pieces, tokens, shuffle=False, part=None):
        """Pieces (of `tokens` tokens) -> batches of (ids, next ids), `sequence_length` each, read in chunks;
        training starts each epoch at a random offset, so sequences cut the text at new places every epoch."""
        length = self.sequence_length
        chunks = tf.data.Dataset.from_generator(
            lambda: corpus_lib.chunks(pieces), output_signature=tf.TensorSpec((), tf.string)
        )
        ids = chunks.map(self._ids)
        if sum(p.size() for p in pieces) <= image_streams.MEMORY_CACHE_BYTES // 8:  # int32 ids: 4-8 bytes a character
            ids = ids.cache()
        ids = ids.unbatch()
        if shuffle:
            offsets = tf.data.Dataset.random(seed=self.seed, rerandomize_each_iteration=True).take(1)
            windows = offsets.flat_map(
                lambda r: ids.skip(tf.math.floormod(r, length)).batch(length + 1, drop_remainder=True)
            )
        else:
            windows = ids.batch(length + 1, drop_remainder=True)
        pairs = windows.map(lambda w: (w[:-1], w[1:]))
        # The count of sequences, stated, so Keras knows an epoch's steps before reading it.
        count = (tokens - length) // (length + 1) if shuffle else tokens // (length + 1)
        # Every offset leaves at least `count` whole sequences: each epoch has the same number of steps.
        pairs = pairs.take(max(1, count)).apply(tf.data.experimental.assert_cardinality(max(1, count)))
        if shuffle:
            pairs = pairs.shuffle(SHUFFLE_WINDOWS, seed=self.seed, reshuffle_each_iteration=True)
        dataset = pairs.batch(self._global_batch_size(), drop_remainder=shuffle).prefetch(tf.data.AUTOTUNE)
        if part is not None:
            self._parts = {**getattr(self, "_parts", {}), id(dataset): part}
        return dataset

    def evaluation_data(self, data):
        if self.vocabulary_ is not None:
            self._lookup = tokenizing.lookup(self.vocabulary_)
        pieces, _ = corpus_lib.load_corpus(data, self.text_column, self.data_dir)
        _, tokens, chars = self._count(pieces)
        if tokens < self.sequence_length + 1:
            raise ToolkitError(
                f"The text to evaluate has {tokens} tokens, fewer than one sequence of {self.sequence_length + 1}.",
                expected="at least one sequence of text",
                fix="give more text",
            )
        self._sizes = {**getattr(self, "_sizes", {}), "evaluated": (tokens, chars)}
        dataset = self._dataset(pieces, tokens)
        self._parts = {**getattr(self, "_parts", {}), id(dataset): "evaluated"}
        return dataset

    # ------------------------------------------------------------------ model
    def build_model(self):
        if self.pretrained_:
            causal_lm = pretrained.load_causal_lm(self.backbone)
            if self.lora_rank:
                causal_lm.backbone.enable_lora(self.lora_rank)
            return pretrained.wrap(causal_lm, self.sequence_length)
        vocabulary = len(self.vocabulary_) + 1
        if isinstance(self.backbone, keras.Model):
            backbone = keras.Sequential([backbones_lib.copy_model(self.backbone)], name="backbone")
        else:
            backbone = backbones_lib.BACKBONES.get(self.backbone)(
                vocabulary, self.sequence_length, width=self.width, depth=self.depth, heads=self.heads,
                dropout=self.dropout,
            )  # fmt: skip
        inputs = keras.Input((None,), dtype="int32", name="token_ids")
        logits = keras.layers.Dense(vocabulary, name="next_token", dtype="float32")(backbone(inputs))
        return keras.Model(inputs, logits, name="text_generator")

    def training_loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def compile_model(self, model, make_optimizer):
        if self.lora_rank and getattr(self, "pretrained_", False):
            pretrained.keep_lora_only(model)
        super().compile_model(model, make_optimizer)

    def training_metrics(self):
        # The cross-entropy alone: Keras' "loss" adds the model's penalties (L1 / L2, model.losses), which
        # are no part of how well the text is predicted.
        return [keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name="cross_entropy")]

    def score(self, dataset):
        results = self.model_.evaluate(dataset, verbose=0, return_dict=True)
        if "cross_entropy" not in results:  # a run saved before the metric was compiled in
            self.model_.compile(loss=self.training_loss(), metrics=self.training_metrics())
            results = self.model_.evaluate(dataset, verbose=0, return_dict=True)
        loss = float(results["cross_entropy"])
        part = getattr(self, "_parts", {}).get(id(dataset), "validation")
        tokens, chars = getattr(self, "_sizes", {}).get(part, (1, 1))
        return {
            "loss": loss,
            "perplexity": float(math.exp(min(loss, 700))),
            "bits_per_character": loss * tokens / max(chars, 1) / math.log(2),
        }

    def compare_with_baseline(self):
        """Records the unigram model's loss (each token at its training frequency) beside the run's, on the
        test part (validation without one), and warns when the run is no better: it learned nothing about
        order."""
        part, scores = self._judged_part()
        unigram = getattr(self, "_unigram_test_loss" if part == "test" else "_unigram_loss", None)
        if unigram is None or "loss" not in scores:
            return
        loss = scores["loss"]
        self.metrics_["baseline"] = {
            "part": part,
            "metric": "loss",
            "value": loss,
            "unigram_loss": unigram,
            "better_than_unigram": bool(loss < unigram - 0.01),
        }
        if loss >= unigram - 0.01:
            warnings.warn(
                f"This run's {part} loss {loss:.4f} is no better than a unigram model's {unigram:.4f} (each "
                "token at its training frequency): it has not learned which token follows which. Try more epochs, "
                "a larger model (width, depth), or more text.",
                stacklevel=3,
            )

    def after_training(self, model, splits):
        """Seeded samples from the starts of validation lines, kept with the run (config.json, report).
        A line start with a token the training part never had (a new word) is left out: `generate`
        refuses such prompts."""
        prompts = [p for p in self._validation_head if self.vocabulary_ is None or 0 not in self._encode([p])[0]]
        prompts = prompts or ["\n"]
        texts = self._generate(model, prompts, self.max_length, self.sampler, self.temperature, self.seed)
        self.samples_ = [{"prompt": p, "text": t} for p, t in zip(prompts, texts)]

    def export_form(self, format):
        """The model from token ids to logits in every format; a SavedModel also gets `generate`: prompt
        strings in, greedy continuations of `max_length` tokens out (tokeniser, loop and detokeniser in
        the graph), checked against `generate(sampler="greedy")` on the run's sample prompts."""
        from toolkit import export as export_lib

        if format != "savedmodel":
            return super().export_form(format)
        prompts = [s["prompt"] for s in getattr(self, "samples_", None) or []] or ["\n"]

        def endpoints():
            fn, tracked = graph_generate.greedy_function(self, self.max_length)
            return [("generate", fn, [tf.TensorSpec([None], tf.string, name="prompts")], tracked)]

        def check(path):
            loaded = tf.saved_model.load(str(path))  # held: its variables live as long as it does
            exported = loaded.generate(tf.constant(prompts))
            got = [t.decode("utf-8") for t in exported.numpy()]
            wanted = self.generate(prompts, max_length=self.max_length, sampler="greedy")
            same = got == wanted
            if not same:
                raise ToolkitError(
                    f"The SavedModel's generate wrote {got[0][:80]!r} where the task writes {wanted[0][:80]!r}.",
                    expected="the same greedy text from both",
                    fix="export the token-id model (format='onnx' or 'litert') and generate in Python",
                )
            return {"generate": {"prompts": prompts, "max_length": self.max_length, "matches_greedy": same}}

        return export_lib.Form(self.model_, endpoints=endpoints, check=check)

    def export_examples(self, part):
        batch = next(iter(part))
        return batch[0], batch[1]

    def report_figures(self):
        samples = getattr(self, "samples_", None) or []
        rows = "".join(
            f"<h3>Prompt: {html.escape(repr(s['prompt']))}</h3><pre>{html.escape(s['text'])}</pre>" for s in samples
        )
        return [(f"Samples ({self.sampler}, seed {self.seed})", rows)] if rows else []

    # ------------------------------------------------------------- inference
    def predict(self, inputs):
        """Prompts (a string or a list of strings) -> their generated texts (prompt and continuation);
        the task's `max_length`, `sampler` and `temperature`, seeded with `seed`."""
        return self.generate(inputs)

    def generate(self, prompts, max_length=None, sampler=None, temperature=None, seed=None):
        """Continues each prompt by up to `max_length` tokens.

        Args:
            prompts: a string or a list of strings ("" starts from a line break).
            max_length: tokens to add (default: the task's `max_length`).
            sampler: "greedy", "random", "top_k", "top_p" or "beam" (default: the task's).
            temperature: logits are divided by it before sampling (default: the task's).
            seed: the same seed gives the same text (default: the task's `seed`).

        Returns:
            The prompt followed by its continuation: a string for a string, else a list.

        A prompt longer than `sequence_length` tokens is read through its last `sequence_length`
        tokens (the model's context); a character or word the vocabulary lacks is an error.
        """
        self.check_fitted()
        single = isinstance(prompts, str)
        prompts = [prompts] if single else list(prompts)
        if not prompts or not all(isinstance(p, str) for p in prompts):
            raise ToolkitError(
                "generate takes a prompt string or a list of prompt strings.",
                expected="'ROMEO:' or ['ROMEO:', 'JULIET:']",
                fix="pass strings",
            )
        sampler = self.sampler if sampler is None else sampler
        if sampler not in SAMPLERS:
            raise ToolkitError(f"sampler={sampler!r} is not valid.", expected=f"one of {SAMPLERS}", fix="pass one")
        texts = self._generate(
            self.model_,
            prompts,
            self.max_length if max_length is None else int(max_length),
            sampler,
            self.temperature if temperature is None else float(temperature),
            self.seed if seed is None else int(seed),
        )
        return texts[0] if single else texts

    def _generate(self, model, prompts, max_length, sampler, temperature, seed):
        import keras_hub

        if self.vocabulary_ is not None:
            self._lookup = lookup = tokenizing.lookup(self.vocabulary_)
        encoded = self._encode(prompts)
        start = self._encode(["\n"])[0] or [1]
        for prompt, ids in zip(prompts, encoded):
            if self.vocabulary_ is None or 0 not in ids:  # a preset's byte-level tokenizer encodes any text
                continue
            if self.tokenizer == "wordpiece":  # name the words whose pieces are unknown (a piece says "[UNK]")
                words = {t.decode() for t in _tokens(prompt, "word", None)}
                unknown = sorted(
                    w for w in words if 0 in tokenizing.encode([w], self.vocabulary_, "wordpiece", lookup)[0]
                )
                what = "word(s) with characters"
            else:
                unknown = sorted(
                    {t.decode() for t, i in zip(_tokens(prompt, self.tokenizer, self.vocabulary_), ids) if i == 0}
                )
                what = f"{self.tokenizer}(s)"
            raise ToolkitError(
                f"The prompt {prompt[:60]!r} holds {len(unknown)} {what} the model's vocabulary lacks: {unknown[:10]}.",
                expected=f"prompts made of the {len(self.vocabulary_)} {self.tokenizer}s seen in training",
                fix="leave those out of the prompt",
            )
        encoded = [ids or list(start) for ids in encoded]
        if max(len(ids) for ids in encoded) > self.sequence_length:
            warnings.warn(
                f"A prompt is longer than the model's context of {self.sequence_length} tokens; it is read "
                "through its last tokens.",
                stacklevel=3,
            )
        step = self._inference_function(model)
        samplers = {
            "greedy": lambda: keras_hub.samplers.GreedySampler(temperature=temperature),
            "random": lambda: keras_hub.samplers.RandomSampler(seed=seed, temperature=temperature),
            "top_k": lambda: keras_hub.samplers.TopKSampler(k=TOP_K, seed=seed, temperature=temperature),
            "top_p": lambda: keras_hub.samplers.TopPSampler(p=TOP_P, seed=seed, temperature=temperature),
            "beam": lambda: keras_hub.samplers.BeamSampler(num_beams=BEAMS, temperature=temperature),
        }
        lengths, rows = [len(ids) for ids in encoded], []
        # One prompt at a time: a seeded draw then depends on the prompt and the seed only, not on
        # which other prompts share the call.
        for ids in encoded:
            total = len(ids) + max_length
            window = min(self.sequence_length, total)
            prompt = np.zeros((1, total), np.int32)
            prompt[0, : len(ids)] = ids

            def next_token(tokens, cache, index, total=total, window=window):
                # The context is the last `window` tokens before `index` (the whole text while it is short).
                first = keras.ops.clip(index - window, 0, total - window)
                context = keras.ops.slice(tokens, [0, first], [keras.ops.shape(tokens)[0], window])
                return keras.ops.take(step(context), index - 1 - first, axis=1), None, cache

            rows.append(np.asarray(samplers[sampler]()(next_token, prompt, index=len(ids)))[0])
        texts = []
        for row, text, n in zip(rows, prompts, lengths):
            continuation = self._decode(row[n:])
            words = self._token_kind() in ("word", "wordpiece")
            joiner = " " if words and text and continuation[:1].isalnum() and not text[-1:].isspace() else ""
            texts.append((text or "") + joiner + continuation)
        return texts

    def search_space(self, hp):
        if self._uses_preset():
            return super().search_space(hp)
        return {
            **super().search_space(hp),
            "width": hp.Choice("width", [64, 128, 256]),
            "depth": hp.Int("depth", 1, 4),
            "dropout": hp.Float("dropout", 0.0, 0.3, step=0.1),
        }


def _tokens(text, kind, vocabulary):
    return tokenizing.tokens(tf.constant([text]), kind, vocabulary).to_list()[0]


def _unigram_loss(train_counts, validation_counts):
    """Cross-entropy (nats per token) of validation under the training tokens' frequencies (add-one)."""
    if not train_counts or not validation_counts:
        return None
    total = sum(train_counts.values()) + len(train_counts) + 1
    loss = sum(n * -math.log((train_counts.get(i, 0) + 1) / total) for i, n in validation_counts.items())
    return float(loss / sum(validation_counts.values()))


def _line_starts(chunks, count, width=24):
    """The first `count` non-empty line starts (up to `width` characters, ending at a word) of a text."""
    starts = []
    for text in chunks:
        for line in text.split("\n"):
            line = line.strip()
            if line:
                cut = line[:width].rsplit(" ", 1)[0] if len(line) > width else line
                starts.append(cut)
            if len(starts) >= count:
                return starts
    return starts


def train_text_generator(data=None, validation_data=None, **kwargs):
    """Trains a `TextGenerator` on `data` (see its arguments) and returns it, fitted and saved.

    Examples:
        >>> gen = train_text_generator("input.txt", backbone="lstm_lm")  # doctest: +SKIP
        >>> gen.generate("ROMEO:")  # doctest: +SKIP
    """
    return TextGenerator(**kwargs).fit(data, validation_data)
