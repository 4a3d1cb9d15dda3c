"""COCO box metrics (pycocotools' COCOeval) against hand-checked cases."""

import numpy as np
import pytest

from toolkit import detection_metrics

BOX = np.array([[0, 0, 100, 100]], np.float32)


def _score(truth, found, names=("a", "b")):
    return detection_metrics.detection_scores(truth, found, list(names))


def test_a_perfect_detection_scores_one_and_none_found_scores_zero():
    truth = [(BOX, np.array([0])), (np.zeros((0, 4)), np.array([], int))]  # the second image is a negative
    perfect = _score(truth, [(BOX, np.array([0]), np.array([0.9])), (np.zeros((0, 4)), [], [])])
    assert perfect["map"] == pytest.approx(1.0) and perfect["map_50"] == pytest.approx(1.0)
    assert perfect["per_class"]["a"]["ap"] == pytest.approx(1.0) and perfect["per_class"]["b"] is None
    nothing = _score(truth, [(np.zeros((0, 4)), [], [])] * 2)
    assert nothing["map"] == 0.0 and nothing["per_class"]["a"] == {"ap": 0.0, "ap_50": 0.0, "recall": 0.0}


def test_iou_062_counts_at_050_to_060_only():
    # [0, 0, 100, 62] inside [0, 0, 100, 100]: IoU 0.62, a match at thresholds .50, .55, .60 (3 of 10).
    found = [(np.array([[0, 0, 100, 62]]), np.array([0]), np.array([0.8]))]
    scores = _score([(BOX, np.array([0]))], found)
    assert scores["map_50"] == pytest.approx(1.0) and scores["map_75"] == pytest.approx(0.0)
    assert scores["map"] == pytest.approx(0.3)


def test_a_wrong_class_misses_and_a_higher_scored_false_positive_halves_ap():
    wrong = _score([(BOX, np.array([0]))], [(BOX, np.array([1]), np.array([0.9]))])
    assert wrong["map"] == pytest.approx(0.0)
    # A false positive (elsewhere) scored above the true one: precision 1/2 at recall 1 -> AP@.5 = 0.5.
    boxes = np.array([[200, 200, 260, 260], [0, 0, 100, 100]])
    halved = _score([(BOX, np.array([0]))], [(boxes, np.array([0, 0]), np.array([0.9, 0.8]))])
    assert halved["map_50"] == pytest.approx(0.5) and halved["recall"] == pytest.approx(1.0)
    # The same two with the true one first: precision 1 at recall 1 -> AP 1.
    first = _score([(BOX, np.array([0]))], [(boxes, np.array([0, 0]), np.array([0.7, 0.8]))])
    assert first["map_50"] == pytest.approx(1.0)


def test_no_boxes_at_all_is_undefined():
    assert _score([(np.zeros((0, 4)), np.array([], int))], [(BOX, np.array([0]), np.array([0.5]))])["map"] is None
