"""Sequence to sequence: the shared battery, files of pairs, decoders, and date normalisation on held-out dates."""

import json

import numpy as np
import pytest

import toolkit
from tasks import TextToText
from tasks.text_to_text import data as pairs_lib
from tests.tasks.battery import TaskBattery

TINY = {"width": 16, "batch_size": 32}


class TestTextToTextBattery(TaskBattery):
    task_class = TextToText

    def task_kwargs(self):
        return dict(TINY)

    def train_data(self):
        return pairs_lib.number_word_pairs(200, seed=1)

    def predict_inputs(self):
        return ["four hundred and two", "seven", "ninety-nine"]

    def model_inputs(self, task):
        return {"source": np.array([[5, 6, 7], [8, 9, 0]], "int32"), "target": np.array([[2, 5], [2, 6]], "int32")}

    def check_prediction(self, task, prediction):
        assert isinstance(prediction, str)

    def bad_arguments(self):
        return [
            ({"decoder": "sample"}, "decoder='sample' is not valid"),
            ({"beam_width": 0}, "beam_width=0 is not valid"),
            ({"backbone": "gpt"}, "Unknown backbone 'gpt'"),
        ]

    def bad_inputs(self):
        return [
            ([], "non-empty list"),
            ([("one", 1)], "item 0 is \\('one', 1\\)"),
            ("/no/such/pairs.csv", "does not exist"),
            ([("one", "")] * 5, "No pair in the pairs has both"),
            ([("one", "1")], "leaves nothing to train on"),
        ]

    def test_scores_and_the_copy_baseline(self, fitted):
        metrics = json.loads((__import__("pathlib").Path(fitted.run_dir) / "metrics.json").read_text())
        assert {"loss", "exact_match", "cer"} <= set(metrics["validation"]) and metrics["test"]["cer"] >= 0
        baseline = metrics["baseline"]
        assert baseline["copy_source_test_exact_match"] == 0.0 and baseline["copy_source_test_cer"] > 0.5
        assert metrics["test"]["cer"] < baseline["copy_source_test_cer"]  # two epochs already beat copying

    def test_greedy_and_beam_decoders(self, fitted):
        greedy = fitted.generate(["seven", "nine"])
        assert greedy == fitted.generate(["seven", "nine"], decoder="greedy")  # deterministic
        beam = fitted.generate(["seven", "nine"], decoder="beam", beam_width=3)
        assert len(beam) == 2 and all(isinstance(b, str) for b in beam)
        with pytest.warns(UserWarning, match="never seen in training"):
            fitted.generate("§even")
        with pytest.raises(toolkit.ToolkitError, match="decoder='x' is not valid"):
            fitted.generate("seven", decoder="x")


def test_pairs_from_files(tmp_path):
    (tmp_path / "p.csv").write_text('input,output\n"March 3, 1999",1999-03-03\none,1\n')
    (tmp_path / "p.tsv").write_text("March 3, 1999\t1999-03-03\none\t1\n")
    (tmp_path / "p.jsonl").write_text('{"source": "one", "target": "1"}\n{"source": "two", "target": "2"}\n')
    assert pairs_lib.load_pairs(tmp_path / "p.csv")[0] == [("March 3, 1999", "1999-03-03"), ("one", "1")]
    assert pairs_lib.load_pairs(tmp_path / "p.tsv")[0] == [("March 3, 1999", "1999-03-03"), ("one", "1")]
    assert pairs_lib.load_pairs(tmp_path / "p.jsonl")[0] == [("one", "1"), ("two", "2")]
    assert pairs_lib.load_pairs(tmp_path / "p.csv", ("output", "input"))[0][1] == ("1", "one")
    with pytest.raises(toolkit.ToolkitError, match=r"Column\(s\) \['x'\] not found"):
        pairs_lib.load_pairs(tmp_path / "p.csv", ("x", "output"))
    (tmp_path / "k.jsonl").write_text('{"a": "one", "b": "1"}\n')
    with pytest.raises(toolkit.ToolkitError, match="Cannot tell which keys"):
        pairs_lib.load_pairs(tmp_path / "k.jsonl")


def test_generated_sets():
    dates = pairs_lib.date_pairs(400, seed=3)
    assert len({s for s, _ in dates}) == 400 and all(len(t) == 10 and t[4] == t[7] == "-" for _, t in dates)
    assert len({pairs_lib.DATE_FORMS.index(f) for f in pairs_lib.DATE_FORMS}) >= 8
    assert pairs_lib.number_words(0) == "zero" and pairs_lib.number_words(1001) == "one thousand and one"
    assert pairs_lib.number_words(999_999).startswith("nine hundred and ninety-nine thousand nine hundred")


def test_dates_are_normalised_on_held_out_dates(tmp_path):
    """The issue's bar: exact match >= 0.95 on dates that neither training nor early stopping saw (the
    seeded 20% test part of the generated set: 1,200 dates in ten surface forms)."""
    t2t = TextToText(epochs=6, verbose=0, save_dir=str(tmp_path)).fit("dates")
    test = t2t.metrics_["test"]
    assert test["exact_match"] >= 0.95 and test["cer"] <= 0.02, test
    assert t2t.metrics_["data"]["test_examples"] == 1200
    assert t2t.predict(["3rd of March 1999", "December 25, 2010"]) == ["1999-03-03", "2010-12-25"]
    assert t2t.generate(["3rd of March 1999", "December 25, 2010"], decoder="beam") == ["1999-03-03", "2010-12-25"]
    assert t2t.metrics_["baseline"]["copy_source_test_exact_match"] == 0.0


def test_the_transformer_learns_number_words_and_round_trips(tmp_path):
    pairs = pairs_lib.number_word_pairs(2000, seed=2)
    t2t = TextToText(backbone="transformer_seq2seq", width=64, epochs=4, verbose=0, save_dir=str(tmp_path)).fit(pairs)
    test, baseline = t2t.metrics_["test"], t2t.metrics_["baseline"]
    assert test["cer"] < 0.5 * baseline["copy_source_test_cer"], (test, baseline)
    sources = [s for s, _ in pairs[:5]]
    loaded = toolkit.load(t2t.run_dir)
    assert loaded.predict(sources) == t2t.predict(sources)
    assert loaded.generate(sources, decoder="beam") == t2t.generate(sources, decoder="beam")


def test_a_small_set_gets_a_budget_in_steps_and_the_built_in_sets_keep_30_epochs(capsys):
    """300 date pairs (210 to train, 4 steps of 64 an epoch) used all of a fixed 30 epochs: 120 steps. The
    default now gives a small set 1,000 steps; the built-in sets (4,200 training pairs) keep 30 epochs."""
    t2t = TextToText(verbose=1)
    assert t2t.epochs is None
    t2t._choose_epochs(210)
    assert t2t.epochs_ == 200 and "raised from 30" in capsys.readouterr().out
    t2t._choose_epochs(4200)
    assert t2t.epochs_ == 30 and (t2t._patience(), t2t._warmup_epochs()) == (6, 6)
