"""Image generation: the shared battery (VAE), GAN training and resume, sampling, anomalies, metrics, bad input."""

import json
import pathlib
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import toolkit
from tasks import ImageGenerator
from tasks.image_classification.data import digits
from tasks.image_generation import augment, quality
from tests.tasks.battery import TaskBattery
from toolkit import runs
from toolkit.cli import main

DIGITS_X, DIGITS_Y, _ = digits()
DIGITS_Y = np.array(DIGITS_Y)
SMALL = {"width": 8, "latent_dim": 4}


def _split(seed=0, test=0.3):
    order = np.random.default_rng(seed).permutation(len(DIGITS_X))
    cut = int(len(order) * (1 - test))
    return (DIGITS_X[order[:cut]], DIGITS_Y[order[:cut]]), (DIGITS_X[order[cut:]], DIGITS_Y[order[cut:]])


TRAIN, HELD_OUT = _split()


class TestImageGeneratorBattery(TaskBattery):
    task_class = ImageGenerator

    def task_kwargs(self):
        return dict(SMALL)

    def train_data(self):
        return DIGITS_X[:300]

    def predict_inputs(self):
        return [DIGITS_X[0], np.zeros((12, 10), np.uint8), DIGITS_X[5]]

    def model_inputs(self, task):
        return DIGITS_X[:3].astype("float32")

    def check_prediction(self, task, prediction):
        assert set(prediction) == {"anomaly_score", "anomaly", "reconstruction"}
        assert np.isfinite(prediction["anomaly_score"]) and isinstance(prediction["anomaly"], bool)
        assert prediction["reconstruction"].shape == (8, 8, 1) and prediction["reconstruction"].dtype == np.uint8

    def assert_same_predictions(self, before, after):
        for a, b in zip(before, after, strict=True):
            assert a["anomaly_score"] == pytest.approx(b["anomaly_score"], rel=1e-5) and a["anomaly"] == b["anomaly"]
            np.testing.assert_array_equal(a["reconstruction"], b["reconstruction"])

    def bad_inputs(self):
        return [
            ("/no/such/folder", "does not exist"),
            (DIGITS_X[:5], "holds 5 images"),
            (np.full((20, 8, 8), np.nan), "NaN or infinite"),
        ]

    def bad_arguments(self):
        return [
            ({"kind": "diffusion"}, "kind='diffusion' is not valid"),
            ({"likelihood": "poisson"}, "likelihood='poisson' is not valid"),
            ({"augment": ("translation",)}, "augments a GAN discriminator"),
            ({"conditional": True}, "conditional=True is for GANs"),
            ({"backbone": "vgg"}, "Unknown backbone 'vgg'|backbone='vgg' is not valid"),
            ({"image_size": 10}, "does not divide by 2\\*\\*depth = 4"),
            ({"channels": 2}, "channels=2 is not valid"),
        ]

    def shared_bad_arguments(self):
        # No backbone/head split here: the strategies that freeze a "backbone" are refused when training starts.
        return [case for case in super().shared_bad_arguments() if "backbone" not in case[0]] + [
            ({"backbone": "no-such-backbone"}, "backbone='no-such-backbone' is not valid")
        ]


# ------------------------------------------------------------------ fitted models shared by the tests below
@pytest.fixture(scope="module")
def gan(tmp_path_factory):
    """A conditional GAN on digits, short: enough to learn the classes, measured on held-out digits."""
    save_dir = tmp_path_factory.mktemp("gan")
    return ImageGenerator(kind="gan", epochs=25, test_split=0, verbose=0, save_dir=str(save_dir), run_name="gan").fit(
        TRAIN
    )


@pytest.fixture(scope="module")
def vae(tmp_path_factory):
    save_dir = tmp_path_factory.mktemp("vae")
    return ImageGenerator(kind="vae", epochs=15, test_split=0, verbose=0, save_dir=str(save_dir)).fit(TRAIN)


def test_conditional_gan_draws_the_asked_for_digits_on_held_out_data(gan):
    assert gan.conditional_ and gan.monitor == "val_kid" and "val_kid" in gan.history_
    scores = gan.evaluate(HELD_OUT)
    before = gan._untrained(123).evaluate(HELD_OUT)
    # Chance is 0.10; the untrained generator's samples are noise.
    assert scores["conditional_accuracy"] > 0.6, scores
    assert scores["kid"] < 0.5 * before["kid"] and scores["fid"] < 0.5 * before["fid"], (scores, before)
    assert set(scores["per_class_accuracy"]) == set(gan.classes_)
    assert pathlib.Path(gan.run_dir, "samples.png").is_file()


def test_gan_steps_both_networks_with_their_own_optimizers(tmp_path):
    task = ImageGenerator(kind="gan", epochs=1, test_split=0, verbose=0, save_dir=str(tmp_path), **SMALL)
    task.check_params()
    splits = task.prepare_data(TRAIN, None)
    model = task._new_model()
    from toolkit.trainer import Trainer

    trainer = Trainer(task.training_spec(model=model), None)
    trainer.prepare(trainer.phases()[0], 1)
    before_g = [w.copy() for w in model.generator.get_weights()]
    before_d = [w.copy() for w in model.discriminator.get_weights()]
    model.fit(splits.train, epochs=1, verbose=0)
    steps = int(splits.train.cardinality())
    assert model.generator_optimizer is not model.discriminator_optimizer
    assert int(model.generator_optimizer.iterations) == int(model.discriminator_optimizer.iterations) == steps
    assert model.generator_optimizer.beta_1 == 0.5  # DCGAN's Adam
    assert any(not np.array_equal(a, b) for a, b in zip(before_g, model.generator.get_weights()))
    assert any(not np.array_equal(a, b) for a, b in zip(before_d, model.discriminator.get_weights()))
    # The feature classifier is frozen while the GAN trains.
    assert not model.feature_classifier.trainable


class _Killed(BaseException):
    pass


class _Recorder(keras.callbacks.Callback):
    """Kills the run at the end of epoch 2, after recording both networks' weights at the end of epoch 1."""

    def __init__(self, kill):
        super().__init__()
        self.kill, self.saved, self.resumed = kill, None, None

    def on_epoch_begin(self, epoch, logs=None):
        if self.resumed is None and not self.kill:
            self.resumed = (epoch, self.model.generator.get_weights(), self.model.discriminator.get_weights())

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            self.saved = (self.model.generator.get_weights(), self.model.discriminator.get_weights())
        if self.kill and epoch == 2:
            raise _Killed()


def test_killed_gan_run_resumes_with_both_networks_weights(tmp_path):
    settings = dict(kind="gan", epochs=4, test_split=0, verbose=0, save_dir=str(tmp_path), run_name="gan", **SMALL)
    killer = _Recorder(kill=True)
    with pytest.raises(_Killed):
        ImageGenerator(callbacks=[killer], **settings).fit(DIGITS_X[:200])
    assert (tmp_path / "image_generation" / "gan" / runs.CHECKPOINT_DIR / "phase_0_backup").exists()
    watcher = _Recorder(kill=False)
    task = ImageGenerator(callbacks=[watcher], **settings).fit(DIGITS_X[:200])
    epoch, generator, discriminator = watcher.resumed
    assert epoch == 2  # resumed after the last finished epoch
    for before, after in zip(killer.saved[0] + killer.saved[1], generator + discriminator, strict=True):
        np.testing.assert_array_equal(before, after)
    assert [int(e) for e in task.history_["epoch"]][-1] <= 3 and (
        tmp_path / "image_generation" / "gan" / "model.keras"
    ).exists()


def test_sampling_is_seeded_and_survives_save_and_load(gan, vae):
    for task in (gan, vae):
        a, b, c = task.sample(6, seed=4), task.sample(6, seed=4), task.sample(6, seed=5)
        assert a.dtype == np.uint8 and a.shape == (6, 8, 8, 1)
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
        np.testing.assert_array_equal(toolkit.load(task.run_dir).sample(6, seed=4), a)
    sevens = gan.sample(5, seed=1, label="7")
    assert sevens.shape == (5, 8, 8, 1)


def test_conditional_gan_refuses_unknown_label_and_vae_refuses_any(gan, vae):
    with pytest.raises(toolkit.ToolkitError, match="label='x' is not a class this model knows") as error:
        gan.sample(2, label="x")
    assert "0, 1, 2" in str(error.value)
    with pytest.raises(toolkit.ToolkitError, match="a VAE is not class-conditional"):
        vae.sample(2, label="3")
    with pytest.raises(toolkit.ToolkitError, match="A gan does not reconstruct"):
        gan.reconstruct(DIGITS_X[:2])


def test_gan_predict_scores_images(gan):
    answers = gan.predict(DIGITS_X[:4])
    assert [set(a) for a in answers] == [{"label", "real_probability"}] * 4
    assert all(0 <= a["real_probability"] <= 1 for a in answers)


def test_trained_vae_beats_the_untrained_one_by_a_wide_margin(vae):
    trained = vae.evaluate(HELD_OUT)["negative_elbo"]
    untrained = vae._untrained(123).evaluate(HELD_OUT)["negative_elbo"]
    # Bernoulli NLL of 64 pixels: an untrained decoder is near 64 * ln 2 = 44 nats or worse.
    assert trained < 0.75 * untrained, (trained, untrained)
    assert vae.metrics_["validation"]["negative_elbo"] == vae.metrics_["validation"]["loss"]


def test_runs_are_judged_against_a_model_of_independent_pixels_on_held_out_digits(vae, gan):
    held_out = vae.evaluate(HELD_OUT)
    trivial = quality.independent_pixels(HELD_OUT[0])
    assert held_out["independent_pixels_baseline"] == pytest.approx(trivial)
    # 8x8 digits: independent pixels cost 27.1 nats an image, 15 epochs of the VAE 25.1 (both include the
    # cross-entropy grey pixels have with themselves, about the same for any model).
    assert held_out["negative_elbo"] < trivial["negative_elbo"] - 1.0, (held_out, trivial)
    assert held_out["reconstruction_mse"] < trivial["reconstruction_mse"]
    assert vae.metrics_["baseline"]["metric"] == "negative_elbo" and vae.metrics_["baseline"]["better_than_baseline"]
    scores = gan.evaluate(HELD_OUT)
    assert scores["kid"] < scores["independent_pixels_baseline"]["kid"], scores
    # A network that has not trained is no better than the trivial model, and says so.
    untrained = vae._untrained(123)
    untrained.metrics_ = {"validation": untrained.evaluate(HELD_OUT)}
    with pytest.warns(UserWarning, match="no better than a model of independent pixels"):
        untrained.compare_with_baseline()
    assert untrained.metrics_["baseline"]["better_than_baseline"] is False


def test_independent_pixels_is_the_exact_log_likelihood_of_per_pixel_bernoullis():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(50, 4, 4, 1)).astype("float32")
    x = images / 255.0
    p = x.mean(axis=0)
    by_hand = -np.mean(np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=(1, 2, 3)))
    trivial = quality.independent_pixels(images)
    assert trivial["negative_elbo"] == pytest.approx(by_hand)
    assert trivial["reconstruction_mse"] == pytest.approx(np.mean((x - p) ** 2))
    shuffled = quality.shuffled_pixels(images, seed=1)
    np.testing.assert_array_equal(np.sort(shuffled, axis=0), np.sort(images, axis=0))  # each pixel's values kept
    assert not np.array_equal(shuffled, images)


def test_vae_reconstructs_encodes_and_interpolates(vae):
    codes = vae.encode(HELD_OUT[0][:3])
    assert codes.shape == (3, 16)
    path = vae.interpolate(HELD_OUT[0][0], HELD_OUT[0][1], steps=5)
    assert path.shape == (5, 8, 8, 1) and path.dtype == np.uint8
    np.testing.assert_array_equal(path[0], vae.reconstruct(HELD_OUT[0][:1])[0])
    mse = np.mean((vae.reconstruct(HELD_OUT[0][:50]) / 255.0 - HELD_OUT[0][:50] / 255.0) ** 2)
    assert mse < 0.05


def test_autoencoder_on_digits_0_to_8_flags_held_out_nines(tmp_path):
    (x, y), (x_out, y_out) = TRAIN, HELD_OUT
    auto = ImageGenerator(kind="autoencoder", test_split=0, verbose=0, save_dir=str(tmp_path)).fit(x[y != "9"])
    scores = auto.evaluate(x_out[y_out != "9"], anomalies=x_out[y_out == "9"])
    assert scores["roc_auc"] >= 0.90, scores
    # The threshold keeps about anomaly_fraction of normal validation images above it.
    assert scores["false_alarm_rate"] < 0.2 and scores["detection_rate"] > 0.3, scores
    flagged = [a["anomaly"] for a in auto.predict(x_out[y_out == "9"][:20])]
    assert sum(flagged) >= 5


def test_kid_and_fid_match_hand_computed_cases():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3000, 1))
    # In one dimension FID = (mu1 - mu2)^2 + (s1 - s2)^2, with the sample means and standard deviations.
    b = 2.0 * a + 1.0
    by_hand = (a.mean() - b.mean()) ** 2 + (a.std(ddof=1) - b.std(ddof=1)) ** 2
    assert quality.fid(a, b) == pytest.approx(by_hand, rel=1e-6) and by_hand == pytest.approx(2.0, abs=0.1)
    # KID by hand for two points each, d = 1: k(x, y) = (x y + 1)^3.
    real, fake = np.array([[0.0], [1.0]]), np.array([[1.0], [2.0]])
    k = lambda u, v: (u * v + 1) ** 3  # noqa: E731
    by_hand = (2 * k(0, 1)) / 2 + (2 * k(1, 2)) / 2 - 2 * (k(0, 1) + k(0, 2) + k(1, 1) + k(1, 2)) / 4
    assert quality.kid(real, fake) == pytest.approx(by_hand)
    c = rng.normal(size=(1000, 8))
    same, shifted = quality.kid(c[:500], c[500:]), quality.kid(c[:500], c[500:] + 0.5)
    assert abs(same) < 0.1 * shifted, (same, shifted)


def test_diff_augment_keeps_shapes_and_passes_gradients():
    images = tf.Variable(tf.random.uniform((4, 8, 8, 1), -1, 1, seed=1))
    seed = keras.random.SeedGenerator(0)
    with tf.GradientTape() as tape:
        out = augment.apply(images, augment.NAMES, seed)
        total = tf.reduce_sum(out)
    assert out.shape == images.shape
    gradient = tape.gradient(total, images)
    assert gradient is not None and float(tf.reduce_sum(tf.abs(gradient))) > 0
    shifted = augment.translation(tf.ones((64, 8, 8, 1)), seed)
    assert float(tf.reduce_min(shifted)) == -1.0  # some images moved, filled with black at the edge


# ------------------------------------------------------------------ data forms and bad input
def _write_images(folder, count, mode="L", size=(8, 8)):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        pixels = np.asarray(DIGITS_X[i % len(DIGITS_X)][..., 0])
        image = Image.fromarray(pixels).resize(size)
        image.convert(mode).save(folder / f"{i}.png")


def test_flat_folder_trains_unconditional_and_class_folders_conditional(tmp_path):
    flat = tmp_path / "flat"
    _write_images(flat, 40)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        task = ImageGenerator(kind="gan", epochs=1, verbose=0, save_dir=str(tmp_path / "runs"), **SMALL).fit(str(flat))
    assert task.classes_ is None and not task.conditional_ and task.model_.num_classes == 0
    # Without labels the feature classifier learns which of four rotations an image got.
    assert task.model_.feature_classifier.output_shape == (None, 4)
    accuracy = task.metrics_["data"]["feature_classifier_accuracy"]
    weak = [w for w in caught if "KID and FID will barely tell good samples from bad" in str(w.message)]
    assert 0 < accuracy <= 1 and len(weak) == (accuracy < 0.25 + 0.5 * 0.75)  # warned exactly when weak
    classes = tmp_path / "classes"
    for name in ("a", "b"):
        _write_images(classes / name, 20)
    task = ImageGenerator(kind="gan", epochs=1, verbose=0, save_dir=str(tmp_path / "runs"), **SMALL).fit(str(classes))
    assert task.classes_ == ["a", "b"] and task.conditional_
    dataset = tf.data.Dataset.from_tensor_slices(DIGITS_X[:40]).batch(8)
    task = ImageGenerator(epochs=1, verbose=0, save_dir=str(tmp_path / "runs"), **SMALL).fit(dataset)
    assert task.metrics_["data"]["train_examples"] == 28 and task.classes_ is None


def test_tfds_with_mock_data(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=40):
        task = ImageGenerator(kind="gan", epochs=1, verbose=0, data_dir=str(tmp_path / "tfds"),
                              save_dir=str(tmp_path / "runs"), **SMALL).fit("tfds:mnist")  # fmt: skip
    assert task.conditional_ and len(task.classes_) == 10 and task.image_size_ == (28, 28)
    assert task.sample(2, label="3").shape == (2, 28, 28, 1)


def test_bad_data_is_a_clear_error(tmp_path):
    one = tmp_path / "one"
    _write_images(one, 1)
    mixed = tmp_path / "mixed"
    _write_images(mixed, 12)
    _write_images(mixed, 1, mode="RGB")  # 0.png becomes colour
    cases = [
        (str(one), {}, "holds 1 image"),
        (str(mixed), {"channels": 1}, "has 3 channels but channels=1"),
        (DIGITS_X[:40], {"kind": "gan", "conditional": True}, "conditional=True needs labels"),
    ]
    for data, kwargs, message in cases:
        task = ImageGenerator(epochs=1, verbose=0, save_dir=str(tmp_path / "runs"), **{**SMALL, **kwargs})
        with pytest.raises(toolkit.ToolkitError, match=message) as error:
            task.fit(data)
        assert "Expected:" in str(error.value) and "Fix:" in str(error.value)
    assert not (tmp_path / "runs").exists()
    with pytest.raises(toolkit.ToolkitError, match="a GAN has two"):
        ImageGenerator(kind="gan").find_learning_rate(DIGITS_X[:40])


def test_cli_trains_and_samples(tmp_path, capsys):
    assert main(["train", "image-generation", "--epochs", "2", "--width", "8", "--save-dir", str(tmp_path),
                 "--run-name", "cli", "--verbose", "0"]) == 0  # fmt: skip
    run_dir = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_dir"]
    out = tmp_path / "grid.png"
    assert main(["predict", run_dir, "--num-samples", "9", "--seed", "3", "--output", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == str(out)
    assert Image.open(out).size == (2 + 3 * 34, 2 + 3 * 34)  # 3x3 grid of 8x8 digits enlarged 4x, 2 px gaps
    assert main(["predict", run_dir, "--num-samples", "9", "--output", str(out)]) == 2  # never overwrites
    assert "exists already" in capsys.readouterr().err
    png = tmp_path / "d.png"
    Image.fromarray(DIGITS_X[0][..., 0]).save(png)
    assert main(["predict", run_dir, str(png)]) == 0
    answer = json.loads(capsys.readouterr().out.split("\t")[1])
    assert set(answer) == {"anomaly_score", "anomaly"}
