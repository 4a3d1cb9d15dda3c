"""Does training on synthetic unanswerable questions teach MiniLM the no-answer decision?

    python benchmarks/squad_synthetic_unanswerable.py                 # both kinds, defaults
    python benchmarks/squad_synthetic_unanswerable.py --kinds remove --options '{"learning_rate": 7.5e-5}'
    python benchmarks/squad_diagnose.py RUN_DIR                       # AUC of the no-answer score

Victoria (Australia) held out as in `squad_qa.py`. A tenth of the training articles' contexts is kept as
real validation questions (early stopping, the threshold); each answerable question of the rest gives
synthetic unanswerable ones (Zhu et al. 2019 make such questions with a model; these are rule-made):
- "remove": the same question on its context without the sentence that holds the answer;
- "swap": a capitalised word or a number of the question that is in the context, replaced by one from
  another paragraph of the article that is not in this context ("Who ruled the duchy of Italo");
- "plausible" (not unanswerable: the other way round): each unanswerable question also once as answerable
  by its plausible answer, so the span head learns from every question while [CLS] still learns "no
  answer" (the two copies are a half-and-half target: [CLS] and the plausible span).
Prints one JSON line; the run directory goes to `squad_diagnose.py`.
"""

import argparse
import json
import pathlib
import random
import re
import resource
import tempfile
import time

from squad_qa import SQUAD, minilm_folder

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
NAME = re.compile(r"\b(?:[A-Z][a-z]+|\d{3,4})\b")


def without_answer_sentence(q):
    """The question on its context less the sentence(s) holding its first answer, or None."""
    start, end = q.starts[0], q.starts[0] + len(q.answers[0])
    sentences, position = [], 0
    for match in SENTENCE_END.finditer(q.context):
        sentences.append((position, match.start()))
        position = match.end()
    sentences.append((position, len(q.context)))
    kept = [q.context[a:b] for a, b in sentences if b <= start or a >= end]
    context = " ".join(kept)
    if len(kept) == len(sentences) or not kept or any(a.lower() in context.lower() for a in q.answers):
        return None
    return q._replace(id=q.id + "-removed", context=context, answers=(), starts=(), plausible=None)


def with_swapped_name(q, names, rng):
    """The question with one of its names (in the context) swapped for an article name not in it, or None."""
    own = [w for w in NAME.findall(q.question) if w in q.context and q.question.find(w) > 0]
    if not own:
        return None
    word = rng.choice(own)
    pool = sorted(n for n in names if n not in q.context and n.isdigit() == word.isdigit())
    if not pool:
        return None
    question = q.question.replace(word, rng.choice(pool))
    return q._replace(id=q.id + "-swapped", question=question, answers=(), starts=(), plausible=None)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kinds", default="remove,swap")
    parser.add_argument("--held-out", default="Victoria_(Australia)")
    parser.add_argument("--options", default="{}", help="QuestionAnswerer arguments as JSON")
    args = parser.parse_args()
    from tasks import QuestionAnswerer
    from tasks.question_answering import data as qa_data

    rng = random.Random(0)
    questions, _ = qa_data.load_questions(SQUAD)
    training = [q for q in questions if q.group != args.held_out]
    test = [q for q in questions if q.group == args.held_out]
    contexts = sorted({q.context for q in training})
    rng.shuffle(contexts)
    validation_contexts = set(contexts[: len(contexts) // 10])
    train = [q for q in training if q.context not in validation_contexts]
    validation = [q for q in training if q.context in validation_contexts]
    names = {}
    for q in train:
        names.setdefault(q.group, set()).update(NAME.findall(q.context))
    kinds = args.kinds.split(",")
    synthetic = []
    if "plausible" in kinds:
        synthetic += [
            q._replace(id=q.id + "-plausible", answers=(q.plausible[0],), starts=(q.plausible[1],), plausible=None)
            for q in train
            if not q.answers and q.plausible
        ]
    for q in (q for q in train if q.answers):
        made = [without_answer_sentence(q) if "remove" in kinds else None]
        made.append(with_swapped_name(q, names[q.group], rng) if "swap" in kinds else None)
        synthetic += [m for m in made if m is not None]
    folder = pathlib.Path(tempfile.mkdtemp())
    for name, part in (("train", train + synthetic), ("validation", validation), ("test", test)):
        qa_data.write_squad_json(part, folder / f"{name}.json")
    start = time.time()
    qa = QuestionAnswerer(
        backbone=minilm_folder(), test_split=0, seed=0, save_dir=str(folder / "runs"), verbose=2,
        **json.loads(args.options),
    ).fit(str(folder / "train.json"), validation_data=str(folder / "validation.json"))  # fmt: skip
    seconds = time.time() - start
    scores = qa.evaluate(str(folder / "test.json"))
    print(
        json.dumps(
            {
                "kinds": kinds,
                "questions": {"train": len(train), "synthetic": len(synthetic), "validation": len(validation)},
                "test": {k: round(v, 2) if isinstance(v, float) else v for k, v in scores.items()},
                "validation_f1": round(qa.metrics_["validation"]["f1"], 2),
                "epochs_run": len(qa.history_.get("loss", [])),
                "train_seconds": round(seconds, 1),
                "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
                "run_dir": qa.run_dir,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
