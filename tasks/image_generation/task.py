"""Image generation: `ImageGenerator` (autoencoder, VAE, GAN) and `train_image_generator`."""

import os
import warnings

import keras
import numpy as np

from tasks.image_generation import augment as augment_lib
from tasks.image_generation import data as generation_data
from tasks.image_generation import models, networks, quality
from toolkit import data as data_lib
from toolkit import estimator, image_streams
from toolkit import images as images_lib
from toolkit import splits as splits_lib
from toolkit.errors import ToolkitError
from toolkit.saving import register_task
from toolkit.task import Task

KINDS = ("autoencoder", "vae", "gan")
LIKELIHOODS = ("bernoulli", "gaussian")
NORMS = ("spectral", "batch")
DEFAULT_LATENT = {"autoencoder": 8, "vae": 16, "gan": 64}
# Generative models train at most at this many pixels a side unless image_size says otherwise (CPU-sized).
MAX_SIDE = 64
QUALITY_SAMPLES = 1000  # real and generated images per KID / FID measurement
BASELINE_SAMPLES = 5000  # images the independent-pixels baseline is fitted to and scored on (a part's first)
SAMPLES_FILE = "samples.png"


@register_task
class ImageGenerator(Task):
    """Learns a distribution of images: an autoencoder, a VAE or a (conditional) GAN.

    The saved model takes and gives 0..255 pixels. Autoencoders and VAEs
    reconstruct and score anomalies (`anomaly_scores`); VAEs and GANs sample new
    images (`sample`). A GAN trained on labelled data (class subfolders, or
    `(images, labels)`) is class-conditional: `sample(n, label="7")`.

    Args:
        kind: "autoencoder", "vae" or "gan".
        backbone: "conv" (DCGAN-style convolutions, the default) or "dense" (fully connected, tiny images).
        latent_dim: size of the code: the autoencoder's bottleneck, the VAE's latent space, the GAN's
            noise. None: 8, 16 and 64 respectively.
        width: filters of the first convolution (doubling each stage), or units scale of "dense".
        depth: stride-2 stages of the networks; `image_size` must divide by 2**depth for "conv".
        image_size: (height, width) to train at; default: the images' median size capped at 64 px a side,
            rounded down to a multiple of 2**depth.
        channels: 1 (grey) or 3 (colour); default from the data. When given, images with another
            channel count are an error.
        likelihood: the VAE decoder's distribution: "bernoulli" (pixels in [0, 1] as probabilities,
            the usual choice for digits) or "gaussian" (with one learned scale).
        beta: weight of the VAE's KL term (1: the true evidence lower bound; beta-VAE otherwise).
        beta_warmup: epochs over which the KL weight rises linearly to `beta` (0: none).
        conditional: a class-conditional GAN; None: when the data has labels.
        discriminator_norm: "spectral" (spectral normalisation) or "batch" (batch normalisation).
        label_smoothing: the GAN's one-sided label smoothing: real images' target is 1 - this.
        augment: differentiable augmentations of what the GAN's discriminator sees, from
            "translation", "brightness", "contrast", "cutout" (DiffAugment; helps small data).
        anomaly_fraction: the share of normal validation images allowed above the anomaly
            threshold (its false-positive rate), for autoencoders and VAEs.
        data_dir: TFDS data folder for "tfds:NAME" data.
        learning_rate: the (peak) learning rate; None: 2e-4 for a GAN (DCGAN's rate), 1e-3 for an
            autoencoder or a VAE.
        **kwargs: the arguments every task shares (see `toolkit.Task`).

    Examples:
        >>> gen = ImageGenerator(kind="gan", epochs=40).fit("digits")  # doctest: +SKIP
        >>> gen.sample(16, seed=1, label="7").shape  # doctest: +SKIP
        (16, 8, 8, 1)
    """

    task_name = "image-generation"
    description = "autoencoders, VAEs and GANs: sample, reconstruct, score anomalies"
    default_data = "digits"
    data_forms = (
        "a folder of images (class subfolders optional: they become the labels a conditional GAN uses), an array "
        "of images, an (images, labels) tuple, a tf.data.Dataset of images or (image, label), or 'tfds:NAME'; at "
        "least 10 images"
    )
    built_in_data = data_lib.built_in("digits")
    backbone_filters = ({"modality": "generative"},)
    # Kept inside the GAN's model.keras, not in config.json.
    unsaved_attributes = Task.unsaved_attributes + ("feature_classifier_",)

    _parameter_constraints = {
        "kind": estimator.one_of(KINDS),
        "likelihood": estimator.one_of(LIKELIHOODS),
        "discriminator_norm": estimator.one_of(NORMS),
        "latent_dim": estimator.POSITIVE_OR_NONE,
        "width": estimator.POSITIVE,
        "depth": estimator.POSITIVE,
        "image_size": estimator.IMAGE_SIZE,
        "channels": estimator.one_of((1, 3), none=True),
        "beta": estimator.above(0),
        "beta_warmup": estimator.at_least(0),
        "label_smoothing": estimator.in_range(0, 0.5, "a fraction from 0 up to 0.5"),
        "anomaly_fraction": estimator.in_range(0, 1, "a fraction between 0 and 1", low_open=True),
    }

    def __init__(
        self,
        *,
        kind: str = "vae",
        backbone: str = "conv",
        latent_dim: int | None = None,
        width: int = 32,
        depth: int = 2,
        image_size: int | tuple[int, int] | None = None,
        channels: int | None = None,
        likelihood: str = "bernoulli",
        beta: float = 1.0,
        beta_warmup: int = 0,
        conditional: bool | None = None,
        discriminator_norm: str = "spectral",
        label_smoothing: float = 0.1,
        augment: tuple[str, ...] = (),
        anomaly_fraction: float = 0.05,
        data_dir: str | os.PathLike | None = None,
        epochs: int = 100,
        learning_rate: float | None = None,
        learning_rate_schedule: str = "constant",
        **kwargs,
    ):
        super().__init__(
            epochs=epochs,
            learning_rate=learning_rate,
            learning_rate_schedule=learning_rate_schedule,
            **kwargs,
        )
        self.kind = kind
        self.backbone = backbone
        self.latent_dim = latent_dim
        self.width = width
        self.depth = depth
        self.image_size = image_size
        self.channels = channels
        self.likelihood = likelihood
        self.beta = beta
        self.beta_warmup = beta_warmup
        self.conditional = conditional
        self.discriminator_norm = discriminator_norm
        self.label_smoothing = label_smoothing
        self.augment = augment
        self.anomaly_fraction = anomaly_fraction
        self.data_dir = data_dir

    # The GAN follows the KID of its samples; the others their validation loss.
    @property
    def monitor(self):
        return "val_kid" if self.kind == "gan" else "val_loss"

    def _default_learning_rate(self):
        return 2e-4 if self.kind == "gan" else 1e-3  # DCGAN's rate for GANs

    def _latent_dim(self):
        return self.latent_dim or DEFAULT_LATENT[self.kind]

    def _check_combinations(self):
        super()._check_combinations()
        if self.backbone not in self.accepted_backbones():
            raise estimator.invalid_argument("backbone", self.backbone, f"one of {self.accepted_backbones()}")
        for name in self.augment:
            if name not in augment_lib.NAMES:
                raise ToolkitError(
                    f"Unknown augmentation {name!r}.", expected=f"names from {augment_lib.NAMES}", fix="fix augment="
                )
        if self.augment and self.kind != "gan":
            raise ToolkitError(
                f"augment={tuple(self.augment)!r} augments a GAN discriminator's inputs; kind={self.kind!r} has none.",
                expected="augment=() for autoencoders and VAEs",
                fix="drop augment=, or use kind='gan'",
            )
        if self.conditional and self.kind != "gan":
            raise ToolkitError(
                f"conditional=True is for GANs; kind={self.kind!r} is not conditional.",
                expected="conditional=None or False for autoencoders and VAEs",
                fix="drop conditional=, or use kind='gan'",
            )

    # ------------------------------------------------------------------- data
    def prepare_data(self, data, validation_data):
        self._files = []
        images, labels, names = generation_data.load_source(data, self.data_dir)
        labelled = labels is not None
        if self.conditional and not labelled:
            raise ToolkitError(
                "conditional=True needs labels, and the data has none.",
                expected="a folder of class subfolders, (images, labels), or a labelled dataset",
                fix="give labelled data, or pass conditional=None",
            )
        if labelled:
            data_lib.check_same_length(images, labels)
            y, self.classes_ = data_lib.encode_labels(labels, names)
        else:
            y, self.classes_ = np.zeros(len(images), dtype="int32"), None
        self.conditional_ = bool(self.kind == "gan" and labelled and self.conditional is not False)
        if not isinstance(images, data_lib.Stream) and not _are_paths(images):
            data_lib.check_finite(images, "image")
        val_images, y_given = None, None
        if validation_data is not None:
            val_images, y_given = self._raw(validation_data, labelled)
        train, y, val, y_val, test, info = splits_lib.holdout_positions(
            y, y_given, validation_data, **self._split_options()
        )
        train_images = data_lib.take(images, train)
        self.image_size_, self.channels_ = self._choose_size_and_channels(train_images)
        info = {"train_source": data_lib.describe(data), **info}
        classes = (
            f"{len(self.classes_)} classes ({'conditional' if self.conditional_ else 'unconditional'}); "
            if labelled
            else ""
        )
        self.say(
            f"Image generation ({self.kind}): {classes}{len(y)} train / {len(y_val)} validation / "
            f"{info['test_examples']} test images."
        )
        val_index = self._materialise(val_images if validation_data is not None else data_lib.take(images, val))
        splits = data_lib.Splits(
            train=self._dataset(self._materialise(train_images), y, shuffle=True),
            validation=self._dataset(val_index, y_val),
            test=None if test is None else self._dataset(self._materialise(data_lib.take(images, test[0])), test[1]),
            info=info,
        )
        if self.kind == "gan":
            self.feature_classifier_ = self._train_feature_classifier(splits)
            info["feature_classifier_accuracy"] = self._feature_accuracy
        return splits

    def _choose_size_and_channels(self, images):
        sample = image_streams.header_sample(images, self.seed) if _are_paths(images) else images
        generation_data.check_channels(sample, self.channels)
        size, channels = image_streams.choose_size_and_channels(sample, self.image_size, verbose=bool(self.verbose))
        how = "as given"
        if self.image_size is None:
            how = "the images' own size (median)"
            if image_streams.capped_size(size, MAX_SIDE) != size:
                size = image_streams.capped_size(size, MAX_SIDE)
                how = f"the images' median size, capped at {MAX_SIDE} px a side"
        divisor = networks.BACKBONES.get(self.backbone).divisor(self.depth)
        if self.image_size is not None and (size[0] % divisor or size[1] % divisor):
            raise ToolkitError(
                f"image_size={self.image_size!r} does not divide by 2**depth = {divisor}.",
                expected=f"a height and width that are multiples of {divisor} (the networks halve them {self.depth} times)",
                fix=f"pass image_size={(size[0] // divisor * divisor) or divisor}, or a smaller depth",
            )
        rounded = tuple(max(divisor, side // divisor * divisor) for side in size)
        if rounded != size:
            how += f", rounded down to a multiple of {divisor}"
            size = rounded
        channels = self.channels or channels
        self.say(f"Image size: {size[0]}x{size[1]}x{channels} ({how}; pass image_size= to choose).")
        return size, channels

    def _raw(self, data, labelled):
        images, labels, _ = generation_data.load_source(data, self.data_dir)
        if labelled and labels is not None:
            data_lib.check_same_length(images, labels)
            y, _ = data_lib.encode_labels(labels, self.classes_)
        else:
            y = np.zeros(len(images), dtype="int32")
        return images, y

    def _materialise(self, images):
        """Loaded images -> the index the datasets read: file paths, a Stream, or uint8 arrays at the training size."""
        if _are_paths(images):
            return np.array([str(p) for p in images])
        if isinstance(images, data_lib.Stream):
            return images
        return image_streams.to_array(images, tuple(self.image_size_), self.channels_, verbose=bool(self.verbose))

    def _dataset(self, x, y, shuffle=False):
        dataset, files = image_streams.batched_dataset(
            x, np.asarray(y, "int32"), tuple(self.image_size_), self.channels_, self._global_batch_size(), shuffle=shuffle,
            seed=self.seed,
        )  # fmt: skip
        self._files = getattr(self, "_files", []) + files
        return dataset

    def explain_data_error(self, error):
        return images_lib.explain_decode_error(error, getattr(self, "_files", None))

    def evaluation_data(self, data):
        self._files = []
        images, y = self._raw(data, self.classes_ is not None)
        return self._dataset(self._materialise(images), y)

    # --------------------------------------------------- the feature classifier
    def _train_feature_classifier(self, splits):
        """The classifier whose features KID and FID are measured in, trained on the training part.

        On the classes when the data has them; otherwise on which of four rotations was
        applied (a self-supervised task that needs no labels, Gidaris et al. 2018).
        """
        import tensorflow as tf

        rotations = self.classes_ is None
        square = self.image_size_[0] == self.image_size_[1]

        def prepare(images, labels):
            images = images / 255.0
            if not rotations:
                return images, labels
            turns = tf.random.stateless_uniform(tf.shape(labels), (self.seed, 1), 0, 4 if square else 2, "int32")
            # Per image: rotate by 90 degrees `turns` times (square images) or flip upside down (others).
            rotated = tf.map_fn(
                lambda pair: tf.image.rot90(pair[0], pair[1] * (1 if square else 2)), (images, turns),
                fn_output_signature=images.dtype,
            )  # fmt: skip
            return rotated, turns

        classes = (4 if square else 2) if rotations else len(self.classes_)
        keras.utils.set_random_seed(self.seed)
        classifier = networks.feature_classifier((*self.image_size_, self.channels_), classes)
        classifier.compile(
            "adam",
            "sparse_categorical_crossentropy",
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
        train, validation = splits.train.map(prepare), splits.validation.map(prepare)
        what = "which rotation each image got (the data has no labels)" if rotations else "the data's classes"
        self.say(f"Training the feature classifier for KID / FID on {what}.")
        with self.data_errors():
            classifier.fit(
                train,
                validation_data=validation,
                epochs=30,
                shuffle=False,  # the dataset shuffles itself
                verbose=0,
                callbacks=[
                    keras.callbacks.EarlyStopping("val_accuracy", mode="max", patience=5, restore_best_weights=True)
                ],
            )
            self._feature_accuracy = float(classifier.evaluate(validation, verbose=0, return_dict=True)["accuracy"])
        self.say(f"Feature classifier: validation accuracy {self._feature_accuracy:.4f}.")
        chance = 1 / classes
        if self._feature_accuracy < chance + 0.5 * (1 - chance):  # less than halfway from chance to perfect
            warnings.warn(
                f"The feature classifier behind KID / FID reached only {self._feature_accuracy:.2f} validation "
                f"accuracy on {what} (chance {chance:.2f}), so KID and FID will barely tell good samples from bad, "
                "and early stopping follows them. Judge the run by its samples.png; with labels (class "
                "subfolders), the features learn the classes instead.",
                stacklevel=2,
            )
        # The same layers in an uncompiled model: it is only ever used for inference, and is saved so.
        return keras.Model(classifier.input, classifier.output, name="feature_classifier")

    # ------------------------------------------------------------------ model
    def build_model(self):
        shape = (*self.image_size_, self.channels_)
        latent = self._latent_dim()
        args = (self.backbone, shape, self.width, self.depth)
        if self.kind == "autoencoder":
            model = models.Autoencoder(
                networks.encoder(*args, latent, False), networks.decoder(*args, latent, "sigmoid")
            )
        elif self.kind == "vae":
            activation = None if self.likelihood == "bernoulli" else "sigmoid"
            model = models.VAE(
                networks.encoder(*args, latent, True),
                networks.decoder(*args, latent, activation),
                likelihood=self.likelihood,
                seed=self.seed,
            )
        else:
            num_classes = len(self.classes_) if self.conditional_ else 0
            model = models.GAN(
                networks.generator(*args, latent, num_classes),
                networks.discriminator(*args, num_classes, self.discriminator_norm),
                feature_classifier=self.feature_classifier_,
                latent_dim=latent,
                num_classes=num_classes,
                label_smoothing=self.label_smoothing,
                augment=self.augment,
                seed=self.seed,
            )
        model(self._example_inputs(1))
        return model

    def _example_inputs(self, count, seed=0, labels=None):
        """What the model's call takes for `count` images: images (autoencoders) or noise (and labels)."""
        if self.kind != "gan":
            return np.zeros((count, *self.image_size_, self.channels_), "float32")
        noise = np.random.default_rng(seed).normal(size=(count, self._latent_dim())).astype("float32")
        if not self.conditional_:
            return noise
        labels = np.arange(count) % len(self.classes_) if labels is None else labels
        return [noise, np.asarray(labels, "int32")]

    def trainable_groups(self, model):
        if self.kind == "gan":
            return {"generator": [model.generator], "discriminator": [model.discriminator]}
        return {"encoder": [model.encoder], "decoder": [model.decoder]}

    def compile_model(self, model, make_optimizer):
        if self.kind != "gan":
            model.compile(optimizer=make_optimizer())
            return
        optimizers = make_optimizer("generator"), make_optimizer("discriminator")
        if self.optimizer == "adam":
            for optimizer in optimizers:
                # DCGAN's Adam: a first-moment decay of 0.5, not 0.9, keeps the two-player updates from overshooting.
                getattr(optimizer, "inner_optimizer", optimizer).beta_1 = 0.5
        model.compile(generator_optimizer=optimizers[0], discriminator_optimizer=optimizers[1])

    def task_callbacks(self, validation):
        if self.kind == "vae" and (self.beta_warmup or self.beta != 1):
            return [quality.KLWarmup(self.beta, self.beta_warmup)]
        if self.kind == "gan" and validation is not None:
            return [quality.KIDMonitor(self._kid_measure(validation))]
        return []

    def _kid_measure(self, validation):
        """() -> KID between (up to `QUALITY_SAMPLES`) validation images and as many samples from fixed noise."""
        real, labels = _collect(validation, QUALITY_SAMPLES)
        features = quality.feature_model(self.feature_classifier_)
        real_features = _call(features, real / 255.0)
        inputs = self._example_inputs(len(real), seed=self.seed + 1, labels=labels)

        def measure(model):
            return quality.kid(real_features, _call(features, _call(model, inputs) / 255.0))

        return measure

    def after_training(self, model, splits):
        """The anomaly threshold: the (1 - anomaly_fraction) quantile of the validation images' scores."""
        if self.kind == "gan" or splits.validation is None:
            self.threshold_ = None
            return
        scores = np.concatenate([model.scores(images).numpy() for images, _ in splits.validation])
        self.threshold_ = float(np.quantile(scores, 1 - self.anomaly_fraction))

    def _untrained(self, seed):
        """This fitted task with freshly initialised networks (the feature classifier kept): the 'before'
        number beside a trained model's scores."""
        fresh = self.clone()
        keras.utils.set_random_seed(seed)
        fresh.model_ = fresh._new_model()
        self.compile_model(fresh.model_, lambda group=None: keras.optimizers.Adam())
        return fresh

    # ---------------------------------------------------------------- metrics
    def score(self, dataset):
        if self.kind != "gan":
            metrics = {k: float(v) for k, v in self.model_.evaluate(dataset, verbose=0, return_dict=True).items()}
            if self.kind == "vae":
                metrics["negative_elbo"] = metrics["loss"]
            metrics["reconstruction_mse"] = float(
                np.mean(np.concatenate([_mse(self.model_, images) for images, _ in dataset]))
            )
            images, _ = _collect(dataset, BASELINE_SAMPLES)
            trivial = quality.independent_pixels(images, self.likelihood if self.kind == "vae" else "bernoulli")
            metrics["independent_pixels_baseline"] = (
                trivial if self.kind == "vae" else {"reconstruction_mse": trivial["reconstruction_mse"]}
            )
            return metrics
        return self._gan_metrics(dataset)

    def compare_with_baseline(self):
        """Records in `metrics_["baseline"]` how the judged part's score (lower is better: negative ELBO, an
        autoencoder's reconstruction MSE, a GAN's KID) compares with the independent-pixels model's on the
        same images (`quality.independent_pixels`), and warns, with what to try, when the run did no better."""
        part, scores = self._judged_part()
        trivial = scores.get("independent_pixels_baseline") or {}
        metric = {"vae": "negative_elbo", "autoencoder": "reconstruction_mse", "gan": "kid"}.get(self.kind)
        if scores.get(metric) is None or trivial.get(metric) is None:
            return
        compared = {
            "part": part,
            "metric": metric,
            "value": scores[metric],
            "independent_pixels": trivial[metric],
            "better_than_baseline": bool(scores[metric] < trivial[metric]),
        }
        self.metrics_["baseline"] = compared
        if compared["better_than_baseline"]:
            return
        compared["what_to_try"] = [
            "more epochs (--epochs) and more patience (--patience, --warmup-epochs)",
            f"the learning-rate finder (toolkit lr-find {self.task_name} --data ...)",
            "more images, or a smaller --image-size",
        ]
        warnings.warn(
            f"This run is no better than a model of independent pixels: {part} {metric} {compared['value']:.4f} "
            f"against {compared['independent_pixels']:.4f} (lower is better). Try: {'; '.join(compared['what_to_try'])}. "
            'Recorded in metrics.json under "baseline".',
            stacklevel=3,
        )

    def _gan_metrics(self, dataset):
        real, labels = _collect(dataset, QUALITY_SAMPLES)
        fake = _call(self.model_, self._example_inputs(len(real), self.seed + 2, labels))
        classifier = self.model_.feature_classifier
        features = quality.feature_model(classifier)
        real_features, fake_features = _call(features, real / 255.0), _call(features, fake / 255.0)
        losses = self.model_.evaluate(dataset, verbose=0, return_dict=True)
        shuffled_features = _call(features, quality.shuffled_pixels(real, self.seed) / 255.0)
        metrics = {
            # The discriminator's cross-entropy on these real images and as many generated ones.
            "loss": float(losses["d_loss"]),
            "g_loss": float(losses["g_loss"]),
            "kid": quality.kid(real_features, fake_features),
            "fid": quality.fid(real_features, fake_features),
            # The same measures for samples of independent pixels (`quality.shuffled_pixels`).
            "independent_pixels_baseline": {
                "kid": quality.kid(real_features, shuffled_features),
                "fid": quality.fid(real_features, shuffled_features),
            },
        }
        if self.conditional_:
            predicted = _call(classifier, fake / 255.0).argmax(-1)
            metrics["conditional_accuracy"] = float(np.mean(predicted == labels))
            metrics["per_class_accuracy"] = {
                name: float(np.mean(predicted[labels == i] == i))
                for i, name in enumerate(self.classes_)
                if np.any(labels == i)
            }
        return metrics

    # ------------------------------------------------------------- inference
    def _images(self, inputs):
        """Paths or arrays (one image or a batch) -> float32 images at the trained size."""
        if isinstance(inputs, (str, os.PathLike)):
            inputs = [inputs]
        if isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], (str, os.PathLike)):
            inputs = [str(p) for p in inputs]
        else:
            array = np.asarray(inputs) if not isinstance(inputs, (list, tuple)) else None
            if array is not None and (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (1, 3, 4))):
                inputs = array[None]
        return image_streams.to_array(inputs, tuple(self.image_size_), self.channels_, verbose=False).astype("float32")

    def _require(self, kinds, what):
        self.check_fitted()
        if self.kind not in kinds:
            raise ToolkitError(
                f"A {self.kind} does not {what}.",
                expected=f"a model of kind {' or '.join(repr(k) for k in kinds)}",
                fix=f"train with kind={kinds[0]!r}",
            )

    def report_figures(self):
        """Sixteen samples (VAEs and GANs) for the run's report."""
        from toolkit import figures

        if self.kind not in ("vae", "gan"):
            return []
        return [("Samples (seed 0)", figures.image_grid(self.sample(16, seed=0)))]

    def sample(self, n=16, seed=0, label=None):
        """New images from the VAE's prior or the GAN's noise, as uint8 arrays; the same seed gives the same images.

        Args:
            n: how many.
            seed: seed of the noise.
            label: for a conditional GAN, the class to draw (a class name, or None: classes in turn).

        Returns:
            uint8 array (n, height, width, channels).
        """
        self._require(("vae", "gan"), "sample new images")
        if self.kind == "vae":
            if label is not None:
                raise ToolkitError(
                    f"label={label!r} was given, but a VAE is not class-conditional.",
                    expected="label=None", fix="drop label=, or train kind='gan' on labelled data",
                )  # fmt: skip
            codes = np.random.default_rng(seed).normal(size=(n, self._latent_dim())).astype("float32")
            return _to_uint8(self.model_.decode(codes).numpy() * 255.0)
        labels = None
        if label is not None:
            labels = np.full(n, self._class_index(label))
        return _to_uint8(self.model_.predict(self._example_inputs(n, seed, labels), verbose=0))

    def write_samples(self, path, n, seed=0, label=None):
        """Writes `sample(n, seed, label)` as a PNG grid to `path` (never over an existing file); returns the path."""
        if os.path.exists(path):
            raise ToolkitError(
                f"'{path}' exists already; it was left as it is.",
                expected="a new file name for the samples",
                fix="pass another --output (or move the file)",
            )
        if n < 1:
            raise ToolkitError(
                f"num_samples={n} is not valid.", expected="an integer >= 1", fix="pass --num-samples 16"
            )
        return quality.write_grid(self.sample(n, seed=seed, label=label), path)

    def _class_index(self, label):
        if not self.conditional_:
            raise ToolkitError(
                f"label={label!r} was given, but this GAN is not class-conditional.",
                expected="label=None", fix="train on labelled data (class subfolders) for a conditional GAN",
            )  # fmt: skip
        names = [str(c) for c in self.classes_]
        if str(label) not in names:
            raise ToolkitError(
                f"label={label!r} is not a class this model knows.",
                expected=f"one of: {', '.join(names)}",
                fix="pass one of those class names",
            )
        return names.index(str(label))

    def reconstruct(self, images):
        """Images (paths or arrays) -> their reconstructions, uint8, at the trained size."""
        self._require(("autoencoder", "vae"), "reconstruct images")
        return _to_uint8(self.model_.predict(self._images(images), verbose=0))

    def encode(self, images):
        """Images -> codes (the autoencoder's bottleneck, the VAE's posterior mean), float32 (N, latent_dim)."""
        self._require(("autoencoder", "vae"), "encode images")
        codes = self.model_.encoder.predict(self._images(images) / 255.0, verbose=0)
        return codes[0] if self.kind == "vae" else codes

    def interpolate(self, a, b, steps=8):
        """The VAE's decoded images along the straight line between the codes of images `a` and `b` (uint8)."""
        self._require(("vae",), "interpolate between images")
        start, end = self.encode(
            [a, b] if isinstance(a, (str, os.PathLike)) else np.stack([np.asarray(a), np.asarray(b)])
        )
        weights = np.linspace(0.0, 1.0, steps, dtype="float32")[:, None]
        return _to_uint8(self.model_.decode((1 - weights) * start + weights * end).numpy() * 255.0)

    def anomaly_scores(self, images):
        """Per-image anomaly scores (higher: less like the training images): the autoencoder's mean squared
        reconstruction error, or the VAE's negative ELBO (nats, at the posterior mean)."""
        self._require(("autoencoder", "vae"), "score anomalies")
        x = self._images(images)
        return np.concatenate([self.model_.scores(x[i : i + 256]).numpy() for i in range(0, len(x), 256)])

    def predict(self, inputs):
        """Scores images.

        Args:
            inputs: an image path, a list of paths, one image array or a batch (0..255 pixels).

        Returns:
            Per image, for autoencoders and VAEs: {"anomaly_score", "anomaly" (above the threshold
            chosen on validation data), "reconstruction" (uint8 array)}; for GANs:
            {"real_probability"} (the discriminator's), and the feature classifier's "label"
            when the GAN is conditional.
        """
        self.check_fitted()
        x = self._images(inputs)
        if self.kind != "gan":
            scores = self.anomaly_scores(x)
            reconstructions = _to_uint8(self.model_.predict(x, verbose=0))
            threshold = self.threshold_
            return [
                {
                    "anomaly_score": float(s),
                    "anomaly": bool(threshold is not None and s > threshold),
                    "reconstruction": r,
                }
                for s, r in zip(scores, reconstructions)
            ]
        scaled = x / 127.5 - 1.0
        answers = [{} for _ in x]
        if self.conditional_:
            labels = self.model_.feature_classifier.predict(x / 255.0, verbose=0).argmax(-1)
            logits = self.model_.discriminator.predict([scaled, labels.astype("int32")], verbose=0)
            for answer, label in zip(answers, labels):
                answer["label"] = str(self.classes_[int(label)])
        else:
            logits = self.model_.discriminator.predict(scaled, verbose=0)
        for answer, logit in zip(answers, logits[:, 0]):
            answer["real_probability"] = float(1 / (1 + np.exp(-logit)))
        return answers

    def evaluate(self, data, anomalies=None):
        """Scores the model on `data`; with `anomalies` (images that are not like the training data, any form
        `fit` takes), also how well the anomaly scores separate them: `roc_auc`, and at the saved threshold
        `detection_rate` (anomalies flagged) and `false_alarm_rate` (normal images flagged).
        """
        metrics = super().evaluate(data)
        if anomalies is None:
            return metrics
        from sklearn.metrics import roc_auc_score

        self._require(("autoencoder", "vae"), "score anomalies")
        normal = self._scores_of(data)
        odd = self._scores_of(anomalies)
        truth = np.r_[np.zeros(len(normal)), np.ones(len(odd))]
        metrics["roc_auc"] = float(roc_auc_score(truth, np.r_[normal, odd]))
        if self.threshold_ is not None:
            metrics["detection_rate"] = float(np.mean(odd > self.threshold_))
            metrics["false_alarm_rate"] = float(np.mean(normal > self.threshold_))
        return metrics

    def _scores_of(self, data):
        with self.data_errors():
            return np.concatenate([self.model_.scores(images).numpy() for images, _ in self.evaluation_data(data)])

    def find_learning_rate(self, data=None, min_rate=1e-7, max_rate=1.0, steps=100):
        if self.kind == "gan":
            raise ToolkitError(
                "The learning-rate range test follows one training loss, and a GAN has two that play against "
                "each other (the discriminator's falls as the generator's rises).",
                expected="kind='autoencoder' or 'vae' for a range test",
                fix="train the GAN at DCGAN's rate (the default, 2e-4), or tune learning_rate with tune=True",
            )
        return super().find_learning_rate(data, min_rate, max_rate, steps)

    def search_space(self, hp):
        space = super().search_space(hp)
        space["learning_rate"] = hp.Float("learning_rate", 5e-5, 5e-3, sampling="log")
        space["width"] = hp.Choice("width", [16, 32, 64])
        space["latent_dim"] = hp.Choice("latent_dim", [8, 16, 32, 64])
        return space

    # ------------------------------------------------------------ save / load
    def save(self, path):
        """Writes config.json and model.keras, and a grid of samples (VAE, GAN) or reconstructions (autoencoder)."""
        super().save(path)
        if self.kind == "autoencoder":
            return
        rows = len(self.classes_) if self.conditional_ else 8
        images = (
            self.sample(rows * 8, seed=self.seed)
            if not self.conditional_
            else np.concatenate([self.sample(8, seed=self.seed, label=name) for name in self.classes_])
        )
        quality.write_grid(images, os.path.join(path, SAMPLES_FILE), columns=8)


def _collect(dataset, limit):
    """Up to `limit` images (float32) and their labels from a batched dataset."""
    images, labels, count = [], [], 0
    for x, y in dataset:
        images.append(x.numpy())
        labels.append(y.numpy())
        count += len(images[-1])
        if count >= limit:
            break
    return np.concatenate(images)[:limit], np.concatenate(labels)[:limit]


def _call(model, inputs, batch_size=256):
    """`model` on `inputs` (an array, or a list of arrays) in batches, eagerly: called with new shapes and
    models every epoch, `predict` would retrace its function each time."""
    parts = inputs if isinstance(inputs, list) else [inputs]
    outputs = [
        keras.ops.convert_to_numpy(
            model(
                [p[i : i + batch_size] for p in parts] if len(parts) > 1 else parts[0][i : i + batch_size],
                training=False,
            )
        )
        for i in range(0, len(parts[0]), batch_size)
    ]
    return np.concatenate(outputs)


def _mse(model, images):
    x = images / 255.0
    return np.mean(np.square(model(images).numpy() / 255.0 - x.numpy()), axis=(1, 2, 3))


def _to_uint8(images):
    return np.clip(np.round(np.asarray(images)), 0, 255).astype(np.uint8)


def _are_paths(images):
    return not isinstance(images, data_lib.Stream) and len(images) > 0 and isinstance(images[0], (str, os.PathLike))


def train_image_generator(data=None, validation_data=None, **kwargs):
    """Trains an autoencoder, VAE or GAN in one line and returns the fitted `ImageGenerator`.

    Args:
        data: a folder of images (class subfolders optional), an array of images, (images, labels),
            a tf.data.Dataset, "digits" (the default) or "tfds:NAME".
        validation_data: same forms; default a seeded split of `data`.
        **kwargs: `ImageGenerator` arguments (kind, latent_dim, epochs, ...).

    Returns:
        The fitted `ImageGenerator`; its run, with a grid of samples, is in `gen.run_dir`.

    Examples:
        >>> gen = train_image_generator(kind="vae", epochs=30)  # doctest: +SKIP
        >>> gen.sample(4, seed=0).shape  # doctest: +SKIP
        (4, 8, 8, 1)
    """
    return ImageGenerator(**kwargs).fit(data, validation_data)
