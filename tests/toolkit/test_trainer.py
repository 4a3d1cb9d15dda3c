"""The reshaped core: splits, the trainer's groups and hooks, the training recipe, the LR finder."""

import math
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

import toolkit
from tasks import ImageClassifier
from tasks.image_classification.data import digits
from toolkit import data as data_lib
from toolkit import files, recipe, runs
from toolkit import splits as splits_lib
from toolkit.finetune import Phase
from toolkit.splits import split_indices
from toolkit.task import Task
from toolkit.trainer import Trainer

# ------------------------------------------------------------------ splits


def test_grouped_split_never_puts_a_group_on_both_sides():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 40, size=600)  # 40 speakers, uneven clip counts
    labels = rng.integers(0, 3, size=600)
    x = np.arange(600)
    (train, _), (val, _), (test, _), info = splits_lib.holdout(
        [x], labels, test_split=0.2, validation_split=0.1, seed=3, method="auto", groups=groups
    )
    sides = [set(groups[part[0]].tolist()) for part in (train, val, test)]
    assert sides[0] and sides[1] and sides[2]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    assert len(train[0]) + len(val[0]) + len(test[0]) == 600
    assert "grouped" in info["test"] and "grouped" in info["validation"]


def test_contiguous_split_keeps_order_and_holds_out_the_tail():
    x = np.arange(100)
    (train, _), (val, _), (test, _), info = splits_lib.holdout(
        [x], np.zeros(100, int), test_split=0.2, validation_split=0.1, seed=0, method="contiguous"
    )
    assert train[0].tolist() == list(range(60))  # 10% validation raised to 20 (a quarter of the 80 left)
    assert val[0].tolist() == list(range(60, 80))
    assert test[0].tolist() == list(range(80, 100))
    assert "contiguous" in info["validation"]


def test_stratified_and_random_splits_are_seeded():
    labels = np.array([0] * 90 + [1] * 10)
    kept, held, how = split_indices(100, 0.2, seed=1, method="stratified", labels=labels)
    assert how == "stratified" and sorted(np.bincount(labels[held]).tolist()) == [2, 18]
    again = split_indices(100, 0.2, seed=1, method="random", labels=labels)
    assert again[2] == "random" and np.array_equal(again[1], split_indices(100, 0.2, seed=1, method="random")[1])


def test_bad_groups_are_clear_errors():
    with pytest.raises(toolkit.ToolkitError, match="Got 3 groups for 4 examples"):
        split_indices(4, 0.5, seed=0, method="grouped", groups=[1, 2, 3])
    with pytest.raises(toolkit.ToolkitError, match="All examples are in one group"):
        split_indices(4, 0.5, seed=0, method="grouped", groups=[1, 1, 1, 1])
    with pytest.raises(toolkit.ToolkitError, match="split='contiguous' would ignore them"):
        split_indices(4, 0.5, seed=0, method="contiguous", groups=[1, 2, 1, 2])


def test_fit_with_groups_splits_by_group(fast, monkeypatch):
    from toolkit import splits as splits_lib

    calls = []
    original = splits_lib.split_indices

    def spy(count, fraction, *, seed, method="auto", labels=None, groups=None):
        kept, held_out, how = original(count, fraction, seed=seed, method=method, labels=labels, groups=groups)
        calls.append((set(np.asarray(groups)[kept].tolist()), set(np.asarray(groups)[held_out].tolist()), how))
        return kept, held_out, how

    monkeypatch.setattr(splits_lib, "split_indices", spy)
    x, y, _ = digits()
    x, y = x[:400], y[:400]
    groups = [i // 20 for i in range(400)]  # 20 "writers" of 20 digits each
    clf = ImageClassifier(backbone="mlp", **{**fast, "epochs": 1}).fit((x, y), groups=groups)
    assert "grouped" in clf.metrics_["data"]["validation"] and "grouped" in clf.metrics_["data"]["test"]
    # fit's two splits (test, then validation out of the rest) each keep every writer on one side.
    assert len(calls) == 2 and all(how == "grouped" and not kept & held for kept, held, how in calls)
    assert calls[1][0] | calls[1][1] == calls[0][0]  # the validation split acts on the test split's remainder
    assert not hasattr(clf, "_groups") or clf._groups is None  # not kept on the task


# ---------------------------------------------------------- the recipe


OPTIMIZER_RATES = {"sgd": 0.05, "adagrad": 0.05, "lion": 3e-4, "lamb": 1e-2}


@pytest.mark.parametrize("name", sorted(recipe.OPTIMIZERS))
def test_every_optimizer_trains_one_epoch_on_digits_and_lowers_the_loss(name, fast):
    x, y, _ = digits()
    clf = ImageClassifier(
        backbone="mlp",
        optimizer=name,
        learning_rate=OPTIMIZER_RATES.get(name, 1e-3),
        test_split=0,
        **{**fast, "epochs": 1},
    ).fit((x, y))
    # The same model, same seed, before training.
    keras.utils.set_random_seed(clf.seed)
    untrained = clf._new_model()
    untrained.compile(loss=clf.training_loss())
    dataset = clf.evaluation_data((x, y))
    before = untrained.evaluate(dataset, verbose=0, return_dict=True)["loss"]
    after = clf.model_.evaluate(dataset, verbose=0, return_dict=True)["loss"]
    assert after < 0.8 * before, (name, before, after)


def _classifier_model(**kwargs):
    task = ImageClassifier(backbone="mlp", verbose=0, **kwargs)
    task.classes_, task.image_size_, task.channels_, task.augment_ = [str(i) for i in range(10)], (8, 8), 1, ()
    keras.utils.set_random_seed(0)
    return task, task._new_model()


def test_discriminative_rates_scale_the_backbone_update():
    x, y, _ = digits()
    batch = (x[:64].astype("float32"), np.array([int(v) for v in y[:64]]))
    updates = {}
    for fraction in (1.0, 0.1):
        task, model = _classifier_model(optimizer="sgd", learning_rate=0.1)
        groups = task.trainable_groups(model)
        before = {g: [w.copy() for w in sum((layer.get_weights() for layer in ls), [])] for g, ls in groups.items()}
        rates = {} if fraction == 1 else {"backbone": fraction}
        Trainer(task.training_spec(model=model), run_dir=None).prepare(
            Phase("one step", (), 0.1, 1, rates), steps_per_epoch=1
        )
        model.train_on_batch(*batch)
        after = {g: sum((layer.get_weights() for layer in ls), []) for g, ls in groups.items()}
        updates[fraction] = {g: [a - b for a, b in zip(after[g], before[g])] for g in groups}
    for same, slow in zip(updates[1.0]["head"], updates[0.1]["head"]):
        np.testing.assert_allclose(slow, same, rtol=1e-4, atol=1e-7)
    moved = 0
    for full, slow in zip(updates[1.0]["backbone"], updates[0.1]["backbone"]):
        np.testing.assert_allclose(slow, 0.1 * full, rtol=1e-3, atol=1e-7)
        moved += np.abs(full).sum() > 0
    assert moved > 0


def test_frozen_group_weights_do_not_move():
    x, y, _ = digits()
    task, model = _classifier_model(optimizer="adam", learning_rate=0.01)
    backbone = model.get_layer("backbone")
    frozen = [w.copy() for w in backbone.get_weights()]
    head = [w.copy() for w in model.get_layer("classes").get_weights()]
    Trainer(task.training_spec(model=model), run_dir=None).prepare(
        Phase("head", ("backbone",), 0.01, 1, {}), steps_per_epoch=1
    )
    model.train_on_batch(x[:64].astype("float32"), np.array([int(v) for v in y[:64]]))
    for before, after in zip(frozen, backbone.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    assert any(not np.array_equal(b, a) for b, a in zip(head, model.get_layer("classes").get_weights()))


def test_schedules_shape_the_rate():
    cosine = recipe.learning_rate_value("cosine", 1e-2, 100)
    rates = [float(cosine(step)) for step in (0, 5, 50, 99)]
    assert rates[0] < rates[1] == pytest.approx(1e-2, rel=0.05) and rates[2] < rates[1] and rates[3] < 1e-4
    cycle = recipe.OneCycle(1e-2, 100)
    assert float(cycle(0)) == pytest.approx(4e-4) and float(cycle(25)) == pytest.approx(1e-2)
    assert float(cycle(99)) < 1e-5


def test_schedule_run_logs_the_rate_it_followed_and_reloads(fast):
    x, y, _ = digits()
    clf = ImageClassifier(
        backbone="mlp",
        optimizer="adamw",
        weight_decay=1e-4,
        learning_rate_schedule="one_cycle",
        gradient_clip=1.0,
        label_smoothing=0.1,
        **{**fast, "epochs": 3, "patience": 10},
    ).fit((x[:600], y[:600]))
    rates = clf.history_["learning_rate"]
    assert len(rates) == 3 and rates[1] < 1e-3 and rates[2] < rates[1]  # past the peak, annealing
    loaded = toolkit.load(clf.run_dir)
    assert loaded.predict(x[:5]) == clf.predict(x[:5])


def test_l2_penalises_from_scratch_kernels_only():
    _, model = _classifier_model(l2=1e-3)
    assert len(model.losses) >= 2  # backbone and head kernels
    _, plain = _classifier_model()
    assert plain.losses == []


def test_mixed_precision_trains_with_float32_outputs(fast):
    x, y, _ = digits()
    clf = ImageClassifier(backbone="lenet", precision="mixed_bfloat16", **{**fast, "epochs": 1}).fit((x[:300], y[:300]))
    assert clf.model_.get_layer("backbone").compute_dtype == "bfloat16"
    assert keras.backend.standardize_dtype(clf.model_.output.dtype) == "float32"
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    assert math.isfinite(clf.metrics_["validation"]["loss"])


# ---------------------------------------------------------- the LR finder


def test_lr_finder_suggests_a_rate_in_range_and_leaves_the_task_alone(tmp_path):
    user_backbone = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(32)])
    weights = [w.copy() for w in user_backbone.get_weights()]
    clf = ImageClassifier(backbone=user_backbone, verbose=0, save_dir=str(tmp_path))
    finding = clf.find_learning_rate("digits")
    # Documented range for small networks on digits with Adam: 1e-4 .. 1e-1 (measured: 0.007 to 0.014).
    assert 1e-4 < finding.suggested < 1e-1, finding.suggested
    assert finding.suggested < finding.learning_rates[int(np.argmin(finding.smoothed))]
    assert not hasattr(clf, "model_") and not hasattr(clf, "classes_")
    for before, after in zip(weights, user_backbone.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    assert pathlib.Path(finding.plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = pathlib.Path(finding.csv).read_text().splitlines()
    assert rows[0] == "learning_rate,loss,smoothed_loss" and len(rows) == len(finding.losses) + 1


def test_lr_find_command(tmp_path, capsys):
    import json

    from toolkit.cli import main

    assert main(["lr-find", "image-classification", "--backbone", "mlp", "--steps", "30", "--verbose", "0",
                 "--save-dir", str(tmp_path)]) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 1e-5 < out["suggested_learning_rate"] < 1 and pathlib.Path(out["plot"]).exists()


# ------------------------------------------- a task with its own train_step


@keras.saving.register_keras_serializable(package="tests")
class TinyGAN(keras.Model):
    """Two networks, two optimizers, no validation loss: the Keras GAN pattern in miniature."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.generator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, "relu"), keras.layers.Dense(1)],
                                          name="generator")  # fmt: skip
        self.discriminator = keras.Sequential(
            [keras.Input((1,)), keras.layers.Dense(8, "relu"), keras.layers.Dense(1)], name="discriminator"
        )
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

    def call(self, noise):
        return self.generator(noise)

    def compile(self, g_optimizer=None, d_optimizer=None, **kwargs):
        super().compile(optimizer=g_optimizer, **kwargs)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        # Built now, so a resumed run's backup restores their state (Keras builds only model.optimizer itself).
        g_optimizer.build(self.generator.trainable_variables)
        d_optimizer.build(self.discriminator.trainable_variables)

    def train_step(self, real):
        batch = tf.shape(real)[0]
        noise = tf.random.normal((batch, 2), seed=1)
        with tf.GradientTape() as tape:
            fake = self.generator(noise)
            logits = self.discriminator(tf.concat([real, fake], 0))
            labels = tf.concat([tf.ones((batch, 1)), tf.zeros((batch, 1))], 0)
            d_loss = self.loss_fn(labels, logits)
        if self.discriminator.trainable_variables:
            grads = tape.gradient(d_loss, self.discriminator.trainable_variables)
            self.d_optimizer.apply(grads, self.discriminator.trainable_variables)
        with tf.GradientTape() as tape:
            g_loss = self.loss_fn(tf.ones((batch, 1)), self.discriminator(self.generator(noise)))
        grads = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply(grads, self.generator.trainable_variables)
        return {"d_loss": d_loss, "g_loss": g_loss}


class TinyGANTask(Task):
    """A task whose model has its own train_step and two trainable groups, and no validation data."""

    task_name = "tiny-gan"

    def prepare_data(self, data, validation_data):
        real = np.random.default_rng(0).normal(3.0, 0.5, size=(256, 1)).astype("float32")
        train = tf.data.Dataset.from_tensor_slices(real).batch(self.batch_size)
        return data_lib.Splits(train=train, validation=None, test=None, info={"train_examples": 256})

    def build_model(self):
        model = TinyGAN()
        model(np.zeros((1, 2), "float32"))
        model.discriminator(np.zeros((1, 1), "float32"))
        return model

    def trainable_groups(self, model):
        return {"generator": [model.generator], "discriminator": [model.discriminator]}

    def compile_model(self, model, make_optimizer):
        model.compile(g_optimizer=make_optimizer("generator"), d_optimizer=make_optimizer("discriminator"))

    def score(self, dataset):
        return {"mean": float(np.mean(self.model_.predict(np.random.default_rng(1).normal(size=(64, 2)), verbose=0)))}


class _Killed(BaseException):
    pass


class _KillAtEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 2:
            raise _Killed()


def test_custom_train_step_task_gets_checkpoints_and_resume(tmp_path):
    settings = dict(epochs=5, batch_size=32, verbose=0, save_dir=str(tmp_path), run_name="gan", test_split=0)
    with pytest.raises(_Killed):
        TinyGANTask(callbacks=[_KillAtEpoch()], **settings).fit()
    run_dir = tmp_path / "tiny_gan" / "gan"
    assert (run_dir / runs.CHECKPOINT_DIR / "phase_0_backup").exists()
    logged = [row.split(",")[0] for row in (run_dir / "history.csv").read_text().splitlines()[1:]]
    assert logged == ["0", "1"]
    task = TinyGANTask(**settings).fit()
    epochs = [int(e) for e in task.history_["epoch"]]
    assert epochs == [0, 1, 2, 3, 4]  # resumed at 2; no early stopping without validation: the whole budget
    assert {"d_loss", "g_loss", "learning_rate"} <= set(task.history_)
    assert task.metrics_["validation"] is None and (run_dir / "model.keras").exists()


def test_custom_train_step_frozen_group_does_not_move():
    task = TinyGANTask(optimizer="sgd", learning_rate=0.1, verbose=0)
    keras.utils.set_random_seed(0)
    model = task._new_model()
    frozen = [w.copy() for w in model.discriminator.get_weights()]
    moving = [w.copy() for w in model.generator.get_weights()]
    Trainer(task.training_spec(model=model), run_dir=None).prepare(
        Phase("generator only", ("discriminator",), 0.1, 1, {}), 1
    )
    model.fit(np.full((32, 1), 3.0, "float32"), epochs=1, batch_size=32, verbose=0)
    for before, after in zip(frozen, model.discriminator.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    assert any(not np.array_equal(b, a) for b, a in zip(moving, model.generator.get_weights()))


def test_plateau_reduces_each_group_rate_under_loss_scaling(fast):
    """mixed_float16 wraps the discriminative-rate MultiOptimizer in a LossScaleOptimizer; the plateau
    callback reduces each group's rate through it (Keras' own asks the wrapper for one rate and fails)."""
    from toolkit.callbacks import ReduceLROnPlateau

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3), keras.layers.Dense(1)])
    head, backbone = keras.optimizers.SGD(0.1, name="head"), keras.optimizers.SGD(0.01, name="backbone")
    first = {id(v) for v in model.layers[0].trainable_variables}
    multi = keras.optimizers.MultiOptimizer(lambda variable: backbone if id(variable) in first else head)
    model.compile(optimizer=keras.optimizers.LossScaleOptimizer(multi), loss="mse")
    model.train_on_batch(np.ones((4, 2), "float32"), np.ones((4, 1), "float32"))
    callback = ReduceLROnPlateau(monitor="val_loss", mode="min", factor=0.5, patience=1)
    callback.set_model(model)
    callback.on_train_begin()
    callback.on_epoch_end(0, {"val_loss": 1.0})
    callback.on_epoch_end(1, {"val_loss": 2.0})  # no improvement for `patience` epochs
    assert callback.model is model
    np.testing.assert_allclose([float(head.learning_rate), float(backbone.learning_rate)], [0.05, 0.005], rtol=1e-6)

    x, y, _ = digits()
    clf = ImageClassifier(
        backbone="lenet", precision="mixed_float16", backbone_lr_fraction=0.1, **{**fast, "epochs": 2}
    ).fit((x[:200], y[:200]))
    assert clf.model_.get_layer("backbone").compute_dtype == "float16"
    assert math.isfinite(clf.metrics_["validation"]["loss"])
    assert keras.config.dtype_policy().name == "float32"


def test_output_that_is_not_a_terminal_gets_progress_lines_inside_epochs(fast, monkeypatch, capsys):
    """verbose="auto" into a pipe or log file: Keras prints at epoch ends only, the toolkit adds lines between."""
    from toolkit import progress

    monkeypatch.setattr(progress, "PROGRESS_SECONDS", 0.0)  # a line after every step
    x, y, _ = digits()
    ImageClassifier(backbone="mlp", **{**fast, "epochs": 2, "verbose": "auto", "batch_size": 64}).fit(
        (x[:400], y[:400])
    )
    out = capsys.readouterr().out  # pytest's captured stdout is not a terminal
    steps = math.ceil(400 * 0.7 / 64)  # the seeded 70% training part
    lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2 * steps, lines
    assert lines[0].startswith(f"epoch 1/2: step 1/{steps}, ") and lines[-1].startswith(f"epoch 2/2: step {steps}/")
    assert all(" loss " in line and "s into the epoch)" in line for line in lines)
    assert "\r" not in out  # no progress bar redraws in a log file


# ------------------------------------------------------- defaults that learn


def test_warmup_keeps_early_stopping_and_plateau_halving_off(tmp_path):
    """A flat validation loss during the warm-up neither stops the run nor halves the rate; after it, both act."""
    from toolkit.callbacks import default_callbacks

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.01), "mse")
    callbacks = default_callbacks(tmp_path, phase=0, start_epoch=0, patience=2, warmup=4)
    stopper, plateau = callbacks[0], callbacks[1]
    for callback in (stopper, plateau):
        callback.set_model(model)
        callback.on_train_begin()
    stopped_at = None
    for epoch in range(10):
        for callback in (stopper, plateau):
            callback.on_epoch_end(epoch, {"val_loss": 1.0, "loss": 1.0})
        rate = float(model.optimizer.learning_rate)
        if epoch < 4:
            assert rate == pytest.approx(0.01) and not model.stop_training, epoch
        if model.stop_training:
            stopped_at = epoch
            break
    # epoch 4 is the first counted; two more without improvement end it
    assert stopped_at == 6 and float(model.optimizer.learning_rate) == pytest.approx(0.0025)  # halved at 5 and 6


def test_patience_and_warmup_scale_with_the_budget_and_spare_pretrained_backbones():
    scratch = ImageClassifier(backbone="vgg")  # 30 epochs by default
    assert (scratch._patience(), scratch._warmup_epochs()) == (6, 6)
    assert (ImageClassifier(epochs=100)._patience(), ImageClassifier(epochs=100)._warmup_epochs()) == (20, 20)
    assert (ImageClassifier(epochs=10)._patience(), ImageClassifier(epochs=10)._warmup_epochs()) == (5, 2)
    # A budget raised for a small folder: warm-up is half of it (240 shapes: 168 images, 11 steps of 16 an
    # epoch, 91 epochs), so a network that begins to learn late is not stopped by a noisy validation part.
    small = ImageClassifier(batch_size=16, verbose=0)
    small._choose_epochs(168)
    assert (small.epochs_, small._patience(), small._warmup_epochs()) == (91, 18, 45)
    small._choose_epochs(1258)
    assert (small.epochs_, small._warmup_epochs()) == (30, 6)
    pretrained = ImageClassifier(backbone=keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten()]))
    assert pretrained._warmup_epochs() == 0
    assert ImageClassifier(patience=3, warmup_epochs=1)._patience() == 3
    with pytest.raises(toolkit.ToolkitError, match="warmup_epochs=-1"):
        ImageClassifier(warmup_epochs=-1, verbose=0).fit("digits")


def test_a_run_stuck_at_chance_is_reported_as_such(fast):
    x, y, _ = digits()
    shuffled = np.random.default_rng(0).permutation(y[:400])  # labels that carry no information
    with pytest.warns(UserWarning, match="no better than always answering the most common class") as caught:
        stuck = ImageClassifier(backbone="mlp", **fast).fit((x[:400], shuffled))
    message = next(str(w.message) for w in caught if "most common class" in str(w.message))
    assert "lr-find image-classification" in message and "smaller --image-size" in message
    saved = files.read_json(pathlib.Path(stuck.run_dir) / runs.METRICS_FILE)["baseline"]
    assert saved["better_than_majority"] is False and saved["what_to_try"] and saved["likely_causes"]
    learned = ImageClassifier(backbone="mlp", **{**fast, "epochs": 5}).fit((x[:400], y[:400]))
    assert learned.metrics_["baseline"]["better_than_majority"] is True
    assert "likely_causes" not in learned.metrics_["baseline"]


def test_default_budget_gives_a_small_from_scratch_set_enough_optimizer_steps(fast, monkeypatch, capsys):
    from toolkit import recipe as recipe_lib
    from toolkit import task as task_lib

    monkeypatch.setattr(recipe_lib, "MIN_SCRATCH_STEPS", 12)  # 1 step an epoch here: 12 epochs, not 1,000
    monkeypatch.setattr(task_lib.Task, "budget_epochs", 3)
    x, y, _ = digits()
    settings = {**fast, "epochs": None, "batch_size": 64, "patience": 100, "verbose": 1}
    clf = ImageClassifier(backbone="mlp", **settings).fit((x[:80], y[:80]))  # 56 training images
    assert clf.epochs_ == 12 and len(clf.history_["loss"]) == 12
    assert "Epochs: up to 12 (raised from 3 so a from-scratch network gets about 12 optimizer steps" in (
        capsys.readouterr().out
    )
    assert toolkit.load(clf.run_dir).epochs_ == 12  # recorded with the run
    # Plenty of data, a budget given, or a pretrained backbone: no change.
    assert ImageClassifier(batch_size=1)._default_epochs(80) == 3
    assert (
        ImageClassifier(backbone="mlp", epochs=2, **{k: v for k, v in fast.items() if k != "epochs"})
        .fit((x[:80], y[:80]))
        .epochs_
        == 2
    )


class _PoisonWeights(keras.callbacks.Callback):
    """Makes the weights NaN after the second epoch's first batch, as a diverging run would."""

    def on_train_batch_end(self, batch, logs=None):
        if self.model.optimizer.iterations.numpy() == 4:
            self.model.set_weights([np.full_like(w, np.nan) for w in self.model.get_weights()])


def test_a_loss_that_becomes_nan_ends_the_run_as_failed_not_finished(fast):
    x, y, _ = digits()
    settings = {**fast, "epochs": 4, "batch_size": 64, "run_name": "diverged"}
    with pytest.raises(toolkit.ToolkitError, match="training loss became nan in epoch 2"):
        ImageClassifier(backbone="mlp", callbacks=[_PoisonWeights()], **settings).fit((x[:300], y[:300]))
    run_dir = pathlib.Path(fast["save_dir"]) / "image_classification" / "diverged"
    assert not (run_dir / runs.MODEL_FILE).exists() and not (run_dir / runs.METRICS_FILE).exists()


def test_a_resumed_phase_keeps_early_stopping_and_halving_counters(tmp_path):
    """Killed after epoch 4 of a phase: the counters after the restart are an uninterrupted run's."""
    from toolkit.callbacks import ReduceLROnPlateau, ResumeCounters, default_callbacks

    val_losses = [1.0, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99]  # best at epoch 1, then stalls

    def model():
        net = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        net.compile(keras.optimizers.Adam(0.01), "mse")
        return net

    def counters(callbacks):
        stopper = next(c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping))
        plateau = next(c for c in callbacks if isinstance(c, ReduceLROnPlateau))
        return stopper.wait, stopper.best, plateau.wait, plateau.best

    # Uninterrupted: epochs 0..4 through the real callbacks; history.csv as the CSVLogger would write it.
    straight, straight_model = default_callbacks(tmp_path / "a", 0, 0, patience=6, warmup=0), model()
    for callback in straight:
        callback.set_model(straight_model)
    for callback in straight[:2]:
        callback.on_train_begin()
    rows = ["epoch,learning_rate,loss,val_loss"]
    for epoch, value in enumerate(val_losses[:5]):
        for callback in straight[:2]:
            callback.on_epoch_end(epoch, {"val_loss": value, "loss": value})
        rows.append(f"{epoch},{float(straight_model.optimizer.learning_rate)},{value},{value}")
    # Resumed at epoch 5 in a fresh process: new callbacks, the history file, the restored rate.
    resumed_dir = tmp_path / "b"
    resumed = default_callbacks(resumed_dir, 0, 0, patience=6, warmup=0)
    (resumed_dir / runs.HISTORY_FILE).write_text("\n".join(rows) + "\n")
    resumed_model = model()
    resumed_model.optimizer.learning_rate = float(straight_model.optimizer.learning_rate)
    resumed_model._initial_epoch = 5  # what BackupAndRestore sets
    replay = next(c for c in resumed if isinstance(c, ResumeCounters))
    for callback in resumed:
        callback.set_model(resumed_model)
    for callback in [*resumed[:2], replay]:
        callback.on_train_begin()
    # Three stalled epochs: early stopping waits 3 of 6; the halving fired at epoch 4 and counts from 0.
    assert counters(resumed) == counters(straight) == (3, 0.8, 0, 0.8)
    assert float(straight_model.optimizer.learning_rate) == pytest.approx(0.005)
    assert float(resumed_model.optimizer.learning_rate) == float(straight_model.optimizer.learning_rate)
    # The next stalled epochs act at the same epochs in both.
    for epoch, value in list(enumerate(val_losses))[5:]:
        for callbacks in (straight, resumed):
            for callback in callbacks[:2]:
                callback.on_epoch_end(epoch, {"val_loss": value, "loss": value})
        assert float(resumed_model.optimizer.learning_rate) == float(straight_model.optimizer.learning_rate)
        assert counters(resumed) == counters(straight)
