"""Answering: the best span of each question over its windows, the no-answer threshold chosen on
validation questions, and the callback that puts the validation F1 in each epoch's logs."""

import math
import warnings

import numpy as np

from tasks.question_answering import data as qa_data
from tasks.question_answering import model as model_lib
from tasks.question_answering import windows as windows_lib
from tasks.question_answering.preprocessor import PREDICT_CHUNK
from toolkit import answer_metrics, callbacks
from toolkit.errors import ToolkitError


def find(step, preprocessor, questions, batch_size, max_answer_length):
    """Per question the best span and its no-answer score (`windows.best_answers`), in chunks; `step` is
    the model's traced inference function."""
    found, pad = [], preprocessor.tokens().pad
    for first in range(0, len(questions), PREDICT_CHUNK):
        chunk = questions[first : first + PREDICT_CHUNK]
        windows = preprocessor.windows(chunk)
        starts, ends = [None] * len(windows), [None] * len(windows)
        order = np.argsort([len(w.token_ids) for w in windows], kind="stable")
        for b in range(0, len(order), batch_size):
            batch = order[b : b + batch_size]
            width = 16 * math.ceil(max(len(windows[i].token_ids) for i in batch) / 16)
            arrays = {name: np.zeros((len(batch), width), np.int32) for name in model_lib.INPUTS}
            arrays["token_ids"][:] = pad
            for row, i in enumerate(batch):
                n = len(windows[i].token_ids)
                arrays["token_ids"][row, :n] = windows[i].token_ids
                arrays["segment_ids"][row, :n] = windows[i].segment_ids
                arrays["padding_mask"][row, :n] = 1
            out = step(arrays)
            for row, i in enumerate(batch):
                starts[i], ends[i] = out["start"][row].numpy(), out["end"][row].numpy()
        found.extend(windows_lib.best_answers(chunk, windows, starts, ends, max_answer_length))
    return found


def choose_threshold(questions, found, answers_nothing):
    """The no-answer threshold that maximises F1 on `questions`; None (always answer) when training had no
    unanswerable question."""
    if not answers_nothing:
        return None, None
    references = [list(q.answers) for q in questions]
    return answer_metrics.best_no_answer_threshold(
        references, [f["text"] for f in found], [f["no_answer_score"] for f in found]
    )


def decide(found, threshold):
    """Texts after the no-answer decision: "" where the no-answer score is above the threshold."""
    return ["" if threshold is not None and f["no_answer_score"] > threshold else f["text"] for f in found]


def questions_of(items):
    """`predict`'s dicts {"question", "context"} -> questions (a clear error naming a malformed one)."""
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
        questions.append(
            qa_data._question(item.get("id", f"question {i}"), item["question"], item["context"], [], [], "", None,
                              "predict")
        )  # fmt: skip
    return questions


class SpanF1(callbacks.ValidationScores):
    """Puts the validation questions' F1 (`val_f1`, with the no-answer threshold tuned on them),
    `val_has_answer_f1` and `val_span_f1` (answerable questions, always answered) in each epoch's logs,
    for early stopping, checkpoints and the tuner."""

    def on_epoch_end(self, epoch, logs=None):
        questions = self.validation.questions
        found = self.task._find(self.model, questions)
        threshold, _ = choose_threshold(questions, found, self.task.answers_nothing_)
        scores = answer_metrics.squad_scores([list(q.answers) for q in questions], decide(found, threshold))
        # The spans alone, every question answered: shows learning before the threshold lets any answer through.
        answered = answer_metrics.squad_scores([list(q.answers) for q in questions], [f["text"] for f in found])
        if logs is not None:
            logs["val_f1"] = scores["f1"]
            logs["val_has_answer_f1"] = scores["has_answer_f1"]
            logs["val_span_f1"] = answered["has_answer_f1"]


def compare_with_no_answer(part, scores):
    """The always-"no answer" baseline's F1 beside the run's on a part's scores; warns when the run is no
    better (google-research/bert #436: a model that learned to answer nothing)."""
    share = scores["no_answer_count"] / max(1, scores["no_answer_count"] + scores["has_answer_count"])
    baseline = 100.0 * share
    if scores["f1"] <= baseline + 1.0:
        warnings.warn(
            f"This run's {part} F1 {scores['f1']:.1f} is no better than always answering nothing "
            f"({baseline:.1f}); on answerable questions it scores {scores['has_answer_f1']:.1f}. Likely "
            "causes: a from-scratch encoder on little data, or too short a training. Try a pretrained encoder "
            "(--backbone with a BERT-family preset or folder), more epochs, or the learning-rate finder.",
            stacklevel=4,
        )
    return {
        "part": part,
        "metric": "f1",
        "value": scores["f1"],
        "always_no_answer_f1": baseline,
        "better_than_always_no_answer": bool(scores["f1"] > baseline + 1.0),
        "has_answer_f1": scores["has_answer_f1"],
    }


def answers_of(found, texts):
    """`predict`'s answers: {"answer", "score", "start", "end"} per question ("" and the no-answer
    probability where the decision is "no answer")."""
    return [
        {"answer": t, "score": f["score"], "start": f["start"], "end": f["end"]}
        if t
        else {"answer": "", "score": f["no_answer_probability"], "start": 0, "end": 0}
        for t, f in zip(texts, found)
    ]


def few_questions_note(answerable):
    """What a run with few answerable questions on an encoder not yet trained for answering is told."""
    return (
        f"Note: {answerable:,} answerable training questions are few for an encoder that has not learned to "
        "find answers yet. Measured with MiniLM on the SQuAD 2.0 subset, scored on an article it never saw: "
        "131 training questions of one article F1 41 against 44 for always answering nothing; four "
        "articles' (520 answerable) F1 51 against 50. Expect little above that baseline: more questions, or "
        "a checkpoint already trained for question answering (a Hugging Face ...ForQuestionAnswering folder "
        "as backbone=), do better."
    )
