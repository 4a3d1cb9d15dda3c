"""What question answering learns from the training questions (a tokenizer: the preset's, or a WordPiece
vocabulary of the training texts; whether any question has no answer) and the tf.data pipeline of
windows over the contexts, with the answers' token positions."""

import collections

import numpy as np
import tensorflow as tf

from tasks.question_answering import model as model_lib
from tasks.question_answering import windows as windows_lib
from toolkit import backbones as backbones_lib
from toolkit.errors import ToolkitError
from toolkit.preprocessing import Preprocessor

RESERVED = ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"]
CACHE_QUESTIONS = 20_000  # up to this many questions, training windows are tokenised once and kept in memory
PREDICT_CHUNK = 512  # questions tokenised, windowed and scored together

# A part: its questions, and a dataset of their windows with the answers' token positions.
Part = collections.namedtuple("Part", ["questions", "dataset"])


class QuestionPreprocessor(Preprocessor):
    """Learns the tokenizer and whether training has unanswerable questions; batches windows of contexts.

    Args:
        preset: a pretrained preset or folder whose tokenizer is used, or None to learn a WordPiece
            vocabulary of `vocabulary_size` from the training questions and contexts.
        vocabulary_size: most WordPiece tokens learned (no preset).
        max_length: tokens a window holds (question and context).
        doc_stride: tokens between the starts of a long context's windows.
        plausible_answers: train unanswerable questions on their plausible answers' positions.
    """

    state_attributes = ("tokenizer", "answers_nothing")

    def __init__(self, *, preset=None, vocabulary_size=8000, max_length=384, doc_stride=128, plausible_answers=False):
        super().__init__(preset=preset, vocabulary_size=vocabulary_size, max_length=max_length, doc_stride=doc_stride,
                         plausible_answers=plausible_answers)  # fmt: skip
        self.span_tokenizer = None  # built from `tokenizer` when first needed (not saved)

    def adapt(self, index):
        questions = list(index.inputs)
        self.answers_nothing = any(not q.answers for q in questions)
        if self.config["preset"] is not None:
            tokenizer = backbones_lib.load_preset(self.config["preset"], "Tokenizer")
            if tokenizer is None:
                raise ToolkitError(
                    f"Preset {self.config['preset']!r} has no tokenizer files.",
                    expected="a preset folder with the tokenizer (assets/ from save_to_preset, or vocab.txt)",
                    fix="save the tokenizer with the backbone (`tokenizer.save_to_preset(folder)`)",
                )
            self.span_tokenizer, self.tokenizer = windows_lib.span_tokenizer(tokenizer)
            return
        import keras_hub

        texts = list(dict.fromkeys(q.context for q in questions)) + [q.question for q in questions]
        vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
            tf.data.Dataset.from_tensor_slices(texts).batch(256),
            self.config["vocabulary_size"],
            lowercase=True,
            reserved_tokens=RESERVED,
        )
        self.span_tokenizer, self.tokenizer = windows_lib.span_tokenizer(
            keras_hub.tokenizers.WordPieceTokenizer(vocabulary, lowercase=True)
        )

    def tokens(self):
        """The span tokenizer of the learned `tokenizer` state (built once, also after loading)."""
        if getattr(self, "span_tokenizer", None) is None:
            self.span_tokenizer = windows_lib.from_state(self.tokenizer)
        return self.span_tokenizer

    def windows(self, questions, first_index=0):
        return windows_lib.question_windows(
            questions, self.tokens(), self.config["max_length"], self.config["doc_stride"], first_index,
            plausible=self.config["plausible_answers"],
        )  # fmt: skip

    def dataset(self, index, *, training=False, batch_size=32, seed=0):
        """Questions -> a `Part`: them, and a dataset of their windows with the answers' token positions,
        tokenised in chunks as it is read (and kept in memory when the questions are few)."""
        questions, max_length = list(index.inputs), self.config["max_length"]
        pad = self.tokens().pad
        # Checked here, where the error can name the question; inside tf.data it would be wrapped.
        for first in range(0, len(questions), PREDICT_CHUNK):
            chunk = questions[first : first + PREDICT_CHUNK]
            for q, (ids, _, _) in zip(chunk, self.tokens()([q.question for q in chunk])):
                windows_lib.check_question_length(len(ids), max_length, q.id)

        def generate():
            for first in range(0, len(questions), PREDICT_CHUNK):
                for w in self.windows(questions[first : first + PREDICT_CHUNK], first):
                    inputs = {
                        "token_ids": w.token_ids,
                        "segment_ids": w.segment_ids,
                        "padding_mask": np.ones(len(w.token_ids), np.int32),
                    }
                    yield inputs, {"start": np.int32(w.start), "end": np.int32(w.end)}

        vector = tf.TensorSpec((None,), tf.int32)
        signature = (
            {name: vector for name in model_lib.INPUTS},
            {"start": tf.TensorSpec((), tf.int32), "end": tf.TensorSpec((), tf.int32)},
        )
        dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
        if len(questions) <= CACHE_QUESTIONS:
            dataset = dataset.cache()
        if training:
            dataset = dataset.shuffle(10_000, seed=seed, reshuffle_each_iteration=True)
        # Windows of similar length batched together: less padding than padding all to max_length.
        bounds = [b for b in (64, 128, 192, 256, 384) if b < max_length]
        padding = ({name: pad if name == "token_ids" else 0 for name in model_lib.INPUTS}, {"start": 0, "end": 0})
        dataset = dataset.bucket_by_sequence_length(
            lambda inputs, _: tf.shape(inputs["token_ids"])[0],
            bucket_boundaries=[b + 1 for b in bounds],
            bucket_batch_sizes=[batch_size] * (len(bounds) + 1),
            padding_values=padding,
            pad_to_bucket_boundary=False,
        )
        # Stated, so Keras knows an epoch's steps: each bucket's windows are the same whatever the order,
        # so every pass has the same batches. The count reads the data once (filling the cache).
        count = int(dataset.reduce(0, lambda n, _: n + 1))
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(count))
        return Part(questions, dataset.prefetch(tf.data.AUTOTUNE))
