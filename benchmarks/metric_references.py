"""The five metrics outside checks found to differ from their references, each measured beside its
reference on the case that failed and on real data (issue "Correct numbers and clean failures", part 4).

    TOOLKIT_DATA=../shared/data .venv/bin/python benchmarks/metric_references.py

- perplexity / bits per character: a character GPT on Tiny Shakespeare with l2=0.05, scored by the task
  and by hand (the cross-entropy of the model's logits over the validation windows); Keras' own
  `evaluate` loss (which adds the L2 penalty) beside them.
- COCO crowd regions: `toolkit.detection_metrics.detection_scores` against pycocotools' COCOeval run directly.
- SQuAD has-answer split: the toolkit's counts against the official v2.0 rule (`bool(answers)`) on the
  real dev subset and on answers that normalise to nothing.
- top-5 accuracy with tied scores: strictly-higher counting against a brute-force count over every
  ordering of the ties.
- the VAE's negative ELBO: the task's number against the mean over images computed by hand.
Prints one JSON object.
"""

import contextlib
import io
import json
import os
import pathlib
import sys
import tempfile

import numpy as np

from toolkit import answer_metrics, detection_metrics

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
DATA = pathlib.Path(os.environ.get("TOOLKIT_DATA", HERE.parents[1] / "shared" / "data"))


def perplexity():
    import keras

    from tasks import TextGenerator

    text = (DATA / "tinyshakespeare" / "input.txt").read_text()[:200_000]
    gen = TextGenerator(backbone="gpt", width=64, depth=2, heads=4, sequence_length=64, l2=0.05, epochs=2,
                        test_split=0, verbose=0, save_dir=tempfile.mkdtemp()).fit([text])  # fmt: skip
    validation = text[int(len(text) * 0.9) :]
    dataset = gen.evaluation_data([validation])
    total, count = 0.0, 0
    for x, y in dataset:
        losses = keras.losses.sparse_categorical_crossentropy(y, gen.model_(x, training=False), from_logits=True)
        total, count = total + float(np.sum(losses)), count + int(np.size(losses))
    scores = gen.score(dataset)
    keras_loss = float(gen.model_.evaluate(dataset, verbose=0, return_dict=True)["loss"])
    return {
        "task_perplexity": round(scores["perplexity"], 4),
        "reference_perplexity_exp_cross_entropy": round(float(np.exp(total / count)), 4),
        "task_bits_per_character": round(scores["bits_per_character"], 4),
        "keras_evaluate_loss_with_l2_penalty_as_perplexity": round(float(np.exp(keras_loss)), 4),
    }


def crowd():
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    truth = [([10, 10, 30, 30], 0), ([100, 100, 90, 90], 1)]  # (xywh, iscrowd)
    found = [([10, 10, 30, 30], 0.9), ([110, 110, 20, 20], 0.95), ([150, 150, 30, 30], 0.8)]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = {
            "images": [{"id": 1}], "categories": [{"id": 0, "name": "person"}],
            "annotations": [{"id": k + 1, "image_id": 1, "category_id": 0, "bbox": b, "area": b[2] * b[3],
                             "iscrowd": c} for k, (b, c) in enumerate(truth)],
        }  # fmt: skip
        coco.createIndex()
        reference = COCOeval(coco, coco.loadRes([{"image_id": 1, "category_id": 0, "bbox": b, "score": s}
                                                 for b, s in found]), "bbox")  # fmt: skip
        reference.evaluate(), reference.accumulate(), reference.summarize()

    def xyxy(b):
        return [b[0], b[1], b[0] + b[2], b[1] + b[3]]

    ours = detection_metrics.detection_scores(
        [(np.array([xyxy(b) for b, _ in truth]), np.zeros(2, int), np.array([c for _, c in truth]))],
        [(np.array([xyxy(b) for b, _ in found]), np.zeros(3, int), np.array([s for _, s in found]))],
        ["person"],
    )
    as_ordinary = detection_metrics.detection_scores(
        [(np.array([xyxy(b) for b, _ in truth]), np.zeros(2, int))],
        [(np.array([xyxy(b) for b, _ in found]), np.zeros(3, int), np.array([s for _, s in found]))],
        ["person"],
    )
    return {"toolkit_map": round(ours["map"], 4), "cocoeval_map": round(float(reference.stats[0]), 4),
            "crowd_read_as_an_ordinary_box_map": round(as_ordinary["map"], 4)}  # fmt: skip


def squad():
    from tasks.question_answering import data as qa_data

    questions, _ = qa_data.load_questions(DATA / "squad" / "dev-v2.0-subset.json")
    references = [list(q.answers) for q in questions]
    scores = answer_metrics.squad_scores(references, [""] * len(questions))
    edge = [["The"], ["."], ["the Normans"]]
    edge_scores = answer_metrics.squad_scores(edge, ["", "", "Normans"])
    return {
        "real_subset_has_answer_count": scores["has_answer_count"],
        "official_rule_has_answer_count": sum(bool(r) for r in references),
        "normalise_to_nothing_has_answer_count": edge_scores["has_answer_count"],
        "official_rule_on_those": sum(bool(r) for r in edge),
    }


def top5():
    from sklearn.metrics import top_k_accuracy_score

    from toolkit import metrics

    rng = np.random.default_rng(0)
    scores = np.round(rng.random((400, 10)), 1)  # one decimal: many ties
    labels = rng.integers(0, 10, 400)
    ours, numpy_order, sklearn = [], [], []
    for _ in range(10):  # the same data with its classes listed in another order
        order = rng.permutation(10)
        shuffled, relabelled = scores[:, order], np.argsort(order)[labels]
        ours.append(metrics.classification_metrics(relabelled, shuffled, list("abcdefghij"))["top_5_accuracy"])
        numpy_order.append(float(np.mean([lab in np.argsort(-row)[:5] for row, lab in zip(shuffled, relabelled)])))
        sklearn.append(float(top_k_accuracy_score(relabelled, shuffled, k=5, labels=range(10))))
    return {
        "toolkit_top_5_over_10_class_orders": sorted({round(v, 4) for v in ours}),
        "numpy_argsort_over_the_same": sorted({round(v, 4) for v in numpy_order}),
        "sklearn_top_k_accuracy_over_the_same": sorted({round(v, 4) for v in sklearn}),
    }


def elbo():
    import tensorflow as tf

    from tasks import ImageGenerator
    from tasks.image_classification.data import digits

    x, y, _ = digits()
    vae = ImageGenerator(kind="vae", epochs=2, test_split=0, batch_size=64, verbose=0,
                         save_dir=tempfile.mkdtemp()).fit((x[:500], y[:500]))  # fmt: skip
    held = x[500:601].astype("float32")  # 101 images: batches of 64 and 37
    dataset = tf.data.Dataset.from_tensor_slices((held, np.zeros(len(held), "int32"))).batch(64)
    model = vae.model_
    start = model.noise.state.numpy().copy()
    task_value = vae.score(dataset)["negative_elbo"]
    model.noise.state.assign(start)  # the same noise, batch by batch
    per_image = np.concatenate([(lambda r, k: (r + k).numpy())(*model.terms(b / 255.0)) for b, _ in dataset])
    batch_means = float(np.mean([per_image[:64].mean(), per_image[64:].mean()]))
    return {"task_negative_elbo": round(task_value, 4), "mean_over_images": round(float(per_image.mean()), 4),
            "mean_of_batch_means": round(batch_means, 4)}  # fmt: skip


if __name__ == "__main__":
    results = {"top_5": top5(), "squad": squad(), "crowd": crowd(), "vae": elbo(), "perplexity": perplexity()}
    print(json.dumps(results, indent=1))
