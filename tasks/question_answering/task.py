"""Extractive question answering: `QuestionAnswerer` and `train_question_answerer`."""

import collections
import math
import warnings

import keras
import numpy as np
import tensorflow as tf

from tasks.question_answering import data as qa_data
from tasks.question_answering import models
from tasks.question_answering import windows as windows_lib
from toolkit import answer_metrics, estimator, hf_checkpoints
from toolkit import backbones as backbones_lib
from toolkit import data as data_lib
from toolkit import splits as splits_lib
from toolkit.errors import ToolkitError
from toolkit.saving import register_task
from toolkit.task import Task

RESERVED = ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"]
ARTICLE_GROUPS = 10  # with at least this many articles, splits keep whole articles apart; else whole contexts
CACHE_QUESTIONS = 20_000  # up to this many questions, training windows are tokenised once and kept in memory
PREDICT_CHUNK = 512  # questions tokenised, windowed and scored together at prediction
PRETRAINED_STEPS = 800  # optimizer steps epochs=None aims at when fine-tuning a pretrained encoder
# backbone="auto" on the user's data: the encoder benchmarks/RESULTS.md measures on real SQuAD questions.
# Below this many answerable training questions, a run is told before training that it will learn little.
FEW_QUESTIONS = 500
PRETRAINED_DEFAULT = "hf://sentence-transformers/all-MiniLM-L6-v2"


Part = collections.namedtuple("Part", ["questions", "dataset"])


@register_task
class QuestionAnswerer(Task):
    """Answers questions with a span of a given context, or with "no answer" (SQuAD 1.1 and 2.0).

    Long contexts are read through overlapping windows of `max_length` tokens; the best span over all
    windows wins. When the training data has unanswerable questions, the model may answer "" and the
    threshold for that is tuned on the validation questions (SQuAD 2.0's official procedure) and saved.
    Scores: `exact_match`, `f1`, `has_answer_f1`, `no_answer_f1` (the official SQuAD definitions, in
    percent), beside the always-"no answer" baseline.

    Pretrained encoders are the way to good answers: a from-scratch encoder (no pretrained weights)
    learns the built-in generated set, but on a few thousand real questions it measured no better than
    always answering nothing (benchmarks/RESULTS.md).

    Args:
        backbone: "auto" (the default): the pretrained MiniLM encoder (hf://sentence-transformers/
            all-MiniLM-L6-v2, 22M parameters, downloaded on first use) for the user's data, and the
            from-scratch "transformer" for the built-in "facts" set; a from-scratch encoder on real
            questions measured no better than answering nothing. Or a KerasHub preset name, hub handle,
            local preset folder or Hugging Face folder of a text encoder with a WordPiece (BERT,
            DistilBERT, MiniLM, ELECTRA), byte-level BPE (RoBERTa) or SentencePiece (ALBERT, DeBERTa-v3)
            tokenizer (fine-tuned), a from-scratch "transformer" or "bilstm" (with a WordPiece
            vocabulary learned from the training texts), or a `keras.Model` from token ids (batch, time)
            to features (batch, time, width).
        max_length: tokens a window holds (question, context part and 3 markers).
        doc_stride: context tokens between the starts of consecutive windows (windows overlap when
            it is below the room a window has for context).
        max_answer_length: longest answer, in tokens.
        vocabulary_size: WordPiece vocabulary learned for a from-scratch backbone.
        embedding_dim: the token embedding size of a from-scratch backbone.
        width: the width of a from-scratch backbone's layers.
        columns: {role: column name} for .csv / .jsonl data; roles "question", "context",
            "answer_text", "answer_start", "id", "title" (default: found by common names).
        bad_answers: "fail" or "skip" (with a warning that counts them) for an answer whose text is not
            at its answer_start.
        plausible_answers: True: also train the spans on an unanswerable SQuAD 2.0 question's plausible
            answer (the data's "plausible_answers": the span a reader would wrongly take; Read + Verify's
            auxiliary span): a window holding it comes twice, labelled "no answer" and labelled with that
            span. Measured on a held-out SQuAD article (benchmarks/RESULTS.md), two validation splits: spans
            as good or better (F1 with every question answered 42.8 -> 44.5 and 53.1), overall F1 about the
            same (51.3 -> 50.5 and 50.7), a weaker no-answer score (ROC AUC 0.625 -> 0.57 and 0.61). False
            (the default): such questions point at [CLS] in every window, as in BERT.
        data_dir: TFDS data folder for "tfds:NAME" data.
        learning_rate_schedule: "cosine" (5% warm-up, then decay to zero: BERT's fine-tuning recipe, and
            what learned spans here), or any schedule `toolkit.Task` takes.
        batch_size: windows a training step reads (16: twice the steps of 32 in an epoch, as measured).
        epochs: most epochs to train (early stopping may stop sooner); None: for a pretrained encoder
            about 800 optimizer steps (2 to 10 epochs), from scratch 30, raised on a small set until it
            gets 1,000 optimizer steps (at most 200 epochs).
        learning_rate: the (peak) learning rate; None: 1.5e-4 fine-tuning a pretrained encoder, 1e-3 from
            scratch.
        **kwargs: the arguments every task shares (see `toolkit.Task`).

    Examples:
        >>> qa = QuestionAnswerer(backbone="bert_tiny_en_uncased").fit("train-v2.0.json")  # doctest: +SKIP
        >>> qa.predict([{"question": "Who led the Normans?", "context": "The Normans were led by Rollo."}])
        ... # doctest: +SKIP
        [{'answer': 'Rollo', 'score': 0.91, 'start': 24, 'end': 29}]
    """

    task_name = "question-answering"
    description = "extractive question answering: answer spans from a context"
    default_data = qa_data.DEFAULT_DATA
    data_forms = (
        "a SQuAD .json file (v1.1 or v2.0, unanswerable questions included), a .csv / .tsv / .jsonl file with "
        "question, context, answer_text and answer_start columns (found by common names; --columns to name them), "
        "a (questions, contexts, answers) tuple, or 'tfds:NAME' (e.g. tfds:squad/v2.0)"
    )
    built_in_data = {
        qa_data.DEFAULT_DATA: "3,000 generated questions about invented people, a fifth unanswerable (no download)"
    }
    backbone_filters = ({"modality": "text", "sequences": True},)
    keras_hub_task = "TextClassifier"  # whose presets include the encoders this task fine-tunes
    monitor = "val_f1"
    monitor_mode = "max"
    serving_input = "questions"

    _parameter_constraints = {
        "max_length": estimator.at_least(8),
        "doc_stride": estimator.POSITIVE,
        "max_answer_length": estimator.POSITIVE,
        "vocabulary_size": estimator.at_least(100),
        "embedding_dim": estimator.POSITIVE,
        "width": estimator.POSITIVE,
        "bad_answers": estimator.one_of(qa_data.BAD_ANSWERS),
    }

    def __init__(
        self,
        *,
        backbone: str | keras.Model = "auto",
        max_length: int = 192,
        doc_stride: int = 96,
        max_answer_length: int = 30,
        vocabulary_size: int = 8000,
        embedding_dim: int = 128,
        width: int = 256,
        columns: dict[str, str] | None = None,
        bad_answers: str = "fail",
        plausible_answers: bool = False,
        data_dir: str | None = None,
        epochs: int | None = None,
        learning_rate: float | None = None,
        learning_rate_schedule: str = "cosine",
        batch_size: int = 16,
        **kwargs,
    ):
        super().__init__(
            epochs=epochs,
            learning_rate=learning_rate,
            learning_rate_schedule=learning_rate_schedule,
            batch_size=batch_size,
            **kwargs,
        )
        self.backbone = backbone
        self.max_length = max_length
        self.doc_stride = doc_stride
        self.max_answer_length = max_answer_length
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.width = width
        self.columns = columns
        self.bad_answers = bad_answers
        self.plausible_answers = plausible_answers
        self.data_dir = data_dir

    # ------------------------------------------------------------------- data
    def _load(self, data):
        return qa_data.load_questions(data, self.columns, self.bad_answers, self.data_dir)

    def _chosen_backbone(self):
        if isinstance(self.backbone, str) and self.backbone == "auto":
            return getattr(self, "backbone_", None) or "auto"
        return self.backbone

    def _span_head_given(self):
        """True when the backbone is a Hugging Face question-answering checkpoint (its span head is reused)."""
        backbone = self._chosen_backbone()
        return (
            self._uses_preset()
            and hf_checkpoints.is_hf_folder(backbone)
            and hf_checkpoints.span_head(backbone) is not None
        )

    def _choose_backbone(self, data):
        """Resolves backbone="auto" (kept as `backbone_`): the from-scratch transformer for the built-in set,
        the pretrained MiniLM for the user's data. A from-scratch encoder on the user's data is said to be
        a poor choice before any training starts, not after it."""
        auto = isinstance(self.backbone, str) and self.backbone == "auto"
        built_in = isinstance(data, str) and data == qa_data.DEFAULT_DATA
        self.backbone_ = ("transformer" if built_in else PRETRAINED_DEFAULT) if auto else None
        if auto:
            why = "the built-in set" if built_in else "pretrained, downloaded on first use; backbone= to choose"
            self.say(f"Backbone: {self.backbone_} ({why}).")
        elif not built_in and self._chosen_backbone() in self.accepted_backbones():
            warnings.warn(
                f"backbone={self._chosen_backbone()!r} trains an encoder from scratch. On real questions (a few thousand "
                "SQuAD 2.0 questions, benchmarks/RESULTS.md) that measured no better than always answering "
                "nothing; it learns the built-in generated set. For real data pass a pretrained encoder "
                f"(backbone='auto' downloads {PRETRAINED_DEFAULT}; or a local preset or Hugging Face folder).",
                stacklevel=4,
            )

    def prepare_data(self, data, validation_data):
        self._choose_backbone(data)
        self._check_backbone()
        questions, about = self._load(data)
        groups, grouped_by = self._groups, "fit's groups"
        if groups is None:
            articles = {q.group for q in questions}
            if len(articles) >= ARTICLE_GROUPS and len(articles) < len({q.context for q in questions}):
                groups, grouped_by = [q.group for q in questions], "article"
            else:
                groups, grouped_by = [q.context for q in questions], "context"
        validation = self._load(validation_data)[0] if validation_data is not None else None
        options = self._split_options()
        if options["method"] in ("auto", "grouped"):  # another split= the user chose is taken as asked
            options.update(method="grouped", groups=groups)
        else:
            grouped_by = f"nothing (split={options['method']!r})"
        train, _, val, _, test, info = splits_lib.holdout_positions(
            np.zeros(len(questions), int),
            None if validation is None else np.zeros(len(validation), int),
            validation_data,
            **options,
        )
        pick = lambda positions: [questions[i] for i in positions]  # noqa: E731
        train_q = pick(train)
        val_q = validation if validation is not None else pick(val)
        test_q = pick(test[0]) if test is not None else None
        self._set_tokenizer(train_q)
        self.answers_nothing_ = any(not q.answers for q in train_q)
        info = {
            **info,
            "train_source": about,
            "grouped_by": grouped_by,
            "unanswerable_share": {
                name: round(sum(not q.answers for q in part) / len(part), 4)
                for name, part in (("train", train_q), ("validation", val_q), ("test", test_q))
                if part
            },
        }
        self.say(
            f"Question answering: {len(train_q):,} training / {len(val_q):,} validation"
            + (f" / {len(test_q):,} test" if test_q else "")
            + f" questions from {about}, split by {grouped_by}; "
            f"{sum(not q.answers for q in train_q):,} training questions have no answer."
        )
        answerable = sum(bool(q.answers) for q in train_q)
        if answerable < FEW_QUESTIONS and self._pretrained_backbone() and not self._span_head_given():
            self.say(
                f"Note: {answerable:,} answerable training questions are few for an encoder that has not learned to "
                "find answers yet. Measured with MiniLM on the SQuAD 2.0 subset, scored on an article it never saw: "
                "131 training questions of one article F1 41 against 44 for always answering nothing; four "
                "articles' (520 answerable) F1 51 against 50. Expect little above that baseline: more questions, or a checkpoint already trained for "
                "question answering (a Hugging Face ...ForQuestionAnswering folder as backbone=), do better."
            )
        return data_lib.Splits(
            train=self._part(train_q, shuffle=True),
            validation=self._part(val_q),
            test=self._part(test_q) if test_q else None,
            info=info,
        )

    def _set_tokenizer(self, questions):
        """The preset's tokenizer (WordPiece, byte-level BPE or SentencePiece), or a WordPiece vocabulary
        learned from the training questions and contexts; kept as `tokenizer_` (what rebuilds it)."""
        if self._uses_preset():
            tokenizer = backbones_lib.load_preset(self._chosen_backbone(), "Tokenizer")
            if tokenizer is None:
                raise ToolkitError(
                    f"Preset {self._chosen_backbone()!r} has no tokenizer files.",
                    expected="a preset folder with the tokenizer (assets/ from save_to_preset, or vocab.txt)",
                    fix="save the tokenizer with the backbone (`tokenizer.save_to_preset(folder)`)",
                )
            self._span_tokenizer, self.tokenizer_ = windows_lib.span_tokenizer(tokenizer)
        else:
            import keras_hub

            texts = list(dict.fromkeys(q.context for q in questions)) + [q.question for q in questions]
            vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
                tf.data.Dataset.from_tensor_slices(texts).batch(256),
                self.vocabulary_size,
                lowercase=True,
                reserved_tokens=RESERVED,
            )
            self._span_tokenizer, self.tokenizer_ = windows_lib.span_tokenizer(
                keras_hub.tokenizers.WordPieceTokenizer(vocabulary, lowercase=True)
            )

    def _tokens(self):
        """The span tokenizer of this task's `tokenizer_` (built once, also after `toolkit.load`)."""
        if getattr(self, "_span_tokenizer", None) is None:
            state = getattr(self, "tokenizer_", None)
            if state is None:  # a run saved before tokenizer_ (WordPiece only)
                state = {"kind": "wordpiece", "vocabulary": self.vocabulary_, "lowercase": self.lowercase_,
                         "strip_accents": self.strip_accents_, "specials": None}  # fmt: skip
            self._span_tokenizer = windows_lib.from_state(state)
        return self._span_tokenizer

    def _windows(self, questions, first_index=0):
        return windows_lib.question_windows(
            questions, self._tokens(), self.max_length, self.doc_stride, first_index, plausible=self.plausible_answers
        )

    def _part(self, questions, shuffle=False):
        """Questions -> a `Part`: them, and a dataset of their windows with the answers' token positions,
        tokenised in chunks as it is read (and kept in memory when the questions are few)."""
        questions = list(questions)
        pad = self._tokens().pad
        # Checked here, where the error can name the question; inside tf.data it would be wrapped.
        for first in range(0, len(questions), PREDICT_CHUNK):
            chunk = questions[first : first + PREDICT_CHUNK]
            for q, (ids, _, _) in zip(chunk, self._tokens()([q.question for q in chunk])):
                windows_lib.check_question_length(len(ids), self.max_length, q.id)

        def generate():
            for first in range(0, len(questions), PREDICT_CHUNK):
                for w in self._windows(questions[first : first + PREDICT_CHUNK], first):
                    inputs = {
                        "token_ids": w.token_ids,
                        "segment_ids": w.segment_ids,
                        "padding_mask": np.ones(len(w.token_ids), np.int32),
                    }
                    yield inputs, {"start": np.int32(w.start), "end": np.int32(w.end)}

        vector = tf.TensorSpec((None,), tf.int32)
        signature = (
            {name: vector for name in models.INPUTS},
            {"start": tf.TensorSpec((), tf.int32), "end": tf.TensorSpec((), tf.int32)},
        )
        dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
        if len(questions) <= CACHE_QUESTIONS:
            dataset = dataset.cache()
        if shuffle:
            dataset = dataset.shuffle(10_000, seed=self.seed, reshuffle_each_iteration=True)
        # Windows of similar length batched together: less padding than padding all to max_length.
        bounds = [b for b in (64, 128, 192, 256, 384) if b < self.max_length]
        padding = ({name: pad if name == "token_ids" else 0 for name in models.INPUTS}, {"start": 0, "end": 0})
        dataset = dataset.bucket_by_sequence_length(
            lambda inputs, _: tf.shape(inputs["token_ids"])[0],
            bucket_boundaries=[b + 1 for b in bounds],
            bucket_batch_sizes=[self._global_batch_size()] * (len(bounds) + 1),
            padding_values=padding,
            pad_to_bucket_boundary=False,
        )
        # Stated, so Keras knows an epoch's steps: each bucket's windows are the same whatever the order,
        # so every pass has the same batches. The count reads the data once (filling the cache).
        count = int(dataset.reduce(0, lambda n, _: n + 1))
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(count))
        return Part(questions, dataset.prefetch(tf.data.AUTOTUNE))

    def keras_data(self, part):
        return part.dataset

    def evaluation_data(self, data):
        return self._part(self._load(data)[0])

    def export_examples(self, part):
        inputs, targets = next(iter(part.dataset))
        return {k: v.numpy() for k, v in inputs.items()}, None

    # ------------------------------------------------------------------ model
    def _default_learning_rate(self):
        # Measured on MiniLM and 1,000 SQuAD 2.0 questions (benchmarks/RESULTS.md): 5e-5 (BERT-base's rate)
        # left it answering nothing after 3 epochs; 1.5e-4 with the cosine schedule learned spans.
        return 1.5e-4 if self._pretrained_backbone() else 1e-3

    def _default_epochs(self, train_examples):
        """For a pretrained encoder about `PRETRAINED_STEPS` optimizer steps, 2 to 10 epochs: 2 on a large set
        (BERT's SQuAD recipe), 10 on a thousand questions, where 4 epochs left the spans half learned
        (has-answer F1 on all-answered test questions 43 after 10 epochs; benchmarks/RESULTS.md)."""
        if not self._pretrained_backbone():
            return super()._default_epochs(train_examples)
        steps = math.ceil(train_examples / self._global_batch_size()) if train_examples else PRETRAINED_STEPS
        return min(10, max(2, math.ceil(PRETRAINED_STEPS / steps)))

    def build_model(self):
        if self._uses_preset():
            backbone = backbones_lib.load_preset(self._chosen_backbone(), "backbone", name="backbone")
            limit = getattr(backbone, "max_sequence_length", None)
            if limit is not None and self.max_length > limit:
                raise ToolkitError(
                    f"max_length={self.max_length} is longer than preset {self._chosen_backbone()!r} reads ({limit} tokens).",
                    expected=f"max_length <= {limit}",
                    fix=f"pass max_length={limit} or less",
                )
            takes = list(backbone.input) if isinstance(backbone.input, dict) else ["token_ids"]
            if isinstance(backbone.output, dict):
                # The encoder up to its per-token features: a pooler (BERT's) has no part in spans, and
                # its weights would get no gradients.
                backbone = keras.Model(backbone.input, backbone.output["sequence_output"], name="backbone")
        elif isinstance(self._chosen_backbone(), keras.Model):
            backbone = keras.Sequential([backbones_lib.copy_model(self._chosen_backbone())], name="backbone")
            takes = ["token_ids"]
        else:
            backbone = backbones_lib.BACKBONES.get(self._chosen_backbone())(
                self.max_length, len(self.tokenizer_["vocabulary"]), embedding_dim=self.embedding_dim, width=self.width,
                sequences=True,
            )  # fmt: skip
            takes = ["token_ids"]
        model = models.span_model(backbone, takes, question_match=not self._pretrained_backbone())
        if self._uses_preset() and hf_checkpoints.is_hf_folder(self._chosen_backbone()):
            head = hf_checkpoints.span_head(self._chosen_backbone())
            if head is not None:  # a SQuAD-tuned checkpoint keeps the span head it learned
                model.get_layer("span").set_weights([w.astype("float32") for w in head])
        return model

    def compile_model(self, model, make_optimizer):
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(optimizer=make_optimizer(), loss={"start": loss, "end": loss})

    def task_callbacks(self, validation):
        return [SpanF1(self, validation)] if validation is not None else []

    # ------------------------------------------------------------- answering
    def _find(self, model, questions):
        """Per question the best span and its no-answer score (`windows.best_answers`), in chunks."""
        step = self._inference_function(model)
        found = []
        for first in range(0, len(questions), PREDICT_CHUNK):
            chunk = questions[first : first + PREDICT_CHUNK]
            windows = self._windows(chunk)
            starts, ends = [None] * len(windows), [None] * len(windows)
            order = np.argsort([len(w.token_ids) for w in windows], kind="stable")
            for b in range(0, len(order), self._batch_size()):
                batch = order[b : b + self._batch_size()]
                width = 16 * math.ceil(max(len(windows[i].token_ids) for i in batch) / 16)
                arrays = {name: np.zeros((len(batch), width), np.int32) for name in models.INPUTS}
                arrays["token_ids"][:] = self._tokens().pad
                for row, i in enumerate(batch):
                    n = len(windows[i].token_ids)
                    arrays["token_ids"][row, :n] = windows[i].token_ids
                    arrays["segment_ids"][row, :n] = windows[i].segment_ids
                    arrays["padding_mask"][row, :n] = 1
                out = step(arrays)
                for row, i in enumerate(batch):
                    starts[i], ends[i] = out["start"][row].numpy(), out["end"][row].numpy()
            found.extend(windows_lib.best_answers(chunk, windows, starts, ends, self.max_answer_length))
        return found

    def _choose_threshold(self, questions, found):
        """The no-answer threshold that maximises F1 on `questions`; None (always answer) when training
        had no unanswerable question."""
        if not self.answers_nothing_:
            return None, None
        references = [list(q.answers) for q in questions]
        return answer_metrics.best_no_answer_threshold(
            references, [f["text"] for f in found], [f["no_answer_score"] for f in found]
        )

    def _decide(self, found, threshold):
        """Texts after the no-answer decision: "" where the no-answer score is above the threshold."""
        return ["" if threshold is not None and f["no_answer_score"] > threshold else f["text"] for f in found]

    def after_training(self, model, splits):
        """The no-answer threshold, chosen on the validation questions (0 without validation data)."""
        self.no_answer_threshold_ = 0.0 if self.answers_nothing_ else None
        if splits.validation is not None:
            found = self._find(model, splits.validation.questions)
            self.no_answer_threshold_, _ = self._choose_threshold(splits.validation.questions, found)

    def score(self, part):
        found = self._find(self.model_, part.questions)
        predictions = self._decide(found, self.no_answer_threshold_)
        references = [list(q.answers) for q in part.questions]
        scores = answer_metrics.squad_scores(references, predictions)
        scores["no_answer_threshold"] = self.no_answer_threshold_
        # The spans alone (answerable questions, every one answered): tells weak spans from a no-answer
        # decision that withholds good ones.
        scores["span_f1"] = answer_metrics.squad_scores(references, [f["text"] for f in found])["has_answer_f1"]
        # The span loss (start and end cross-entropy over the windows), as every task reports a loss.
        scores["loss"] = float(self.model_.evaluate(part.dataset, verbose=0, return_dict=True)["loss"])
        return scores

    def compare_with_baseline(self):
        """Records the always-"no answer" baseline's F1 beside the run's, on the test questions (validation
        without a test part), and warns when the run is no better (google-research/bert #436: a model that
        learned to answer nothing)."""
        part, scores = self._judged_part()
        if not scores:
            return
        share = scores["no_answer_count"] / max(1, scores["no_answer_count"] + scores["has_answer_count"])
        baseline = 100.0 * share
        self.metrics_["baseline"] = {
            "part": part,
            "metric": "f1",
            "value": scores["f1"],
            "always_no_answer_f1": baseline,
            "better_than_always_no_answer": bool(scores["f1"] > baseline + 1.0),
            "has_answer_f1": scores["has_answer_f1"],
        }
        if scores["f1"] <= baseline + 1.0:
            warnings.warn(
                f"This run's {part} F1 {scores['f1']:.1f} is no better than always answering nothing "
                f"({baseline:.1f}); on answerable questions it scores {scores['has_answer_f1']:.1f}. Likely "
                "causes: a from-scratch encoder on little data, or too short a training. Try a pretrained encoder "
                "(--backbone with a BERT-family preset or folder), more epochs, or the learning-rate finder.",
                stacklevel=3,
            )

    def predict(self, inputs):
        """Answers questions about contexts.

        Args:
            inputs: a dict {"question", "context"} or a list of them; a context may be a long document
                (it is read in windows).

        Returns:
            Per question {"answer", "score", "start", "end"}: the answer text ("" for "no answer"), its
            probability (the span's start times end probability in its window, or the no-answer one),
            and its character offsets into the context (`context[start:end] == answer`).
        """
        self.check_fitted()
        single = isinstance(inputs, dict)
        items = [inputs] if single else list(inputs)
        questions = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not {"question", "context"} <= set(item):
                raise ToolkitError(
                    f"predict got {type(item).__name__} at position {i}"
                    + (f" with keys {sorted(item)}" if isinstance(item, dict) else "")
                    + ".",
                    expected='{"question": "...", "context": "..."} or a list of them',
                    fix="pass each question with its context",
                )
            kept = qa_data._question(
                item.get("id", f"question {i}"), item["question"], item["context"], [], [], "", None, "predict"
            )
            questions.append(kept)
        found = self._find(self.model_, questions)
        texts = self._decide(found, self.no_answer_threshold_)
        answers = [
            {"answer": t, "score": f["score"], "start": f["start"], "end": f["end"]}
            if t
            else {"answer": "", "score": f["no_answer_probability"], "start": 0, "end": 0}
            for t, f in zip(texts, found)
        ]
        return answers[0] if single else answers

    def read_inputs(self, paths):
        """Files of questions (any form `fit` reads; answers optional) -> (their ids, `predict`'s dicts):
        what `toolkit predict RUN questions.jsonl` answers."""
        sources, items = [], []
        for path in paths:
            questions, _ = qa_data.load_questions(path, self.columns, "skip", answers_required=False)
            sources += [q.id for q in questions]
            items += [{"question": q.question, "context": q.context} for q in questions]
        return sources, items

    def search_space(self, hp):
        space = super().search_space(hp)
        if self._pretrained_backbone():
            space["learning_rate"] = hp.Float("learning_rate", 1e-5, 2e-4, sampling="log")
            space["epochs"] = hp.Int("epochs", 2, 10)
        else:
            space["epochs"] = hp.Int("epochs", 20, 80, step=20)
        space["max_answer_length"] = hp.Choice("max_answer_length", [15, 30, 50])
        return space


class SpanF1(keras.callbacks.Callback):
    """Puts the validation questions' F1 (`val_f1`, with the no-answer threshold tuned on them),
    `val_has_answer_f1` and `val_span_f1` (answerable questions, always answered) in each epoch's logs,
    for early stopping, checkpoints and the tuner."""

    def __init__(self, task, validation):
        super().__init__()
        self.task, self.validation = task, validation

    def __deepcopy__(self, memo):
        # KerasTuner copies a search's callbacks for each trial; the task and its validation questions
        # (datasets, traced functions: not copyable) are shared, as they are the same for every trial.
        return SpanF1(self.task, self.validation)

    def on_epoch_end(self, epoch, logs=None):
        questions = self.validation.questions
        found = self.task._find(self.model, questions)
        threshold, _ = self.task._choose_threshold(questions, found)
        scores = answer_metrics.squad_scores([list(q.answers) for q in questions], self.task._decide(found, threshold))
        # The spans alone, every question answered: shows learning before the threshold lets any answer through.
        answered = answer_metrics.squad_scores([list(q.answers) for q in questions], [f["text"] for f in found])
        if logs is not None:
            logs["val_f1"] = scores["f1"]
            logs["val_has_answer_f1"] = scores["has_answer_f1"]
            logs["val_span_f1"] = answered["has_answer_f1"]


def train_question_answerer(data=None, validation_data=None, **kwargs):
    """Trains a `QuestionAnswerer` (see its arguments) and returns it, fitted and saved.

    Examples:
        >>> qa = train_question_answerer("dev-v2.0.json", backbone="path/to/bert-preset")  # doctest: +SKIP
        >>> qa.predict({"question": "Who led the Normans?", "context": "The Normans were led by Rollo."})
        ... # doctest: +SKIP
        {'answer': 'Rollo', 'score': 0.91, 'start': 24, 'end': 29}
    """
    return QuestionAnswerer(**kwargs).fit(data, validation_data)
