"""Question-answering data: SQuAD JSON, CSV / JSON Lines records, Python lists, TFDS, and a generated default.

Every form becomes a list of `Question`s: the question, its context, the reference answers (texts and
character starts; none when the question has no answer in the context), a group key (the article,
else the context), so a split keeps all questions of one context on one side, and for an unanswerable
SQuAD 2.0 question its "plausible answer" (the span a reader would wrongly take; the task's
`plausible_answers=True` trains on it). Questions and contexts are strings and are held in memory
(SQuAD's 130,000 questions are about 40 MB of text); the token windows the model reads are made inside
the tf.data pipeline (see `tasks.question_answering.windows`).
"""

import collections
import csv
import io
import json
import os
import pathlib
import random
import warnings

from toolkit import readers
from toolkit import tfds as tfds_lib
from toolkit.errors import ToolkitError

Question = collections.namedtuple(
    "Question", ["id", "question", "context", "answers", "starts", "group", "plausible"], defaults=(None,)
)
BAD_ANSWERS = ("fail", "skip")
COLUMNS = {
    "question": ("question", "query", "q"),
    "context": ("context", "passage", "paragraph", "document"),
    "answer_text": ("answer_text", "answer", "answers", "text"),
    "answer_start": ("answer_start", "start", "answer_char_start"),
    "id": ("id", "qid", "question_id"),
    "title": ("title", "article"),
}
DEFAULT_DATA = "facts"


def load_questions(data, columns=None, bad_answers="fail", data_dir=None, answers_required=True):
    """Any accepted form -> (list of `Question`, a short description of the source).

    Args:
        data: a SQuAD .json file (v1.1 or v2.0), a .csv / .tsv / .jsonl file of records, a tuple
            (questions, contexts, answers), "tfds:NAME" (e.g. "tfds:squad/v2.0"), "facts", or a list of
            `Question`s.
        columns: {role: column name} for record files; roles "question", "context", "answer_text",
            "answer_start", and optional "id" and "title". Unnamed roles are found by common names.
        bad_answers: "fail" (a three-part error) or "skip" (a warning that counts them) for an answer
            whose text is not at its `answer_start` in the context.
        data_dir: TFDS data folder.
        answers_required: False for questions to answer (a record file then needs no answer columns).

    Examples:
        >>> questions, about = load_questions((["Who?"], ["Rollo led them."], ["Rollo"]))
        >>> questions[0].answers, questions[0].starts, about
        (('Rollo',), (0,), 'tuple of 1 question(s)')
    """
    if bad_answers not in BAD_ANSWERS:
        raise ToolkitError(
            f"bad_answers={bad_answers!r} is not valid.", expected=f"one of {BAD_ANSWERS}", fix="pass one of them"
        )
    checker = _AnswerChecker(bad_answers)
    if isinstance(data, str) and data == DEFAULT_DATA:
        questions, about = generated_facts(), "generated facts (built-in)"
    elif isinstance(data, str) and data.startswith("tfds:"):
        questions, about = _from_tfds(data, data_dir, checker), data
    elif isinstance(data, (str, os.PathLike)):
        path = readers.existing_path(data, "a SQuAD .json file, or a .csv / .tsv / .jsonl file of questions")
        if path.is_dir():
            raise ToolkitError(
                f"'{path}' is a folder.",
                expected="a SQuAD .json file, or a .csv / .tsv / .jsonl file of questions",
                fix="pass the file itself",
            )
        suffix = path.suffix.lower()
        if suffix == ".json":
            questions = _from_squad_json(path, checker)
        elif suffix in (".jsonl", ".csv", ".tsv"):
            questions = _from_records(path, columns, checker, answers_required)
        else:
            raise ToolkitError(
                f"'{path}' has the extension {suffix or '(none)'!r}.",
                expected="a SQuAD .json file, or a .csv / .tsv / .jsonl file of questions",
                fix="convert the file, or rename it if it is one of those",
            )
        about = str(path)
    elif isinstance(data, list) and data and all(isinstance(q, Question) for q in data):
        questions, about = list(data), f"list of {len(data)} question(s)"
    elif isinstance(data, (tuple, list)) and len(data) == 3:
        questions = _from_lists(*data, checker)
        about = f"tuple of {len(questions)} question(s)"
    else:
        raise ToolkitError(
            f"Got data of type {type(data).__name__}.",
            expected="a SQuAD .json, .csv / .tsv / .jsonl file, a (questions, contexts, answers) tuple, "
            "'tfds:NAME' or 'facts'",
            fix="pass one of those",
        )
    checker.report(about)
    if not questions:
        raise ToolkitError(
            f"{about} holds no questions.", expected="at least one question with a context", fix="check the file"
        )
    return questions, about


class _AnswerChecker:
    """Checks each question's answers (a text, at its start in the context); fails with a three-part
    error, or skips the question and counts it (`bad_answers="skip"`)."""

    def __init__(self, mode):
        self.mode, self.skipped = mode, []

    def reject(self, qid, problem, expected, fix):
        """Skips question `qid` (returns None), or raises the error when bad_answers="fail"."""
        if self.mode == "skip":
            self.skipped.append(qid)
            return None
        raise ToolkitError(
            f"Question {qid!r}: {problem}",
            expected=expected,
            fix=f"{fix}, or pass bad_answers='skip' (--bad-answers skip) to leave such questions out with a warning",
        )

    def keep(self, qid, context, answers, starts):
        """(answers, starts) that check out, or None when the question is skipped."""
        for text, start in zip(answers, starts):
            if not isinstance(text, str) or not text:
                return self.reject(
                    qid, f"an answer has the text {text!r}.", "each answer's text, a non-empty string",
                    "give every answer its text (an unanswerable question has an empty answer list)",
                )  # fmt: skip
            if start is not None and (isinstance(start, bool) or not isinstance(start, int)):
                return self.reject(
                    qid, f"the answer {text!r} has answer_start={start!r}, a {type(start).__name__}.",
                    "answer_start: the character position of the answer in the context, an integer",
                    "write answer_start as a number (5, not \"5\")",
                )  # fmt: skip
            if start is None or context[start : start + len(text)] != text:
                found = context[start : start + len(text)] if start is not None else None
                return self.reject(
                    qid, f"the answer {text!r} is not at answer_start={start} of its context (found {found!r} there).",
                    "answer_start: the character position of the answer text in the context",
                    "correct the record",
                )  # fmt: skip
        return answers, starts

    def report(self, about):
        if self.skipped:
            warnings.warn(
                f"Skipped {len(self.skipped)} question(s) of {about} whose answers were missing, malformed or not "
                f"at their answer_start (first ids: {self.skipped[:5]}).",
                stacklevel=3,
            )


def _question(qid, question, context, answers, starts, group, checker, where, plausible=None):
    if not isinstance(context, str) or not context.strip():
        raise ToolkitError(
            f"Question {qid!r} of {where} has an empty context.",
            expected="a context text the answer is taken from",
            fix="fill in the context, or remove the question",
        )
    if not isinstance(question, str) or not question.strip():
        raise ToolkitError(
            f"Question {qid!r} of {where} has no question text.",
            expected="a non-empty question",
            fix="fill it in, or remove the record",
        )
    kept = checker.keep(qid, context, tuple(answers), tuple(starts)) if checker else (tuple(answers), tuple(starts))
    if kept is None:
        return None
    return Question(str(qid), question, context, kept[0], kept[1], str(group), _plausible(context, plausible))


def _plausible(context, plausible):
    """(text, start) of a SQuAD 2.0 plausible answer that is where it says in the context, else None.

    Only training reads it (with `plausible_answers=True`); one that does not check out
    is left out rather than failing the data, as it is never a reference answer.

    Examples:
        >>> _plausible("The Normans came.", [{"text": "Normans", "answer_start": 4}])
        ('Normans', 4)
    """
    for answer in plausible or []:
        text, start = answer.get("text"), answer.get("answer_start")
        if isinstance(text, str) and text and isinstance(start, int) and context[start : start + len(text)] == text:
            return text, start
    return None


def _from_squad_json(path, checker):
    try:
        document = json.loads(readers.read_text(path, "question files"))
    except json.JSONDecodeError as error:
        raise ToolkitError(
            f"'{path}' is not readable JSON ({error}).", expected="a SQuAD JSON file", fix="check the file"
        ) from None
    articles = document.get("data") if isinstance(document, dict) else None
    shaped = isinstance(articles, list) and all(
        isinstance(a, dict) and isinstance(a.get("paragraphs"), list) for a in articles
    )
    if not shaped:
        found = list(document)[:8] if isinstance(document, dict) else type(document).__name__
        raise ToolkitError(
            f"'{path}' is JSON but not SQuAD-shaped (its top level: {found}).",
            expected='{"data": [{"title": ..., "paragraphs": [{"context": ..., "qas": [{"id", "question", '
            '"answers": [{"text", "answer_start"}], "is_impossible"}]}]}]} (SQuAD v1.1 / v2.0)',
            fix="convert it to that shape, or to a .jsonl / .csv file with question, context, answer_text, "
            "answer_start columns",
        )
    questions = []
    for a, article in enumerate(articles):
        title = article.get("title", f"article {a}")
        for p, paragraph in enumerate(article["paragraphs"]):
            context = paragraph.get("context")
            for k, qa in enumerate(paragraph.get("qas", [])):
                qid = qa.get("id", f"{title}/{p}/{k}")
                answers = _squad_answers(qa, qid, checker)
                if answers is None:
                    continue
                texts = [answer.get("text") for answer in answers]
                starts = [answer.get("answer_start") for answer in answers]
                plausible = qa.get("plausible_answers") if qa.get("is_impossible") or not answers else None
                kept = _question(
                    qid, qa.get("question"), context, texts, starts, title, checker, f"'{path}'", plausible
                )
                if kept is not None:
                    questions.append(kept)
    return questions


def _squad_answers(qa, qid, checker):
    """A SQuAD question's answer list ([] when unanswerable), or None when it is skipped. SQuAD 2.0 marks an
    unanswerable question `is_impossible: true` with no answers; v1.1 questions all have answers."""
    impossible = bool(qa.get("is_impossible"))
    answers = qa.get("answers")
    if impossible and answers:
        return checker.reject(
            qid, f"it is marked is_impossible: true and lists {len(answers)} answer(s).",
            'either "is_impossible": true with "answers": [] (SQuAD 2.0), or answers and no is_impossible',
            "remove the answers (a span a reader might take goes in plausible_answers) or the is_impossible mark",
        )  # fmt: skip
    if impossible:
        return []
    if answers is None or (not answers and "is_impossible" in qa):
        return checker.reject(
            qid, "it has no answers"
            + (" and is marked is_impossible: false." if "is_impossible" in qa else " and is not marked is_impossible."),
            'answerable questions with "answers": [{"text": ..., "answer_start": ...}]; unanswerable ones marked '
            '"is_impossible": true',
            "add its answers, or mark it is_impossible: true",
        )  # fmt: skip
    if not isinstance(answers, list) or not all(isinstance(a, dict) for a in answers):
        return checker.reject(
            qid, f"its answers are {answers!r}.", 'a list of {"text": ..., "answer_start": ...} objects',
            "write the answers in SQuAD's layout",
        )  # fmt: skip
    return answers


def _read_records(path):
    text = readers.read_text(path, "question files")
    if path.suffix.lower() == ".jsonl":
        example = '{"question": "Who?", "context": "Rollo led.", "answer_text": "Rollo", "answer_start": 0}'
        return readers.read_json_lines(text, path, example)[0]
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if path.suffix.lower() == ".tsv" else ","))


def _from_records(path, columns, checker, answers_required=True):
    records = _read_records(path)
    found = list(records[0]) if records else []
    chosen = {}
    for role, names in COLUMNS.items():
        name = (columns or {}).get(role)
        if name is None:
            name = next((n for n in found if n.lower() in names), None)
        if name is not None and name not in found:
            raise ToolkitError(
                f"'{path}' has no column {name!r} (for {role}); its columns: {found}.",
                expected=f"a {role} column",
                fix=f"pass columns={{'{role}': NAME}} (--columns {role}=NAME) with one of its columns",
            )
        chosen[role] = name
    needed = ("question", "context", "answer_text") if answers_required else ("question", "context")
    missing = [role for role in needed if chosen[role] is None]
    if missing:
        raise ToolkitError(
            f"'{path}' has no column for {missing}; its columns: {found}.",
            expected="question, context, answer_text and answer_start columns (an empty answer: unanswerable)",
            fix="rename the columns, or pass columns={'question': ..., 'context': ..., 'answer_text': ..., "
            "'answer_start': ...}",
        )
    questions = []
    for number, record in enumerate(records, 1):
        qid = record.get(chosen["id"]) if chosen["id"] else f"record {number}"
        text = (record.get(chosen["answer_text"]) if chosen["answer_text"] else None) or ""
        start = record.get(chosen["answer_start"]) if chosen["answer_start"] else None
        context = record.get(chosen["context"])
        if isinstance(text, str) and text and start in (None, ""):
            start = context.find(text) if isinstance(context, str) else None
        if isinstance(start, str) and start.strip().lstrip("-").isdigit():  # a CSV cell holds text
            start = int(start)
        start = None if start in (None, "") or (isinstance(start, int) and start < 0) else start
        texts, starts = ([text], [start]) if text else ([], [])
        group = record.get(chosen["title"]) if chosen["title"] else context
        kept = _question(qid, record.get(chosen["question"]), context, texts, starts, group, checker, f"'{path}'")
        if kept is not None:
            questions.append(kept)
    return questions


def _from_lists(questions, contexts, answers, checker):
    if not (len(questions) == len(contexts) == len(answers)):
        raise ToolkitError(
            f"Got {len(questions)} questions, {len(contexts)} contexts and {len(answers)} answers.",
            expected="three lists of the same length",
            fix="pass one context and one answer (or None) per question",
        )
    kept = []
    for i, (question, context, answer) in enumerate(zip(questions, contexts, answers)):
        texts, starts = [], []
        for one in answer if isinstance(answer, (list, tuple)) else [answer]:
            if one in (None, ""):
                continue
            if isinstance(one, dict):
                text, start = one.get("text"), one.get("answer_start")
            else:
                text = str(one)
                start = context.find(text) if isinstance(context, str) else -1
                start = None if start < 0 else start
            texts.append(text)
            starts.append(start)
        item = _question(f"question {i}", question, context, texts, starts, context, checker, "the data")
        if item is not None:
            kept.append(item)
    return kept


def _from_tfds(spec, data_dir, checker):
    """A TFDS question-answering set with SQuAD's features (squad, squad/v2.0, ...): its questions as a list."""
    dataset, _ = tfds_lib.load_tfds(spec, data_dir, as_supervised=False)
    questions = []
    for example in dataset.as_numpy_iterator():

        def text(value):
            return value.decode("utf-8") if isinstance(value, bytes) else str(value)

        answers = example.get("answers", {})
        texts = [text(t) for t in answers.get("text", [])]
        starts = [int(s) for s in answers.get("answer_start", [])]
        plausible = None
        if example.get("is_impossible"):
            texts, starts = [], []
            found = example.get("plausible_answers", {})
            plausible = [
                {"text": text(t), "answer_start": int(s)}
                for t, s in zip(found.get("text", []), found.get("answer_start", []))
            ]
        title = text(example["title"]) if "title" in example else text(example["context"])
        kept = _question(
            text(example.get("id", len(questions))), text(example["question"]), text(example["context"]),
            texts, starts, title, checker, spec, plausible,
        )  # fmt: skip
        if kept is not None:
            questions.append(kept)
    return questions


# ------------------------------------------------------------------ the generated default
_FIRST = ["Ada", "Boris", "Clara", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kira", "Luca",
          "Mira", "Nils", "Olga", "Pavel", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wim", "Yara", "Zeno"]  # fmt: skip
_LAST = ["Adler", "Brandt", "Costa", "Dahl", "Eriksen", "Fontaine", "Galli", "Horvat", "Ivanova", "Jensen",
         "Kowalski", "Lindqvist", "Moreau", "Novak", "Okafor", "Petrov", "Rossi", "Schmidt"]  # fmt: skip
_CITIES = ["Lisbon", "Oslo", "Krakow", "Porto", "Vienna", "Dublin", "Bergen", "Lyon", "Turin", "Ghent",
           "Tallinn", "Seville", "Utrecht", "Graz", "Malmo", "Split"]  # fmt: skip
_JOBS = ["baker", "pilot", "chemist", "carpenter", "nurse", "architect", "violinist", "gardener", "judge",
         "geologist", "tailor", "surgeon"]  # fmt: skip


def generated_facts(count=3000, seed=0):
    """A built-in question set that needs no download: short biographies of invented people, questions
    about where and when they were born and what they do, and about a fifth asking what the context
    does not say (unanswerable). Each context is its own group.

    Examples:
        >>> q = generated_facts(10)
        >>> len(q), q[0].context[q[0].starts[0]:][:len(q[0].answers[0])] == q[0].answers[0]
        (10, True)
    """
    rng = random.Random(seed)
    questions = []
    while len(questions) < count:
        people = [f"{f} {s}" for f, s in zip(rng.sample(_FIRST, 3), rng.sample(_LAST, 3))]
        facts = {}
        sentences = []
        for person in people:
            city, year, job = rng.choice(_CITIES), str(rng.randint(1900, 2010)), rng.choice(_JOBS)
            told = rng.sample(["born", "job"], rng.choice([1, 2]))
            parts = []
            if "born" in told:
                parts.append(f"{person} was born in {city} in {year}.")
                facts[(person, "where")], facts[(person, "when")] = city, year
            if "job" in told:
                parts.append(f"{person} works as a {job}.")
                facts[(person, "job")] = job
            sentences.extend(parts)
        context = " ".join(sentences)
        asked = {
            "where": "Where was {} born?",
            "when": "In what year was {} born?",
            "job": "What does {} do for a living?",
        }
        for _ in range(3):
            person, kind = rng.choice(people), rng.choice(list(asked))
            question = asked[kind].format(person)
            answer = facts.get((person, kind))
            if answer is None:
                texts, starts = (), ()
            else:
                # The answer is in the sentences about this person: search from their first mention.
                start = context.index(answer, context.index(person))
                texts, starts = (answer,), (start,)
            questions.append(Question(f"facts-{len(questions)}", question, context, texts, starts, context))
    return questions[:count]


def write_squad_json(questions, path):
    """Writes questions as a SQuAD v2.0 JSON file (one article per group), e.g. to keep a test set.

    Examples:
        >>> import tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "facts.json"
        >>> write_squad_json(generated_facts(4), path)
        >>> len(load_questions(path)[0])
        4
    """
    articles = collections.defaultdict(lambda: collections.defaultdict(list))
    for q in questions:
        articles[q.group][q.context].append(
            {
                "id": q.id,
                "question": q.question,
                "answers": [{"text": t, "answer_start": s} for t, s in zip(q.answers, q.starts)],
                "is_impossible": not q.answers,
                **(
                    {"plausible_answers": [{"text": q.plausible[0], "answer_start": q.plausible[1]}]}
                    if q.plausible and not q.answers
                    else {}
                ),
            }
        )
    document = {
        "version": "v2.0",
        "data": [
            {"title": title, "paragraphs": [{"context": c, "qas": qas} for c, qas in paragraphs.items()]}
            for title, paragraphs in articles.items()
        ],
    }
    pathlib.Path(path).write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")


def prediction_inputs(paths, columns=None):
    """Files of questions (any form `fit` reads; answers optional) -> (their ids, `predict`'s dicts):
    what `toolkit predict RUN questions.jsonl` answers."""
    sources, items = [], []
    for path in paths:
        questions, _ = load_questions(path, columns, "skip", answers_required=False)
        sources += [q.id for q in questions]
        items += [{"question": q.question, "context": q.context} for q in questions]
    return sources, items


ARTICLE_GROUPS = 10  # with at least this many articles, splits keep whole articles apart; else whole contexts


def grouping(questions, groups=None):
    """(groups, what they are) for a grouped split: `groups` (fit's) when given; else whole articles when
    there are enough of them, else whole contexts, so no context is on both sides of a split."""
    if groups is not None:
        return groups, "fit's groups"
    articles = {q.group for q in questions}
    if len(articles) >= ARTICLE_GROUPS and len(articles) < len({q.context for q in questions}):
        return [q.group for q in questions], "article"
    return [q.context for q in questions], "context"
