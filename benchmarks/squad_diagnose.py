"""Where a question-answering run loses F1 on a held-out SQuAD article: the spans, or the no-answer decision.

    python benchmarks/squad_diagnose.py RUN_DIR [--held-out "Victoria_(Australia)"]

Scores the run's model on the held-out article's questions three ways: as the run decides (its saved
threshold); with every question answered (the spans alone); and with the threshold that is best on
these very questions (no threshold can do better with this model). Also the ROC AUC of the no-answer
score for telling unanswerable from answerable questions. Prints one JSON line.
"""

import argparse
import json

import numpy as np
from squad_qa import SQUAD

from tasks.question_answering import answers
from toolkit import answer_metrics


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("--held-out", default="Victoria_(Australia)")
    args = parser.parse_args()
    from sklearn.metrics import roc_auc_score

    import toolkit
    from tasks.question_answering import data as qa_data

    qa = toolkit.load(args.run_dir)
    questions = [q for q in qa_data.load_questions(SQUAD)[0] if q.group == args.held_out]
    found = qa._find(qa.model_, questions)
    references = [list(q.answers) for q in questions]
    texts, scores = [f["text"] for f in found], [f["no_answer_score"] for f in found]
    best, _ = answer_metrics.best_no_answer_threshold(references, texts, scores)
    unanswerable = np.array([not q.answers for q in questions])
    pick = lambda s: {k: round(s[k], 2) for k in ("f1", "has_answer_f1", "no_answer_f1")}  # noqa: E731
    print(
        json.dumps(
            {
                "held_out": args.held_out,
                "as_run": pick(answer_metrics.squad_scores(references, answers.decide(found, qa.no_answer_threshold_))),
                "saved_threshold": round(qa.no_answer_threshold_, 3),
                "all_answered": pick(answer_metrics.squad_scores(references, texts)),
                "best_threshold_on_these": {
                    "threshold": round(best, 3),
                    **pick(answer_metrics.squad_scores(references, answers.decide(found, best))),
                },
                "no_answer_auc": round(float(roc_auc_score(unanswerable, scores)), 3),
                "null_probability_auc": round(
                    float(roc_auc_score(unanswerable, [f["no_answer_probability"] for f in found])), 3
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
