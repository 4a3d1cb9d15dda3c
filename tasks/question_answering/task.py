"""Extractive question answering: `QuestionAnswerer` and `train_question_answerer`."""

import keras
import numpy as np

from tasks.question_answering import answers as answers_lib
from tasks.question_answering import data as qa_data
from tasks.question_answering import model as model_lib
from tasks.question_answering.backbone import PRETRAINED_DEFAULT, AutoBackbone
from tasks.question_answering.preprocessor import Part, QuestionPreprocessor
from toolkit import answer_metrics, estimator, preprocessing
from toolkit.preprocessing import Index
from toolkit.saving import register_task
from toolkit.task import Task

__all__ = ["PRETRAINED_DEFAULT", "Part", "QuestionAnswerer", "train_question_answerer"]

# Below this many answerable training questions, a run is told before training that it will learn little.
FEW_QUESTIONS = 500


@register_task
class QuestionAnswerer(AutoBackbone, Task):
    """Answers questions with a span of a given context, or with "no answer" (SQuAD 1.1 and 2.0).

    Long contexts are read through overlapping windows of `max_length` tokens; the best span over all
    windows wins. When the training data has unanswerable questions, the model may answer "" and the
    threshold for that is tuned on the validation questions (SQuAD 2.0's official procedure) and saved.
    Scores: `exact_match`, `f1`, `has_answer_f1`, `no_answer_f1` (the official SQuAD definitions, in
    percent), beside the always-"no answer" baseline.

    Pretrained encoders are the way to good answers: a from-scratch encoder (no pretrained weights)
    learns the built-in generated set, but on a few thousand real questions it measured no better than
    always answering nothing.

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
            span. Measured on a held-out SQuAD article, two validation splits: spans
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
    preprocessor_class = QuestionPreprocessor
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
    def read_data(self, data):
        questions, about = qa_data.load_questions(data, self.columns, self.bad_answers, self.data_dir)
        groups, _ = qa_data.grouping(questions, getattr(self, "_groups", None))
        return Index(questions, questions, np.zeros(len(questions), int), about, groups=groups)

    def make_preprocessor(self):
        return QuestionPreprocessor(
            preset=self._chosen_backbone() if self._uses_preset() else None, vocabulary_size=self.vocabulary_size,
            max_length=self.max_length, doc_stride=self.doc_stride, plausible_answers=self.plausible_answers,
        )  # fmt: skip

    def prepare_data(self, data, validation_data):
        self._choose_backbone(data)
        self._check_backbone()
        index = self.read_data(data)
        grouped_by = qa_data.grouping(index.inputs, getattr(self, "_groups", None))[1]
        if self.split not in ("auto", "grouped"):  # another split= the user chose is taken as asked
            grouped_by = f"nothing (split={self.split!r})"
        splits = super().prepare_data(data, validation_data, index)
        parts = {"train": splits.train.questions, "validation": splits.validation.questions}
        parts["test"] = splits.test.questions if splits.test is not None else None
        splits.info["grouped_by"] = grouped_by
        splits.info["unanswerable_share"] = {
            name: round(sum(not q.answers for q in part) / len(part), 4) for name, part in parts.items() if part
        }
        train_q, val_q, test_q = parts["train"], parts["validation"], parts["test"]
        self.say(
            f"Question answering: {len(train_q):,} training / {len(val_q):,} validation"
            + (f" / {len(test_q):,} test" if test_q else "")
            + f" questions from {index.about}, split by {grouped_by}; "
            f"{sum(not q.answers for q in train_q):,} training questions have no answer."
        )
        answerable = sum(bool(q.answers) for q in train_q)
        if answerable < FEW_QUESTIONS and self._pretrained_backbone() and not self._span_head_given():
            self.say(answers_lib.few_questions_note(answerable))
        return splits

    # What was learned lives in the preprocessor; these are its scikit-learn-style names.
    tokenizer_ = preprocessing.learned("tokenizer")
    answers_nothing_ = preprocessing.learned("answers_nothing")

    def after_loading(self):
        if getattr(self, "tokenizer_", None) is None:  # a run saved before tokenizer_ (WordPiece only)
            self.tokenizer_ = {"kind": "wordpiece", "vocabulary": self.vocabulary_, "lowercase": self.lowercase_,
                               "strip_accents": self.strip_accents_, "specials": None}  # fmt: skip

    def keras_data(self, part):
        return part.dataset

    def export_examples(self, part):
        inputs, targets = next(iter(part.dataset))
        return {k: v.numpy() for k, v in inputs.items()}, None

    # ------------------------------------------------------------------ model
    def build_model(self):
        return model_lib.build(
            self._chosen_backbone(), self._uses_preset(), self._pretrained_backbone(), self.max_length,
            len(self.tokenizer_["vocabulary"]) if not self._uses_preset() else None, self.embedding_dim, self.width,
        )  # fmt: skip

    def compile_model(self, model, make_optimizer):
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(optimizer=make_optimizer(), loss={"start": loss, "end": loss})

    def task_callbacks(self, validation):
        return [answers_lib.SpanF1(self, validation)] if validation is not None else []

    # ------------------------------------------------------------- answering
    def _find(self, model, questions):
        return answers_lib.find(
            self._inference_function(model), self.preprocessor_, questions, self._batch_size(), self.max_answer_length
        )

    def after_training(self, model, splits):
        """The no-answer threshold, chosen on the validation questions (0 without validation data)."""
        self.no_answer_threshold_ = 0.0 if self.answers_nothing_ else None
        if splits.validation is not None:
            found = self._find(model, splits.validation.questions)
            self.no_answer_threshold_, _ = answers_lib.choose_threshold(
                splits.validation.questions, found, self.answers_nothing_
            )

    def score(self, part):
        found = self._find(self.model_, part.questions)
        predictions = answers_lib.decide(found, self.no_answer_threshold_)
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
        """Records the always-"no answer" baseline's F1 beside the run's (`answers.compare_with_no_answer`)."""
        part, scores = self._judged_part()
        if scores:
            self.metrics_["baseline"] = answers_lib.compare_with_no_answer(part, scores)

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
        questions = answers_lib.questions_of(items)
        found = self._find(self.model_, questions)
        answers = answers_lib.answers_of(found, answers_lib.decide(found, self.no_answer_threshold_))
        return answers[0] if single else answers

    def read_inputs(self, paths):
        """Files of questions (any form `fit` reads; answers optional) -> (their ids, `predict`'s dicts):
        what `toolkit predict RUN questions.jsonl` answers."""
        return qa_data.prediction_inputs(paths, self.columns)

    def search_space(self, hp):
        space = super().search_space(hp)
        if self._pretrained_backbone():
            space["learning_rate"] = hp.Float("learning_rate", 1e-5, 2e-4, sampling="log")
            space["epochs"] = hp.Int("epochs", 2, 10)
        else:
            space["epochs"] = hp.Int("epochs", 20, 80, step=20)
        space["max_answer_length"] = hp.Choice("max_answer_length", [15, 30, 50])
        return space


def train_question_answerer(data=None, validation_data=None, **kwargs):
    """Trains a `QuestionAnswerer` (see its arguments) and returns it, fitted and saved.

    Examples:
        >>> qa = train_question_answerer("dev-v2.0.json", backbone="path/to/bert-preset")  # doctest: +SKIP
        >>> qa.predict({"question": "Who led the Normans?", "context": "The Normans were led by Rollo."})
        ... # doctest: +SKIP
        {'answer': 'Rollo', 'score': 0.91, 'start': 24, 'end': 29}
    """
    return QuestionAnswerer(**kwargs).fit(data, validation_data)
