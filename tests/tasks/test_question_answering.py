"""Extractive question answering: metrics, windows, data forms, bad input, presets, save / load, real data."""

import csv
import json
import pathlib
import shutil
import warnings

import keras
import numpy as np
import pytest

import toolkit
from tasks import QuestionAnswerer
from tasks.question_answering import data as qa_data
from tasks.question_answering import windows as windows_lib
from tests.conftest import real_data
from tests.tasks.battery import TaskBattery
from toolkit import answer_metrics

SMALL = dict(
    backbone="transformer", max_length=64, doc_stride=24, embedding_dim=32, width=64, vocabulary_size=400, batch_size=32
)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A from-scratch answerer fitted briefly on 300 generated questions (shared by several tests)."""
    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("qa")
    return QuestionAnswerer(**SMALL, epochs=2, verbose=0, save_dir=str(folder)).fit(
        (lambda qs: ([q.question for q in qs], [q.context for q in qs], [_answer(q) for q in qs]))(
            qa_data.generated_facts(300)
        )
    )


def _answer(q):
    return {"text": q.answers[0], "answer_start": q.starts[0]} if q.answers else None


def _tokenizer(words):
    import keras_hub

    vocabulary = ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]", ".", ","] + words
    return windows_lib.SpanTokenizer(keras_hub.tokenizers.WordPieceTokenizer(vocabulary, lowercase=True))


def _as_lists(questions):
    return [q.question for q in questions], [q.context for q in questions], [_answer(q) for q in questions]


class TestQuestionAnswererBattery(TaskBattery):
    task_class = QuestionAnswerer

    def task_kwargs(self):
        return dict(SMALL)

    def train_data(self):
        return _as_lists(qa_data.generated_facts(200))

    def predict_inputs(self):
        context = "Ada Costa was born in Lisbon in 1950. Boris Dahl works as a pilot."
        return [{"question": "Where was Ada Costa born?", "context": context}, {"question": "Who?", "context": "x"}]

    def check_prediction(self, task, prediction):
        assert set(prediction) == {"answer", "score", "start", "end"} and 0.0 <= prediction["score"] <= 1.0

    def assert_same_predictions(self, before, after):
        assert [(a["answer"], a["start"], a["end"]) for a in after] == [
            (a["answer"], a["start"], a["end"]) for a in before
        ]
        assert [a["score"] for a in after] == pytest.approx([a["score"] for a in before], rel=1e-5)

    def model_inputs(self, task):
        ids = np.array([[2, 10, 11, 3, 12, 13, 3, 0]], "int32")
        return {"token_ids": ids, "segment_ids": np.array([[0, 0, 0, 0, 1, 1, 1, 0]], "int32"), "padding_mask": ids > 0}

    def test_save_then_load_predicts_the_same(self, fitted, tmp_path):
        # The battery's check, with the model's two outputs (start and end logits) compared one by one.
        loaded = toolkit.load(fitted.run_dir)
        assert type(loaded) is type(fitted) and loaded.get_config() == fitted.get_config()
        self.assert_same_predictions(fitted.predict(self.predict_inputs()), loaded.predict(self.predict_inputs()))
        x = self.model_inputs(fitted)
        before, after = fitted.model_.predict(x, verbose=0), loaded.model_.predict(x, verbose=0)
        for name in ("start", "end"):
            np.testing.assert_allclose(after[name], before[name], rtol=1e-5, atol=1e-6)

    def test_a_run_saved_before_the_preprocessor_loads_through_after_loading(self, fitted, tmp_path):
        """Runs saved before the span tokenizer's state (2026-12-06) kept the WordPiece vocabulary and its
        casing under their own names; loading fills the tokenizer's state in from them (`after_loading`)."""
        old = tmp_path / "old-run"
        shutil.copytree(fitted.run_dir, old)
        config = json.loads((old / "config.json").read_text())
        state = config["fitted"].pop("preprocessor_")["state"]
        tokenizer = state["tokenizer"]
        assert tokenizer["kind"] == "wordpiece"
        config["fitted"].update(
            vocabulary_=tokenizer["vocabulary"], lowercase_=tokenizer["lowercase"],
            strip_accents_=tokenizer["strip_accents"], answers_nothing_=state["answers_nothing"],
        )  # fmt: skip
        (old / "config.json").write_text(json.dumps(config))
        loaded = toolkit.load(old)
        assert loaded.tokenizer_["vocabulary"] == tokenizer["vocabulary"]
        self.assert_same_predictions(fitted.predict(self.predict_inputs()), loaded.predict(self.predict_inputs()))

    def shared_bad_arguments(self):
        # Questions are always grouped by context, so split="grouped" needs no groups= here.
        return [case for case in super().shared_bad_arguments() if "split" not in case[0]]

    def bad_arguments(self):
        return [
            ({"max_length": 2}, "max_length=2 is not valid"),
            ({"bad_answers": "maybe"}, "got bad_answers='maybe'|bad_answers='maybe' is not valid"),
            ({"doc_stride": 0}, "doc_stride=0 is not valid"),
        ]

    def bad_inputs(self):
        return [
            (123, "Got data of type int"),
            ("/no/such/questions.json", "does not exist"),
            ((["Who?"], ["Rollo led."], ["Rollo", "x"]), "Got 1 questions, 1 contexts and 2 answers"),
            ((["Who?", None], ["Rollo led.", "Rollo led."], ["Rollo", None]), "has no question text"),
            ((["Who?"], ["Rollo led."], [{"text": "Rollo", "answer_start": 99}]), "is not at answer_start=99"),
        ]


# ----------------------------------------------------------------------------- metrics
def test_metrics_follow_the_official_squad_definitions():
    # Hand-checked against the official v2.0 script's rules.
    assert answer_metrics.normalize_answer("  The Normans,  a People! ") == "normans people"
    assert answer_metrics.answer_exact("Denmark, Iceland and Norway", "denmark iceland and norway") == 1
    # "in 10th century" vs "10th and 11th centuries": common {10th} -> p = 1/3, r = 1/4 -> F1 = 2/7.
    assert answer_metrics.answer_f1("10th and 11th centuries", "in 10th century") == pytest.approx(2 / 7)
    scores = answer_metrics.squad_scores(
        [["France", "in France"], [], ["Rollo"], [""]],  # an empty reference text counts as no answer
        ["the France", "", "Rollo's men", ""],
    )
    assert scores["exact_match"] == pytest.approx(75.0)
    # Rollo's men -> "rollos men" against "rollo": no common token.
    assert scores["f1"] == pytest.approx(75.0)
    assert (scores["has_answer_count"], scores["no_answer_count"]) == (2, 2)
    assert scores["has_answer_f1"] == pytest.approx(50.0) and scores["no_answer_f1"] == pytest.approx(100.0)
    # The official rule: a non-empty answer list is answerable, even when it normalises to nothing.
    assert answer_metrics.squad_scores([[" "], ["The"]], ["", ""])["has_answer_count"] == 2


def test_no_answer_threshold_is_the_f1_maximiser():
    references = [["a"], ["b"], [], [], ["c"]]
    predictions = ["a", "x", "y", "z", "c"]
    scores = [-2.0, 3.0, 1.0, 2.5, 0.0]
    threshold, f1 = answer_metrics.best_no_answer_threshold(references, predictions, scores)
    decided = ["" if s > threshold else p for p, s in zip(predictions, scores)]
    assert f1 == pytest.approx(answer_metrics.squad_scores(references, decided)["f1"])
    # Brute force over every cut: none does better.
    for cut in sorted(scores) + [-10.0]:
        other = ["" if s > cut else p for p, s in zip(predictions, scores)]
        assert answer_metrics.squad_scores(references, other)["f1"] <= f1 + 1e-9
    assert f1 == pytest.approx(80.0)


# ----------------------------------------------------------------------------- windows
def test_an_answer_across_a_window_boundary_is_found_in_the_window_holding_it():
    words = [f"w{i}" for i in range(40)] + ["who", "came", "norman", "##s"]
    tokens = _tokenizer(words)
    context = " ".join(f"w{i}" for i in range(40)).replace("w9 w10", "Normans came")
    start = context.index("Normans came")
    question = qa_data.Question("q", "who came", context, ("Normans came",), (start,), "g")
    windows = windows_lib.question_windows([question], tokens, max_length=16, doc_stride=6)
    assert len(windows) > 3
    # The answer's tokens straddle the first window's end; a later window holds all of it.
    first_room = len(windows[0].token_starts)
    answer_first = windows_lib.answer_tokens(*tokens([context])[0][1:], start, start + len("Normans came"))
    assert answer_first[0] < first_room <= answer_first[1]
    labelled = [w for w in windows if w.start > 0]
    assert labelled
    for w in labelled:
        i, j = w.start - w.context_offset, w.end - w.context_offset
        assert context[w.token_starts[i] : w.token_ends[j]] == "Normans came"
    # Windows cover every context token.
    covered = set()
    for w in windows:
        covered.update(zip(w.token_starts.tolist(), w.token_ends.tolist()))
    assert len(covered) == len(tokens([context])[0][0])
    # Logits that point at the answer in the window that holds it: read back as its text.
    starts, ends = [], []
    for w in windows:
        s, e = np.zeros(len(w.token_ids)), np.zeros(len(w.token_ids))
        s[0] = e[0] = 1.0
        if w is labelled[0]:
            s[w.start], e[w.end] = 9.0, 9.0
        starts.append(s)
        ends.append(e)
    found = windows_lib.best_answers([question], windows, starts, ends, max_answer_length=5)[0]
    assert (found["text"], context[found["start"] : found["end"]]) == ("Normans came", "Normans came")
    assert found["no_answer_score"] < 0
    # A span longer than max_answer_length is never chosen.
    found = windows_lib.best_answers([question], windows, starts, ends, max_answer_length=2)[0]
    assert found["text"] != "Normans came"


def test_plausible_answers_are_read_kept_and_labelled_as_spans(tmp_path):
    questions, _ = qa_data.load_questions(real_data("squad") / "dev-v2.0-subset.json")
    unanswerable = [q for q in questions if not q.answers]
    # SQuAD 2.0 gives each unanswerable question the span a reader would wrongly take; answerable ones none.
    assert all(q.plausible for q in unanswerable) and not any(q.plausible for q in questions if q.answers)
    text, start = unanswerable[0].plausible
    assert unanswerable[0].context[start : start + len(text)] == text
    path = tmp_path / "kept.json"
    qa_data.write_squad_json(questions[:60], path)
    assert qa_data.load_questions(path)[0] == questions[:60]
    # A plausible answer that is not where it says is left out (it is never a reference answer).
    assert qa_data._plausible("The Normans came.", [{"text": "Normans", "answer_start": 0}]) is None

    tokens = _tokenizer(["who", "came", "norman", "##s", "the"])
    context = "the Normans came"
    real = qa_data.Question("a", "who came", context, ("Normans",), (4,), "g")
    not_real = qa_data.Question("b", "who came", context, (), (), "g", ("Normans", 4))
    windows = windows_lib.question_windows([real, not_real], tokens, max_length=16, doc_stride=8, plausible=True)
    # The unanswerable question's window comes twice: "no answer" ([CLS]), and labelled where its plausible
    # answer is, as a real answer's is.
    assert [(w.example, w.start, w.end) for w in windows] == [(0, 5, 6), (1, 0, 0), (1, 5, 6)]
    assert windows[2].token_ids[5:7].tolist() == tokens(["Normans"])[0][0].tolist()  # [CLS] who came [SEP] the
    assert windows[1].token_ids.tolist() == windows[2].token_ids.tolist()
    # Over several windows, only those holding the plausible answer come again.
    long = not_real._replace(context="a b c d e f the Normans came", plausible=("Normans", 16))
    windows = windows_lib.question_windows([long], tokens, max_length=10, doc_stride=2, plausible=True)
    holding = [w for w in windows if w.start > 0]
    plain = windows_lib.question_windows([long], tokens, max_length=10, doc_stride=2, plausible=False)
    assert holding and len(plain) > len(holding) and len(windows) == len(plain) + len(holding)
    assert all(w.token_ids[w.start : w.end + 1].tolist() == tokens(["Normans"])[0][0].tolist() for w in holding)
    assert [(w.start, w.end) for w in plain] == [(0, 0)] * len(plain)  # plausible=False: [CLS] only, as BERT
    # Prediction's windows are never doubled.
    assert len(windows_lib.question_windows([long], tokens, max_length=10, doc_stride=2, labelled=False)) == len(plain)
    # The task trains as BERT by default.
    assert not QuestionAnswerer().plausible_answers and QuestionAnswerer(plausible_answers=True).plausible_answers


def test_piece_offsets_split_words_and_keep_the_original_text():
    tokens = _tokenizer(["norman", "##s", "zur", "##ich"])
    ids, starts, ends = tokens(["Normans, Zürich."])[0]
    text = "Normans, Zürich."
    assert [text[s:e] for s, e in zip(starts, ends)][:3] == ["Norman", "s", ","]
    # "zürich" is not in the vocabulary (the tokenizer keeps accents): one unknown token over the whole word.
    assert ids[3] == tokens.unknown and text[starts[3] : ends[3]] == "Zürich"


# ----------------------------------------------------------------------------- data
def _write_forms(tmp_path, questions):
    squad = tmp_path / "train.json"
    qa_data.write_squad_json(questions, squad)
    records = [
        {
            "id": q.id,
            "question": q.question,
            "context": q.context,
            "answer_text": q.answers[0] if q.answers else "",
            "answer_start": q.starts[0] if q.answers else "",
        }
        for q in questions
    ]
    jsonl = tmp_path / "train.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records))
    import csv

    table = tmp_path / "train.csv"
    with open(table, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    return squad, jsonl, table


def test_every_data_form_gives_the_same_questions(tmp_path):
    questions = qa_data.generated_facts(30)
    squad, jsonl, table = _write_forms(tmp_path, questions)
    lists = ([q.question for q in questions], [q.context for q in questions], [_answer(q) for q in questions])
    expected = [(q.question, q.context, q.answers, q.starts) for q in questions]
    for form in (squad, jsonl, table, lists):
        loaded, _ = qa_data.load_questions(form)
        assert [(q.question, q.context, q.answers, q.starts) for q in loaded] == expected, form
    # Plain answer strings are found in the context; None is "no answer".
    loaded, _ = qa_data.load_questions((["Who?", "What?"], ["Rollo led.", "Rollo led."], ["Rollo", None]))
    assert [(q.answers, q.starts) for q in loaded] == [(("Rollo",), (0,)), ((), ())]


def test_squad_json_reads_several_references_and_unanswerable_questions():
    questions, _ = qa_data.load_questions(real_data("squad") / "dev-v2.0-subset.json")
    assert len(questions) == 1407
    assert sum(not q.answers for q in questions) == 1407 - 705
    assert max(len(q.answers) for q in questions) > 1
    assert len({q.group for q in questions}) == 5


def test_bad_answers_fail_with_the_question_id_or_are_skipped_and_counted(tmp_path):
    good = qa_data.generated_facts(6)
    bad = [q._replace(starts=(q.starts[0] + 1,)) if q.answers else q for q in good]
    squad = tmp_path / "bad.json"
    qa_data.write_squad_json(bad, squad)
    first_bad = next(q for q in bad if q.answers)
    with pytest.raises(toolkit.ToolkitError, match=rf"(?s)Question '{first_bad.id}'.*bad_answers='skip'"):
        qa_data.load_questions(squad)
    with pytest.warns(UserWarning, match=rf"Skipped {sum(1 for q in bad if q.answers)} question"):
        kept, _ = qa_data.load_questions(squad, bad_answers="skip")
    assert len(kept) == sum(1 for q in bad if not q.answers)


@pytest.mark.parametrize(
    "content, suffix, message",
    [
        ('{"questions": []}', ".json", "not SQuAD-shaped"),
        ("question,passage_text,answer\nWho?,Rollo,Rollo\n", ".csv", r"no column for \['context'\]"),
        ('{"question": "Who?", "context": "  ", "answer_text": ""}\n', ".jsonl", "empty context"),
        ("not json\n", ".jsonl", "Line 1 .* is not valid JSON"),
        ("a,b\n", ".txt", "has the extension '.txt'"),
    ],
)
def test_bad_files_raise_three_part_errors(tmp_path, content, suffix, message):
    path = tmp_path / f"data{suffix}"
    path.write_text(content)
    with pytest.raises(toolkit.ToolkitError, match=f"(?s){message}.*Expected.*Fix"):
        qa_data.load_questions(path)


def test_a_chosen_column_that_does_not_exist_is_named(tmp_path):
    _, _, table = _write_forms(tmp_path, qa_data.generated_facts(3))
    with pytest.raises(toolkit.ToolkitError, match="no column 'passage' \\(for context\\)"):
        qa_data.load_questions(table, columns={"context": "passage"})


def test_a_question_longer_than_max_length_is_an_error(tmp_path):
    long = " ".join(["who"] * 80) + "?"
    data = ([long, "Who led?"] * 6, [f"Rollo led them {i}." for i in range(12)], ["Rollo"] * 12)
    with pytest.raises(toolkit.ToolkitError, match="(?s)leave no room for context.*max_length=32"):
        QuestionAnswerer(**{**SMALL, "max_length": 32}, epochs=1, verbose=0, save_dir=str(tmp_path)).fit(data)


def test_tfds_question_answering_with_mock_data(tmp_path):
    import tensorflow_datasets as tfds

    # TFDS' mock data holds random strings, so the answers are not in the contexts: skipped, and counted.
    with tfds.testing.mock_data(num_examples=8), pytest.warns(UserWarning, match="Skipped 8 question"):
        with pytest.raises(toolkit.ToolkitError, match="holds no questions"):
            qa_data.load_questions("tfds:squad", bad_answers="skip", data_dir=str(tmp_path))


# ----------------------------------------------------------------------------- the task
def test_fit_predict_save_load_and_grouped_split(fitted, tmp_path):
    assert fitted.metrics_["data"]["grouped_by"] == "context"
    assert set(fitted.metrics_["test"]) >= {"exact_match", "f1", "has_answer_f1", "no_answer_f1"}
    assert "always_no_answer_f1" in fitted.metrics_["baseline"]
    context = "Ada Costa was born in Lisbon in 1950. Boris Dahl works as a pilot."
    questions = [
        {"question": "Where was Ada Costa born?", "context": context},
        {"question": "What does Boris Dahl do for a living?", "context": context * 6},  # several windows
    ]
    answers = fitted.predict(questions)
    for answer, q in zip(answers, questions):
        assert set(answer) == {"answer", "score", "start", "end"}
        assert q["context"][answer["start"] : answer["end"]] == answer["answer"]
        assert 0.0 <= answer["score"] <= 1.0
    loaded = toolkit.load(fitted.run_dir)
    again = loaded.predict(questions)
    assert [(a["answer"], a["start"], a["end"]) for a in again] == [
        (a["answer"], a["start"], a["end"]) for a in answers
    ]
    assert [a["score"] for a in again] == pytest.approx([a["score"] for a in answers], rel=1e-5)
    assert loaded.no_answer_threshold_ == fitted.no_answer_threshold_
    with pytest.raises(toolkit.ToolkitError, match="question.*context"):
        fitted.predict(["Where was Ada born?"])


def test_grouped_split_keeps_each_context_on_one_side(tmp_path):
    qa = QuestionAnswerer(**SMALL, verbose=0, save_dir=str(tmp_path))
    qa.check_params()
    qa._groups = None
    splits = qa.prepare_data(qa_data.generated_facts(300), None)
    contexts = [{q.context for q in part.questions} for part in (splits.train, splits.validation, splits.test)]
    assert all(contexts)
    assert not (contexts[0] & contexts[1]) and not (contexts[0] & contexts[2]) and not (contexts[1] & contexts[2])


@pytest.fixture(scope="module")
def tiny_bert_folder(tmp_path_factory):
    """A real KerasHub preset folder: a one-layer BERT and its WordPiece tokenizer, via save_to_preset."""
    import keras_hub

    keras.utils.set_random_seed(0)
    texts = [q.question + " " + q.context for q in qa_data.generated_facts(200)]
    words = sorted({w.lower() for t in texts for w in windows_lib._WORD.findall(t)} - {".", ",", "?"})
    tokenizer = keras_hub.models.BertTokenizer(
        vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "?"] + words
    )
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=64,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("preset") / "tiny_bert"
    backbone.save_to_preset(str(folder))
    tokenizer.save_to_preset(str(folder))
    return str(folder)


def test_local_bert_preset_frozen_keeps_encoder_weights(tiny_bert_folder, tmp_path, capsys):
    import keras_hub

    data = qa_data.generated_facts(120)
    qa = QuestionAnswerer(
        backbone=tiny_bert_folder, finetune="freeze", learning_rate=1e-2, max_length=64, epochs=1, verbose=1,
        save_dir=str(tmp_path),
    ).fit(([q.question for q in data], [q.context for q in data], [_answer(q) for q in data]))  # fmt: skip
    # Few questions for an encoder not yet trained to find answers: said before training starts.
    said = capsys.readouterr().out
    assert "answerable training questions are few" in said
    assert said.index("answerable training questions are few") < said.index("Saved to")
    pretrained = {w.path: w.numpy() for w in keras_hub.models.Backbone.from_preset(tiny_bert_folder).weights}
    encoder = qa.model_.get_layer("backbone")
    assert encoder.weights
    trained = {w.path: w.numpy() for w in encoder.weights}
    assert set(trained) == {k for k in pretrained if not k.startswith("pooled_dense")}
    for path, value in trained.items():
        np.testing.assert_array_equal(value, pretrained[path])
    assert qa.tokenizer_["vocabulary"][:3] == ["[PAD]", "[UNK]", "[CLS]"] and qa.tokenizer_["kind"] == "wordpiece"
    loaded = toolkit.load(qa.run_dir)
    question = {"question": "Where was Ada Costa born?", "context": "Ada Costa was born in Lisbon in 1950."}
    before, after = qa.predict(question), loaded.predict(question)
    assert {k: after[k] for k in ("answer", "start", "end")} == {k: before[k] for k in ("answer", "start", "end")}
    assert after["score"] == pytest.approx(before["score"], rel=1e-5)


def test_a_tokenizer_without_wordpiece_is_refused():
    import keras_hub

    with pytest.raises(toolkit.ToolkitError, match="WordPiece"):
        windows_lib.span_tokenizer(keras_hub.tokenizers.ByteTokenizer())


def test_served_and_command_line_answers_match_predict(fitted, tmp_path, capsys):
    from tests.toolkit.test_serve_and_export import Server
    from toolkit import cli

    context = "Ada Costa was born in Lisbon in 1950. Boris Dahl works as a pilot."
    questions = [{"question": "Where was Ada Costa born?", "context": context}]
    expected = fitted.predict(questions)
    server = Server(fitted.run_dir)
    try:
        status, body = server.json("/predict", {"questions": questions})
        assert status == 200
        assert [p["answer"] for p in body["predictions"]] == [a["answer"] for a in expected]
        status, body = server.json("/predict", {"texts": ["Where?"]})
        assert status == 400 and "questions" in body["error"]
    finally:
        server.stop()
    path = tmp_path / "ask.jsonl"
    path.write_text(json.dumps({"id": "q1", **questions[0]}) + "\n")
    assert cli.main(["predict", fitted.run_dir, str(path)]) == 0
    source, answer = capsys.readouterr().out.strip().split("\t")
    assert source == "q1" and json.loads(answer)["answer"] == expected[0]["answer"]


@pytest.mark.parametrize("format", ["onnx", "litert"])
def test_the_span_model_exports_with_parity(fitted, format, tmp_path):
    # Token ids, segment ids and padding mask in; start and end logits out, as the Keras model gives them.
    report = fitted.export(tmp_path / "qa", format)
    assert report["within_tolerance"] and report["max_abs_diff"] <= 1e-4 and report["examples"] > 0


def test_tuning_searches_rate_epochs_and_answer_length(tmp_path):
    data = _as_lists(qa_data.generated_facts(120))
    qa = QuestionAnswerer(
        **{**SMALL, "vocabulary_size": 300}, tune=True, max_trials=1, epochs=1, verbose=0, save_dir=str(tmp_path)
    ).fit(data)
    chosen = qa.best_hyperparameters_
    assert {"learning_rate", "epochs", "max_answer_length"} <= set(chosen)
    assert chosen["max_answer_length"] in (15, 30, 50) and 20 <= chosen["epochs"] <= 80
    assert qa.max_answer_length == chosen["max_answer_length"]  # the best trial's settings are the run's
    run_dir = pathlib.Path(qa.run_dir)
    assert (run_dir / "tuner").is_dir() and (run_dir / "model.keras").is_file()
    with open(run_dir / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and rows[0]["status"] == "COMPLETED" and "val_f1" in rows[0]  # QA's own monitor


def test_minilm_on_real_squad_beats_no_answer_and_first_sentence(minilm, tmp_path):
    """The pretrained path on real data: MiniLM fine-tuned briefly on the answerable questions of four SQuAD
    articles answers the fifth's (Victoria) well past both trivial answerers, which the same bar fails."""
    import re

    questions, _ = qa_data.load_questions(real_data("squad") / "dev-v2.0-subset.json")
    train = [q for q in questions if q.group != "Victoria_(Australia)" and q.answers]
    test = [q for q in questions if q.group == "Victoria_(Australia)" and q.answers]
    references = [list(q.answers) for q in test]

    def passes(predictions):  # the bar: has-answer F1 at least 20 on the held-out article's questions
        return answer_metrics.squad_scores(references, predictions)["has_answer_f1"] >= 20.0

    first_sentences = [re.split(r"(?<=[.!?])\s", q.context, maxsplit=1)[0] for q in test]
    assert not passes([""] * len(test)) and not passes(first_sentences)  # 0 and 7.8
    qa = QuestionAnswerer(
        backbone=minilm, epochs=3, learning_rate=2e-4, test_split=0, verbose=0, save_dir=str(tmp_path)
    ).fit(train)  # about 2 minutes on two free cores; measured 38.9 (benchmarks/RESULTS.md)
    answers = qa.predict([{"question": q.question, "context": q.context} for q in test])
    assert passes([a["answer"] for a in answers])
    assert qa.evaluate(test)["has_answer_f1"] == pytest.approx(
        answer_metrics.squad_scores(references, [a["answer"] for a in answers])["has_answer_f1"]
    )


def _tiny_roberta(folder, texts):
    """A one-layer RoBERTa preset folder whose byte-level BPE is trained on `texts` (Hugging Face tokenizers)."""
    import keras_hub
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=500, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    merges = json.loads(bpe.to_str())["model"]["merges"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in merges]
    tokenizer = keras_hub.models.RobertaTokenizer(vocabulary=bpe.get_vocab(), merges=merges)
    backbone = keras_hub.models.RobertaBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32,
        max_sequence_length=64,
    )  # fmt: skip
    return backbone, tokenizer


def _tiny_albert(folder, texts):
    """A one-layer ALBERT preset folder whose SentencePiece model is trained on `texts`."""
    import io

    import keras_hub
    import sentencepiece

    proto = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=proto, vocab_size=150, model_type="unigram",
        pad_id=0, unk_id=1, bos_id=2, eos_id=3, pad_piece="<pad>", unk_piece="<unk>", bos_piece="[CLS]",
        eos_piece="[SEP]", user_defined_symbols="[MASK]", minloglevel=2,
    )  # fmt: skip
    tokenizer = keras_hub.models.AlbertTokenizer(proto=proto.getvalue())
    backbone = keras_hub.models.AlbertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, num_heads=2, embedding_dim=8, hidden_dim=16,
        intermediate_dim=32, num_groups=1, num_inner_repetitions=1, max_sequence_length=64,
    )  # fmt: skip
    return backbone, tokenizer


@pytest.mark.parametrize("family", ["roberta", "albert"])
def test_bpe_and_sentencepiece_presets_map_answers_exactly_and_round_trip(family, tmp_path):
    keras.utils.set_random_seed(0)
    data = qa_data.generated_facts(120)
    texts = list(dict.fromkeys(q.context for q in data)) + [q.question for q in data]
    folder = tmp_path / family
    backbone, tokenizer = {"roberta": _tiny_roberta, "albert": _tiny_albert}[family](folder, texts)
    backbone.save_to_preset(str(folder))
    tokenizer.save_to_preset(str(folder))
    spans, state = windows_lib.span_tokenizer(tokenizer)
    assert state["kind"] == {"roberta": "bpe", "albert": "sentencepiece"}[family]
    # Every answer maps to tokens and back to its text (offsets, not guesses): exactly with BPE, which splits
    # punctuation off words; SentencePiece may keep a piece like "2000." whole, which SQuAD's scoring equates.
    for q in data:
        if q.answers:
            ids, starts, ends = spans([q.context])[0]
            assert ids.tolist() == np.asarray(tokenizer([q.context])[0]).tolist()  # the preset's own ids
            first, last = windows_lib.answer_tokens(starts, ends, q.starts[0], q.starts[0] + len(q.answers[0]))
            mapped = q.context[starts[first] : ends[last]]
            if family == "roberta":
                assert mapped == q.answers[0]
            else:
                assert q.answers[0] in mapped and answer_metrics.answer_exact(q.answers[0], mapped)
    qa = QuestionAnswerer(
        backbone=str(folder), max_length=64, doc_stride=24, epochs=1, learning_rate=1e-3, verbose=0,
        save_dir=str(tmp_path / "runs"),
    ).fit(data)  # fmt: skip
    context = "Ada Costa was born in Lisbon in 1950. Boris Dahl works as a pilot."
    questions = [{"question": "Where was Ada Costa born?", "context": context}] * 2
    answers = qa.predict(questions)
    assert all(context[a["start"] : a["end"]] == a["answer"] for a in answers)
    loaded = toolkit.load(qa.run_dir)
    assert loaded.tokenizer_ == qa.tokenizer_
    again = loaded.predict(questions)
    assert [(a["answer"], a["start"]) for a in again] == [(a["answer"], a["start"]) for a in answers]


def _squad_with(qa):
    context = "Rollo led the Normans."
    return json.dumps({"data": [{"title": "t", "paragraphs": [{"context": context, "qas": [qa]}]}]})


@pytest.mark.parametrize(
    "qa, message",
    [
        ({"id": "q1", "question": "Who?", "answers": [{"text": "Rollo", "answer_start": "0"}]},
         r"answer_start='0', a str"),
        ({"id": "q1", "question": "Who?"}, "has no answers and is not marked is_impossible"),
        ({"id": "q1", "question": "Who?", "answers": [], "is_impossible": False}, "marked is_impossible: false"),
        ({"id": "q1", "question": "Who?", "answers": [{"answer_start": 0}]}, "an answer has the text None"),
        ({"id": "q1", "question": "Who?", "is_impossible": True, "answers": [{"text": "Rollo", "answer_start": 0}]},
         "marked is_impossible: true and lists 1 answer"),
    ],
)  # fmt: skip
def test_malformed_squad_answers_fail_or_are_skipped_and_counted(tmp_path, qa, message):
    path = tmp_path / "squad.json"
    path.write_text(_squad_with(qa))
    with pytest.raises(
        toolkit.ToolkitError, match=f"(?s)Question 'q1': .*{message}.*Expected.*Fix.*bad_answers='skip'"
    ):
        qa_data.load_questions(path)
    other = {"id": "q2", "question": "Who led?", "answers": [{"text": "Rollo", "answer_start": 0}]}
    document = json.loads(_squad_with(qa))
    document["data"][0]["paragraphs"][0]["qas"].append(other)
    path.write_text(json.dumps(document))
    with pytest.warns(UserWarning, match="Skipped 1 question"):
        kept, _ = qa_data.load_questions(path, bad_answers="skip")
    assert [q.id for q in kept] == ["q2"]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_question_files_that_are_not_utf8_are_named(tmp_path, suffix):
    path = tmp_path / f"questions{suffix}"
    rows = (
        "question,context,answer_text,answer_start\nQui?,Rollo mena les Normands \u00e9,Rollo,0\n"
        if suffix == ".csv"
        else '{"question": "Qui?", "context": "Rollo mena \u00e9", "answer_text": "Rollo", "answer_start": 0}\n'
    )
    path.write_bytes(rows.encode("latin-1"))
    with pytest.raises(toolkit.ToolkitError, match="(?s)is not UTF-8 text.*Expected.*Fix.*iconv"):
        qa_data.load_questions(path)


def test_the_default_backbone_is_pretrained_for_user_data_and_from_scratch_for_the_built_in_set(tmp_path):
    """backbone="auto": MiniLM for the user's questions (offline here: a clear error in a second or two,
    before any training and with no run folder), the from-scratch transformer for the built-in set."""
    from tasks.question_answering import task as qa_task

    qa = QuestionAnswerer(verbose=0)
    qa._choose_backbone("facts")
    assert qa._chosen_backbone() == "transformer" and qa.backbone == "auto"  # the argument is kept as given
    qa._choose_backbone(_as_lists(qa_data.generated_facts(20)))
    assert qa._chosen_backbone() == qa_task.PRETRAINED_DEFAULT and qa._pretrained_backbone()
    assert qa._default_learning_rate() == 1.5e-4
    data = _as_lists(qa_data.generated_facts(40))
    with pytest.raises(toolkit.ToolkitError, match="(?s)Could not download KerasHub preset 'hf://sentence-transformers"
                       ".*huggingface.co cannot be reached.*pass backbone=<that folder>"):  # fmt: skip
        QuestionAnswerer(verbose=0, save_dir=str(tmp_path)).fit(data)
    assert not (tmp_path / "question_answering").exists()


def test_a_from_scratch_encoder_on_the_user_s_data_is_said_to_be_a_poor_choice_before_training(tmp_path):
    data = _as_lists(qa_data.generated_facts(60))
    seen_at_start = []

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        class Watch(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                seen_at_start.extend(str(w.message) for w in caught)

        QuestionAnswerer(**SMALL, epochs=1, verbose=0, save_dir=str(tmp_path), callbacks=[Watch()]).fit(data)
    said = [m for m in seen_at_start if "trains an encoder from scratch. On real questions" in m]
    assert said and "backbone='auto' downloads" in said[0]  # said before the first training step
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the built-in set by name: no such warning
        QuestionAnswerer(verbose=0)._choose_backbone("facts")
