"""Text generation: the shared battery, the contiguous split, streaming, tokenisers, samplers, seeding, bad input."""

import json
import pathlib

import numpy as np
import pytest

import toolkit
from tasks import TextGenerator
from tasks.text_generation import data as corpus_lib
from tasks.text_generation import tokenizing
from tests.conftest import real_data
from tests.tasks.battery import TaskBattery

TINY = {"backbone": "gpt", "width": 16, "depth": 1, "heads": 2, "sequence_length": 32, "max_length": 12}


def shakespeare(characters=12_000):
    return (real_data("tinyshakespeare") / "input.txt").read_text()[:characters]


class TestTextGeneratorBattery(TaskBattery):
    task_class = TextGenerator

    def task_kwargs(self):
        return dict(TINY)

    def train_data(self):
        return [shakespeare()]

    def predict_inputs(self):
        return ["ROMEO:", "First Citizen:\nWe", ""]

    def model_inputs(self, task):
        return np.array([[1, 2, 3, 4], [5, 6, 7, 8]], "int32")

    def check_prediction(self, task, prediction):
        assert isinstance(prediction, str) and len(prediction) > 0

    def shared_bad_arguments(self):
        shared = [case for case in super().shared_bad_arguments() if "split" not in case[0]]
        return shared + [({"split": "grouped"}, "a corpus is split by position")]

    def bad_arguments(self):
        return [
            ({"tokenizer": "bytes"}, "got tokenizer='bytes'"),
            ({"sampler": "nucleus"}, "sampler='nucleus' is not valid"),
            ({"sequence_length": 1}, "sequence_length=1 is not valid"),
        ]

    def bad_inputs(self):
        folder = pathlib.Path(self._folder())
        empty = folder / "empty.txt"
        empty.write_text("")
        binary = folder / "binary.txt"
        binary.write_bytes(bytes(range(256)) * 4)
        return [
            (str(empty), "is empty"),
            (str(binary), "is not UTF-8 text"),
            ("/no/such/corpus.txt", "does not exist"),
            ([], "at least one string"),
            (["too short"], "fewer than one sequence"),
            (str(folder / "no-txt"), "does not exist"),
        ]

    def _folder(self):
        import tempfile

        return tempfile.mkdtemp()

    def test_metrics_compare_with_a_unigram_model(self, fitted):
        metrics = json.loads((pathlib.Path(fitted.run_dir) / "metrics.json").read_text())
        validation = metrics["validation"]
        assert validation["perplexity"] == pytest.approx(np.exp(validation["loss"]), rel=1e-6)
        # Characters: one token a character, so bits per character is the loss in bits.
        assert validation["bits_per_character"] == pytest.approx(validation["loss"] / np.log(2), rel=1e-3)
        baseline = metrics["baseline"]
        judged = metrics[baseline["part"]]  # the test part when the run has one
        assert baseline["part"] == ("test" if metrics["test"] else "validation")
        assert baseline["unigram_loss"] > 2.5 and baseline["better_than_unigram"] == (
            judged["loss"] < baseline["unigram_loss"] - 0.01
        )
        assert metrics["data"]["split"].startswith("by position: the first 90% trains")

    def test_samples_are_kept_with_the_run_and_seeded(self, fitted):
        config = json.loads((pathlib.Path(fitted.run_dir) / "config.json").read_text())
        samples = config["fitted"]["samples_"]
        assert len(samples) == 3 and all(s["text"].startswith(s["prompt"]) for s in samples)
        assert "Samples (top_k, seed 0)" in (pathlib.Path(fitted.run_dir) / "report.html").read_text()
        loaded = toolkit.load(fitted.run_dir)
        assert loaded.generate(samples[0]["prompt"], max_length=fitted.max_length) == samples[0]["text"]

    def test_each_sampler_and_the_same_seed_gives_the_same_text(self, fitted):
        for sampler in ("greedy", "random", "top_k", "top_p", "beam"):
            first = fitted.generate(["ROMEO:", "First"], max_length=10, sampler=sampler, seed=4)
            assert first == fitted.generate(["ROMEO:", "First"], max_length=10, sampler=sampler, seed=4), sampler
            assert first[0].startswith("ROMEO:") and len(first[0]) == len("ROMEO:") + 10, (sampler, first)
        draws = {fitted.generate("First", max_length=30, sampler="random", seed=s) for s in range(4)}
        assert len(draws) > 1  # the seed matters

    def test_greedy_follows_the_most_likely_token(self, fitted):
        prompt = "First Citizen:"
        ids = tokenizing.encode([prompt], fitted.vocabulary_, "character")[0]
        for _ in range(5):
            logits = fitted.model_.predict(np.array([ids[-fitted.sequence_length :]], "int32"), verbose=0)
            ids.append(int(np.argmax(logits[0, -1])))
        expected = prompt + tokenizing.decode(ids[len(prompt) :], fitted.vocabulary_, "character")
        assert fitted.generate(prompt, max_length=5, sampler="greedy") == expected

    def test_prompts_the_model_cannot_read(self, fitted):
        with pytest.raises(toolkit.ToolkitError, match="vocabulary lacks: \\['§'\\]"):
            fitted.generate("ROMEO § said")
        with pytest.warns(UserWarning, match="longer than the model's context of 32 tokens"):
            long = fitted.generate("Citizen " * 10, max_length=3, sampler="greedy")
        assert len(long) == len("Citizen " * 10) + 3

    def test_a_served_run_takes_generation_options_per_request(self, fitted):
        """Over HTTP on 127.0.0.1: a request's own max_length, sampler and seed give what `generate` gives
        with them; another request without options gets the run's defaults; a wrong type is a 400."""
        from tests.toolkit.test_serve_and_export import Server

        server = Server(fitted.run_dir)
        try:
            prompts = ["ROMEO:", "First"]
            body = {"texts": prompts, "max_length": 6, "sampler": "top_k", "seed": 3}
            status, answer = server.json("/predict", body)
            assert status == 200
            assert answer["predictions"] == fitted.generate(prompts, max_length=6, sampler="top_k", seed=3)
            assert server.json("/predict", {"texts": prompts})[1]["predictions"] == fitted.predict(prompts)
            status, answer = server.json("/predict", {"texts": prompts, "max_length": "long"})
            assert status == 400 and '"max_length" is "long"' in answer["error"], answer
            status, answer = server.json("/predict", {"texts": prompts, "sampler": "best"})
            assert status == 400 and "sampler='best' is not valid" in answer["error"], answer
            status, answer = server.json("/predict", {"texts": prompts, "max_length": 0})
            assert status == 400 and "max_length=0 is not valid" in answer["error"], answer
            assert server.call("/metadata")[1]["options"] == {
                "max_length": "int", "sampler": "str", "temperature": "float", "seed": "int"
            }  # fmt: skip
        finally:
            server.stop()

    def test_the_savedmodel_generates_from_strings_like_generate(self, fitted, tmp_path):
        import tensorflow as tf

        report = fitted.export(tmp_path / "lm", "savedmodel")  # the export checks generate against greedy
        assert report["within_tolerance"] and report["generate"]["matches_greedy"]
        served = tf.saved_model.load(str(tmp_path / "lm"))
        prompts = ["ROMEO:", "First Citizen:\nWe", ""]
        texts = [t.decode() for t in served.generate(tf.constant(prompts)).numpy()]
        assert texts == fitted.generate(prompts, max_length=fitted.max_length, sampler="greedy")

    def test_the_language_model_exports_to_onnx_with_parity(self, fitted, tmp_path):
        report = fitted.export(tmp_path / "lm", "onnx")  # token ids in, next-token logits out
        assert report["within_tolerance"] and report["max_abs_diff"] <= 1e-4


def test_the_split_is_contiguous_and_never_cuts_a_line(tmp_path):
    lines = [f"line {i:03d} " + "x" * (i % 7) for i in range(200)]
    (tmp_path / "a.txt").write_text("\n".join(lines[:120]) + "\n")
    (tmp_path / "b.txt").write_text("\n".join(lines[120:]) + "\n")
    pieces, about = corpus_lib.load_corpus(tmp_path)
    assert about.startswith("2 files")
    train, validation, test = corpus_lib.split_by_position(pieces, 0.1, 0.1)
    parts = ["".join(corpus_lib.chunks(p)).splitlines() for p in (train, validation, test)]
    assert parts[0] + parts[1] + parts[2] == lines  # in order, every line once, none cut
    assert 0.75 < len(parts[0]) / len(lines) < 0.85 and parts[1] and parts[2]
    assert not set(parts[0]) & set(parts[1])  # no validation text in training


def test_chunks_decode_utf8_across_chunk_edges(tmp_path, monkeypatch):
    text = "naïve café — ünïcödé, 日本語 " * 50
    (tmp_path / "u.txt").write_text(text, encoding="utf-8")
    monkeypatch.setattr(corpus_lib, "CHUNK_BYTES", 7)  # cuts multi-byte characters
    pieces, _ = corpus_lib.load_corpus(tmp_path / "u.txt")
    assert "".join(corpus_lib.chunks(pieces)) == text


def test_tokenisers_round_trip():
    text = "ROMEO: O, she doth teach\nthe torches (to burn) bright! Ünïcödé 日本.\n"
    vocabulary, _, tokens, characters = tokenizing.learn_vocabulary([text], "character")
    ids = tokenizing.encode([text], vocabulary, "character")[0]
    assert tokenizing.decode(ids, vocabulary, "character") == text and tokens == characters == len(text)
    vocabulary, _, tokens, _ = tokenizing.learn_vocabulary([text], "word")
    ids = tokenizing.encode([text], vocabulary, "word")[0]
    assert tokens == len(ids) and 0 not in ids
    assert tokenizing.decode(ids, vocabulary, "word") == text.rstrip("\n") + "\n"
    assert tokenizing.encode(["unseen words"], vocabulary, "word")[0] == [0, 0]


def test_a_learnable_corpus_is_learned_by_gpt_and_lstm(tmp_path):
    """A corpus with a rule (each letter is followed by the next, cyclically; lines start anywhere): both
    models get far below the unigram model and continue a prompt by the rule."""
    rng = np.random.default_rng(0)
    letters = "abcdefghij"
    lines = ["".join(letters[(start + k) % 10] for k in range(6)) for start in rng.integers(0, 10, 1500)]
    corpus = tmp_path / "counting.txt"
    corpus.write_text("\n".join(lines) + "\n")
    for backbone in ("gpt", "lstm_lm"):
        gen = TextGenerator(
            **{**TINY, "backbone": backbone, "width": 32}, epochs=4, batch_size=8, verbose=0, save_dir=str(tmp_path)
        ).fit(str(corpus))
        baseline = gen.metrics_["baseline"]
        assert baseline["value"] < 0.6 * baseline["unigram_loss"], (backbone, baseline)
        assert gen.generate("hi", max_length=3, sampler="greedy") == "hijab", backbone


def test_train_and_predict_from_the_command_line(tmp_path, capsys):
    from toolkit import cli

    corpus = tmp_path / "play.txt"
    corpus.write_text(shakespeare(6000))
    options = ["--width", "16", "--depth", "1", "--sequence-length", "32", "--epochs", "1", "--max-length", "20"]
    assert cli.main(["train", "text-generation", "--data", str(corpus), "--save-dir", str(tmp_path), *options]) == 0
    run_dir = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_dir"]
    assert cli.main(["predict", run_dir, "ROMEO:", "First"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["ROMEO:", "First"]
    assert all(json.loads(line.split("\t")[1]).startswith(line.split("\t")[0]) for line in lines)


def test_tables_are_read_by_their_text_column_and_split_by_record(tmp_path):
    documents = [f'doc {i}: "quoted, with a comma"\nand a second line' if i % 3 == 0 else f"doc {i}" for i in range(60)]
    (tmp_path / "c.csv").write_text(
        "id,body,score\n"
        + "".join(f'{i},"{d.replace(chr(34), chr(34) * 2)}",{i % 5}\n' for i, d in enumerate(documents))
    )
    (tmp_path / "c.jsonl").write_text("".join(json.dumps({"id": i, "text": d}) + "\n" for i, d in enumerate(documents)))
    (tmp_path / "c.tsv").write_text("".join(f"{i}\t{d.splitlines()[0]}\n" for i, d in enumerate(documents)))
    for name, column in (("c.csv", None), ("c.jsonl", None), ("c.tsv", 1)):
        pieces, about = corpus_lib.load_corpus(tmp_path / name, column)
        expected = documents if name != "c.tsv" else [d.splitlines()[0] for d in documents]
        assert "".join(corpus_lib.chunks(pieces)) == "".join(d + "\n" for d in expected), name
        train, validation, _ = corpus_lib.split_by_position(pieces, 0.2)
        train_text, validation_text = ("".join(corpus_lib.chunks(p)) for p in (train, validation))
        # Whole records on each side (a quoted record's line break never cut), in order, none on both.
        assert train_text + validation_text == "".join(d + "\n" for d in expected), name
        assert validation_text.startswith("doc ") and 0.7 < len(train_text) / (len(train_text) + len(validation_text))
    assert "'body' column" in corpus_lib.load_corpus(tmp_path / "c.csv")[1]
    with pytest.raises(toolkit.ToolkitError, match=r"(?s)The column 'txt' is not in .*\['id', 'body', 'score'\]"):
        corpus_lib.load_corpus(tmp_path / "c.csv", "txt")
    (tmp_path / "two.csv").write_text("title,summary\na,b\n")
    with pytest.raises(toolkit.ToolkitError, match="Cannot tell which column .* holds the text"):
        corpus_lib.load_corpus(tmp_path / "two.csv")
    (tmp_path / "bad.jsonl").write_text('{"text": "fine"}\n{"text": 3}\n')
    with pytest.raises(toolkit.ToolkitError, match="has no text under 'text'"):
        "".join(corpus_lib.chunks(corpus_lib.load_corpus(tmp_path / "bad.jsonl")[0]))


def test_a_tfds_corpus_with_mock_data(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=30):
        pieces, about = corpus_lib.load_corpus("tfds:imdb_reviews", data_dir=str(tmp_path))
        assert "'text' feature of tfds:imdb_reviews (30 examples)" in about
        train, validation, _ = corpus_lib.split_by_position(pieces, 0.1)
        assert [(p.start, p.end) for p in train + validation] == [(0, 27), (27, 30)]
        whole, first = ("".join(corpus_lib.chunks(p)) for p in (pieces, train))
        assert whole.startswith(first) and whole.count("\n") >= 30 and len(first) < len(whole)
        gen = TextGenerator(**{**TINY, "sequence_length": 8}, epochs=1, verbose=0, data_dir=str(tmp_path))
        gen.set_params(save_dir=str(tmp_path / "runs")).fit("tfds:imdb_reviews")
        assert gen.metrics_["data"]["train_source"].startswith("the 'text' feature")


def test_wordpiece_vocabulary_round_trips_and_trains(tmp_path):
    text = shakespeare(20_000)
    vocabulary, _, tokens, characters = tokenizing.learn_vocabulary([text], "wordpiece", 1000)
    assert len(vocabulary) <= 999 and tokenizing.NEWLINE in vocabulary and any(t.startswith("##") for t in vocabulary)
    sample = "First Citizen:\nBefore we proceed any further, hear me speak.\n"
    ids = tokenizing.encode([sample], vocabulary, "wordpiece")[0]
    assert 0 not in ids and len(ids) < 0.6 * len(sample)  # pieces longer than characters
    assert tokenizing.decode(ids, vocabulary, "wordpiece") == sample
    assert characters == len(text) and tokens < 0.6 * characters
    gen = TextGenerator(**TINY, tokenizer="wordpiece", vocabulary_size=400, epochs=1, verbose=0)
    gen.set_params(save_dir=str(tmp_path)).fit([text])
    metrics = gen.metrics_["validation"]
    # Bits per character divides the loss by characters, not pieces: comparable with a character model.
    assert metrics["bits_per_character"] < metrics["loss"] / np.log(2)
    assert gen.generate("First Citizen:", max_length=5, sampler="greedy").startswith("First Citizen:")
    with pytest.raises(toolkit.ToolkitError, match=r"word\(s\) with characters the model's vocabulary lacks: \['§'\]"):
        gen.generate("ROMEO §x")


def tiny_gpt2_preset(folder, text, merges=60, seed=0):
    """A tiny GPT-2 written with `save_to_preset`: GPT-2's byte-level alphabet and `merges` BPE merges
    learned from `text` (the most frequent pair each time), one block of width 32, random weights."""
    import collections
    import re

    import keras
    import keras_hub
    from keras_hub.src.tokenizers.byte_pair_tokenizer import bytes_to_unicode

    keras.utils.set_random_seed(seed)
    byte_values, characters = bytes_to_unicode()
    to_char = {b[0]: c for b, c in zip(byte_values, characters)}
    vocabulary = {"<|endoftext|>": 0, **{c: i + 1 for i, c in enumerate(characters)}}
    words = collections.Counter(
        tuple(to_char[b] for b in w.encode()) for w in re.findall(r" ?\w+| ?[^\s\w]+|\s+", text)
    )
    merged = []
    for _ in range(merges):
        pairs = collections.Counter()
        for word, n in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += n
        (a, b), _ = pairs.most_common(1)[0]
        merged.append(f"{a} {b}")
        vocabulary.setdefault(a + b, len(vocabulary))
        rewritten = collections.Counter()
        for word, n in words.items():
            out, i = [], 0
            while i < len(word):
                if word[i : i + 2] == (a, b):
                    out.append(a + b)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            rewritten[tuple(out)] += n
        words = rewritten
    tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merged)
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=len(vocabulary), num_layers=1, num_heads=2, hidden_dim=32, intermediate_dim=64,
        max_sequence_length=64,
    )  # fmt: skip
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(tokenizer, sequence_length=64)
    keras_hub.models.GPT2CausalLM(backbone, preprocessor).save_to_preset(str(folder))
    return str(folder)


def test_a_pretrained_gpt2_preset_folder_fine_tunes_and_round_trips(tmp_path):
    from tasks.text_generation import pretrained

    text = shakespeare(40_000)
    preset = tiny_gpt2_preset(tmp_path / "gpt2_tiny", text)
    gen = TextGenerator(
        backbone=preset, sequence_length=32, epochs=4, learning_rate=3e-3, batch_size=16, verbose=0,
        save_dir=str(tmp_path / "runs"),
    ).fit([text])  # fmt: skip
    assert gen.pretrained_ and gen.vocabulary_ is None
    validation_text = text[int(len(text) * 0.9) :]
    # The same preset before fine-tuning, scored by the same task code on the same validation text.
    before = toolkit.load(gen.run_dir)
    before.model_ = pretrained.wrap(pretrained.load_causal_lm(preset), 32)
    before.model_.compile(loss=gen.training_loss())
    before_loss = before.evaluate([validation_text])["loss"]
    after_loss = gen.evaluate([validation_text])["loss"]
    assert after_loss < before_loss - 0.5, (before_loss, after_loss)
    assert gen.metrics_["baseline"]["better_than_unigram"]
    prompts = ["ROMEO:", "First Citizen:\nWe"]
    greedy = gen.generate(prompts, max_length=12, sampler="greedy")
    assert all(g.startswith(p) for g, p in zip(greedy, prompts))
    assert toolkit.load(gen.run_dir).generate(prompts, max_length=12, sampler="greedy") == greedy
    # The SavedModel carries the preset's tokenizer: strings in, the same greedy text out.
    assert gen.set_params(max_length=12).export(tmp_path / "sm", "savedmodel")["generate"]["matches_greedy"]
    with pytest.raises(toolkit.ToolkitError, match="longer than this model's context of 64 tokens"):
        TextGenerator(backbone=preset, sequence_length=100, epochs=1, verbose=0).fit([text])
    with pytest.raises(toolkit.ToolkitError, match="finetune="):
        TextGenerator(backbone=preset, finetune="freeze").fit([text])


def test_lora_trains_only_the_adapters_of_a_preset(tmp_path):
    text = shakespeare(20_000)
    preset = tiny_gpt2_preset(tmp_path / "gpt2_tiny", text)
    original = {w.path: w.numpy() for w in __import__("keras_hub").models.CausalLM.from_preset(preset).weights}
    gen = TextGenerator(
        backbone=preset, lora_rank=4, sequence_length=32, epochs=2, learning_rate=1e-2, batch_size=16, verbose=0,
        save_dir=str(tmp_path / "runs"),
    ).fit([text])  # fmt: skip
    # Keras' LoRA trains the adapters and the adapted layers' biases (query and value); nothing else.
    adapted = ("lora_kernel", "query/bias", "value/bias")
    trained = gen.model_.trainable_weights
    assert trained and all(any(a in w.path for a in adapted) for w in trained), [w.path for w in trained][:5]
    assert any("lora_kernel" in w.path for w in trained)
    # Keras merges the adapters into the adapted kernels when it saves (the best checkpoint was saved and
    # loaded), so those kernels hold the learned change; every other weight is as the preset had it.
    adapted += ("query/kernel", "value/kernel")
    changed = [w.path for w in gen.model_.weights if not any(a in w.path for a in adapted) and w.path in original
               and not np.array_equal(w.numpy(), original[w.path])]  # fmt: skip
    assert len(original) > 10 and not changed, changed[:5]  # every other pretrained weight as it was
    assert gen.history_["val_loss"][-1] < gen.history_["val_loss"][0]
    loaded = toolkit.load(gen.run_dir)
    assert loaded.generate("ROMEO:", max_length=8, sampler="greedy") == gen.generate(
        "ROMEO:", max_length=8, sampler="greedy"
    )
    with pytest.raises(toolkit.ToolkitError, match="lora_rank"):
        TextGenerator(lora_rank=4).fit([text])


def test_a_word_model_savedmodel_writes_words_as_generate_does(tmp_path):
    gen = TextGenerator(**{**TINY, "max_length": 15}, tokenizer="word", epochs=1, verbose=0, save_dir=str(tmp_path))
    gen.fit([shakespeare(8000)])
    report = gen.export(tmp_path / "words", "savedmodel")
    assert report["generate"]["matches_greedy"], report


def test_a_small_corpus_gets_a_budget_in_steps_and_a_large_one_keeps_20_epochs(capsys):
    """100,000 characters of Shakespeare (697 windows, 22 steps an epoch) used all of a fixed 20 epochs; the
    default now gives a small corpus 1,000 steps. A megabyte (7,000+ windows) keeps 20 epochs."""
    gen = TextGenerator(verbose=1)
    assert gen.epochs is None
    gen._choose_epochs(697)
    assert gen.epochs_ == 46 and "raised from 20" in capsys.readouterr().out
    gen._choose_epochs(7000)
    assert gen.epochs_ == 20
