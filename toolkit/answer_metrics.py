"""Extractive question answering's scores: SQuAD 2.0's exact match and F1, and the no-answer threshold."""

import collections
import re
import string

import numpy as np

# Written out because the official SQuAD script is not a package, and the maintained port
# (Hugging Face `evaluate`) downloads its metric code at run time (evaluate #315); these follow the
# official v2.0 script (normalize_answer, compute_exact, compute_f1, find_best_thresh) line for line.


def normalize_answer(text):
    """SQuAD's answer normalisation: lower case, no punctuation, no articles (a, an, the), single spaces.

    Examples:
        >>> normalize_answer("The  Norman-French, Army!")
        'normanfrench army'
    """

    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def answer_exact(reference, prediction):
    """1 when the normalised answers are equal, else 0 (the official `compute_exact`).

    Examples:
        >>> answer_exact("the Eiffel Tower", "Eiffel tower."), answer_exact("Paris", "in Paris")
        (1, 0)
    """
    return int(normalize_answer(reference) == normalize_answer(prediction))


def answer_f1(reference, prediction):
    """Token-overlap F1 of the normalised answers; an empty answer scores 1 only against an empty one
    (the official `compute_f1`).

    Examples:
        >>> round(answer_f1("the Norman conquest of England", "Norman conquest"), 4)
        0.6667
        >>> answer_f1("", ""), answer_f1("", "France"), answer_f1("France", "")
        (1, 0, 0)
    """

    reference_tokens = normalize_answer(reference).split()
    predicted_tokens = normalize_answer(prediction).split()
    if not reference_tokens or not predicted_tokens:
        return int(reference_tokens == predicted_tokens)
    common = collections.Counter(reference_tokens) & collections.Counter(predicted_tokens)
    same = sum(common.values())
    if same == 0:
        return 0
    precision = same / len(predicted_tokens)
    recall = same / len(reference_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_scores(references, predictions):
    """SQuAD v2.0 scores in percent: `exact_match`, `f1`, and over answerable and unanswerable questions
    apart, `has_answer_exact`, `has_answer_f1`, `no_answer_exact`, `no_answer_f1`, with their counts.

    Args:
        references: per question, the list of reference answer texts; an empty list (or only empty
            texts) when it has no answer. The best over the references counts. A question with a
            non-empty reference is answerable even when that reference normalises to nothing ("The",
            "."): the official script's rule (`has_ans = bool(answers)`).
        predictions: per question, the predicted text ("" for "no answer").

    Examples:
        >>> s = squad_scores([["France"], ["Rollo", "Rollo of Normandy"], []], ["France", "Rollo of", ""])
        >>> round(s["exact_match"], 2), round(s["f1"], 2), s["has_answer_exact"], s["no_answer_f1"], s["no_answer_count"]
        (66.67, 93.33, 50.0, 100.0, 1)
        >>> squad_scores([["The"]], [""])["has_answer_count"]  # answerable, though "The" normalises to nothing
        1
    """
    exact, f1, answerable = _per_question(references, predictions)
    scores = {"exact_match": _percent(exact), "f1": _percent(f1)}
    for name, chosen in (("has_answer", answerable), ("no_answer", ~answerable)):
        scores[f"{name}_exact"] = _percent(exact[chosen])
        scores[f"{name}_f1"] = _percent(f1[chosen])
        scores[f"{name}_count"] = int(chosen.sum())
    return scores


def best_no_answer_threshold(references, predictions, no_answer_scores):
    """The threshold on `no_answer_scores` that maximises F1 when a question whose score is above it gets
    "no answer" (the official `find_best_thresh`, for F1), and that F1 in percent.

    Args:
        references: per question, its reference texts (empty: unanswerable).
        predictions: per question, the best non-empty answer the model found.
        no_answer_scores: per question, how much likelier "no answer" is than that answer (higher: rather none).

    Returns:
        (threshold, f1): answer when the score is at most the threshold. With no unanswerable question
        the threshold answers everything.

    Examples:
        >>> refs = [["France"], [], ["Rollo"], []]
        >>> threshold, f1 = best_no_answer_threshold(refs, ["France", "Paris", "Rollo", "Seine"], [-3.0, 2.0, 0.5, 1.0])
        >>> threshold, f1
        (0.75, 100.0)
    """
    _, answered, answerable = _per_question(references, predictions)
    scores = np.asarray(no_answer_scores, dtype=np.float64)
    order = np.argsort(scores, kind="stable")
    unanswered = np.where(answerable, 0.0, 1.0)  # each question's F1 when the model says "no answer"
    # Threshold below every score: all "no answer"; each step up answers one more question.
    total = unanswered.sum()
    best_total, best_threshold = total, scores[order[0]] - 1.0
    for rank, i in enumerate(order):
        total += answered[i] - unanswered[i]
        tied = rank + 1 < len(order) and scores[order[rank + 1]] == scores[i]
        if not tied and total > best_total:
            following = scores[order[rank + 1]] if rank + 1 < len(order) else scores[i] + 2.0
            best_total, best_threshold = total, (scores[i] + following) / 2
    return float(best_threshold), float(100.0 * best_total / max(len(scores), 1))


def _per_question(references, predictions):
    exact, f1, answerable = [], [], []
    for refs, prediction in zip(references, predictions, strict=True):
        answerable.append(any(str(r) != "" for r in refs))  # the official `bool(qa["answers"])`
        refs = [r for r in refs if normalize_answer(r)] or [""]
        exact.append(max(answer_exact(r, prediction) for r in refs))
        f1.append(max(answer_f1(r, prediction) for r in refs))
    return np.array(exact, np.float64), np.array(f1, np.float64), np.array(answerable, bool)


def _percent(values):
    return float(100.0 * values.mean()) if len(values) else 0.0
