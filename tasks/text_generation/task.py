"""Text generation: `TextGenerator` (a language model learned from a corpus) and `train_text_generator`."""

from typing import Literal

import keras

from tasks.text_generation import data as corpus_lib
from tasks.text_generation import (
    decoding,
    figures,
    graph_generate,
    pretrained,
    sampling,
    scoring,
    tokenizing,
)
from tasks.text_generation import (
    model as model_lib,
)
from tasks.text_generation.preprocessor import CorpusPreprocessor, corpus_index, line_starts
from tasks.text_generation.sampling import SAMPLERS
from toolkit import estimator, preprocessing
from toolkit.saving import register_task
from toolkit.task import Task

SAMPLE_PROMPTS = 3  # seeded samples saved with the run, from the starts of validation lines
SAMPLE_TOKENS = 200


@register_task
class TextGenerator(Task):
    """Learns a language model of a corpus and generates text from prompts.

    The corpus (`data_forms`; Python's own help text by default) is read in chunks. Its last part
    (`validation_split`, by position, never shuffled in) is validation; training reads windows of
    `sequence_length` tokens at a random offset each epoch. Scores: the loss (nats per token),
    `perplexity` and `bits_per_character`, which compares models whatever their tokens.

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
    built_in_data = {corpus_lib.DEFAULT_CORPUS: "Python's help topics, about 465 KB of English text (no download)"}
    backbone_filters = ({"modality": "text-generation"},)
    keras_hub_task = "CausalLM"
    serving_input = "texts"
    serving_options = {"max_length": int, "sampler": str, "temperature": float, "seed": int}
    budget_epochs = 20  # epochs=None on a corpus of half a megabyte or more (the built-in one, Tiny Shakespeare)
    _parameter_constraints = {
        "tokenizer": estimator.one_of(tokenizing.KINDS),
        "vocabulary_size": estimator.at_least(2, none=True),  # two: characters have no unknown-word entry
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
        pretrained.check_arguments(self._uses_preset(), self.finetune, self.lora_rank)

    @classmethod
    def keras_hub_presets(cls):
        return pretrained.causal_presets()

    def _default_learning_rate(self):
        return pretrained.learning_rate(self._uses_preset(), self.lora_rank)

    # ------------------------------------------------------------------- data
    preprocessor_class = CorpusPreprocessor
    # The preprocessor's learned state by its scikit-learn-style names (a run saved before the preprocessor sets them).
    vocabulary_ = preprocessing.learned("vocabulary", fresh=lambda task: task.make_preprocessor())
    pretrained_ = preprocessing.learned("pretrained", fresh=lambda task: task.make_preprocessor())

    def read_data(self, data):
        return corpus_index(*corpus_lib.load_corpus(data, self.text_column, self.data_dir))

    def make_preprocessor(self):
        options = dict(tokenizer=self.tokenizer, vocabulary_size=self.vocabulary_size)
        preset = self.backbone if self._uses_preset() else None
        return CorpusPreprocessor(sequence_length=self.sequence_length, preset=preset, **options)

    def after_loading(self):  # a preset's tokenizer comes with the trained model: none to download
        self.preprocessor_.with_tokenizer_of(self.model_)

    def prepare_data(self, data, validation_data):
        self._check_backbone()
        splits = super().prepare_data(data, validation_data)
        corpus = self.preprocessor_
        corpus.check_held_out(splits, self.validation_split, self.test_split)
        self._unigram = dict(zip(("validation", "test"), corpus.unigram_losses(splits)))
        self._validation_head = line_starts(corpus.parts[id(splits.validation)].inputs, SAMPLE_PROMPTS)
        self.say(corpus.describe(splits))  # and the parts' tokens in the run's info
        return splits

    def evaluation_data(self, data):
        index, corpus = self.read_data(data), self.preprocessor_
        corpus.check_length(index.inputs, "The text to evaluate", "give more text")
        return corpus.dataset(index, batch_size=self._global_batch_size())

    # ------------------------------------------------------------------ model
    def build_model(self):
        if self.pretrained_:
            return pretrained.build(self.backbone, self.lora_rank, self.sequence_length)
        sizes = dict(width=self.width, depth=self.depth, heads=self.heads, dropout=self.dropout)
        return model_lib.build(self.backbone, self.preprocessor_.vocabulary_size(), self.sequence_length, **sizes)

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
        tokens, chars = self.preprocessor_.sizes.get(id(dataset), (1, 1))
        return scoring.scores(float(results["cross_entropy"]), tokens, chars)

    def compare_with_baseline(self):
        """Records the unigram model's loss beside the run's, on the test part (validation without one)."""
        part, scores = self._judged_part()
        compared = scoring.compare_with_unigram(part, scores.get("loss"), getattr(self, "_unigram", {}).get(part))
        if compared is not None:
            self.metrics_["baseline"] = compared

    def after_training(self, model, splits):
        """Seeded samples from the starts of validation lines, kept with the run (config.json, report).
        A line start with a token the training part never had (a new word) is left out: `generate`
        refuses such prompts."""
        prompts = self.preprocessor_.readable(self._validation_head) or ["\n"]
        texts = self._generate(model, prompts, self.max_length, self.sampler, self.temperature, self.seed)
        self.samples_ = [{"prompt": p, "text": t} for p, t in zip(prompts, texts)]

    def export_form(self, format):
        """The model from token ids to logits in every format; a SavedModel also gets `generate`: prompt
        strings in, greedy continuations of `max_length` tokens out (tokeniser, loop and detokeniser in
        the graph), checked against `generate(sampler="greedy")` on the run's sample prompts."""
        if format != "savedmodel":
            return super().export_form(format)
        return graph_generate.savedmodel_form(self)

    def report_figures(self):
        return figures.samples_table(getattr(self, "samples_", None) or [], self.sampler, self.seed)

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
        sampler = self.sampler if sampler is None else sampler
        max_length = self.max_length if max_length is None else int(max_length)
        temperature = self.temperature if temperature is None else float(temperature)
        prompts_ = sampling.check(prompts, sampler, max_length)
        texts = self._generate(self.model_, prompts_, max_length, sampler, temperature, seed)
        return texts[0] if isinstance(prompts, str) else texts

    def _generate(self, model, prompts, max_length, sampler, temperature, seed):
        seed = self.seed if seed is None else int(seed)
        return sampling.write(
            self._decoder(model), self.preprocessor_, prompts, max_length, sampler, temperature, seed,
            self.sequence_length,
        )  # fmt: skip

    def _decoder(self, model):
        """The compiled, cached generation of `model` (`decoding.Decoder`), kept for the last model asked."""
        kept = self.__dict__.get("_decoding")
        if kept is None or kept.model is not model:
            kept = self.__dict__["_decoding"] = decoding.Decoder(model, self.sequence_length)
        return kept

    def search_space(self, hp):
        space = super().search_space(hp)
        if not self._uses_preset():  # a preset's sizes are its own
            space["width"], space["depth"] = hp.Choice("width", [64, 128, 256]), hp.Int("depth", 1, 4)
            space["dropout"] = hp.Float("dropout", 0.0, 0.3, step=0.1)
        return space


def train_text_generator(data=None, validation_data=None, **kwargs):
    """Trains a `TextGenerator` on `data` (see its arguments) and returns it, fitted and saved.

    Examples:
        >>> gen = train_text_generator("input.txt", backbone="lstm_lm")  # doctest: +SKIP
        >>> gen.generate("ROMEO:")  # doctest: +SKIP
    """
    return TextGenerator(**kwargs).fit(data, validation_data)
