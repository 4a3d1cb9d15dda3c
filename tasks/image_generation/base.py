"""The image generation task's shared part: arguments, data, the kind dispatch and the methods every
kind answers; `autoencoders.py` and `gan.py` hold what differs by kind."""

import os

import keras

from tasks.image_generation import augment as augment_lib
from tasks.image_generation import data as generation_data
from tasks.image_generation import networks, quality
from tasks.image_generation.preprocessor import GenerationPreprocessor
from tasks.image_task import ImageTask
from toolkit import data as data_lib
from toolkit import estimator
from toolkit.errors import ToolkitError
from toolkit.saving import register_task

KINDS = ("autoencoder", "vae", "gan")
LIKELIHOODS = ("bernoulli", "gaussian")
NORMS = ("spectral", "batch")
DEFAULT_LATENT = {"autoencoder": 8, "vae": 16, "gan": 64}
SAMPLES_FILE = "samples.png"


def kind_class(kind):
    """Class decorator: the class `ImageGenerator(kind=kind)` builds."""

    def register(cls):
        ImageGenerator.kinds[kind] = cls
        return cls

    return register


@register_task
class ImageGenerator(ImageTask):
    """Learns a distribution of images: an autoencoder, a VAE or a (conditional) GAN.

    `ImageGenerator(kind=...)` builds the class of that kind (`AutoencoderGenerator`,
    `VAEGenerator`, `GANGenerator`), each a subclass with the hooks and methods of its kind.

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
    preprocessor_class = GenerationPreprocessor
    kinds = {}  # kind -> the class that trains it (filled by `kind_class`)
    monitor = "val_loss"
    has_discriminator = False  # a GAN: augment= and conditional= apply
    draws_samples = False  # VAEs and GANs: samples in the report and beside the saved model
    baseline_metric = None  # the lower-is-better score compared with the independent-pixels model

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

    def __new__(cls, *args, **kwargs):
        # One task name, one set of arguments, a class per kind: kind= chooses which (an unknown kind gets
        # the base class, whose argument check names the valid ones).
        return super().__new__(cls.kinds.get(kwargs.get("kind", "vae"), cls))

    def _latent_dim(self):
        return self.latent_dim or DEFAULT_LATENT[self.kind]

    def _divisor(self):
        return networks.BACKBONES.get(self.backbone).divisor(self.depth)

    def _check_combinations(self):
        super()._check_combinations()
        if self.backbone not in self.accepted_backbones():
            raise estimator.invalid_argument("backbone", self.backbone, f"one of {self.accepted_backbones()}")
        augment_lib.check(self.augment)
        for name, what in (("augment", "augments a GAN discriminator's inputs"), ("conditional", "is for GANs")):
            value = getattr(self, name)
            if value and not self.has_discriminator:
                raise ToolkitError(
                    f"{name}={tuple(value) if name == 'augment' else value!r} {what}; kind={self.kind!r} has none.",
                    expected=f"{name}={'()' if name == 'augment' else 'None or False'} for autoencoders and VAEs",
                    fix=f"drop {name}=, or use kind='gan'",
                )
        networks.check_image_size(self.image_size, self._divisor(), self.depth)

    # ------------------------------------------------------------------- data
    def read_data(self, data):
        return generation_data.read(data, self.data_dir)

    def make_preprocessor(self):
        return GenerationPreprocessor(
            image_size=self.image_size, channels=self.channels, divisor=self._divisor(), seed=self.seed
        )

    def prepare_data(self, data, validation_data):
        splits = super().prepare_data(data, validation_data)
        labelled = self.classes_ is not None
        self.conditional_ = self._conditional(labelled)
        size, info = self.image_size_, splits.info
        self.say(f"Image size: {size[0]}x{size[1]}x{self.channels_} ({self.preprocessor_.size_source}; pass "
                 "image_size= to choose).")  # fmt: skip
        classes = f"{len(self.classes_)} classes ({'' if self.conditional_ else 'un'}conditional); " if labelled else ""
        self.say(
            f"Image generation ({self.kind}): {classes}{info['train_examples']} train / "
            f"{info['validation_examples']} validation / {info['test_examples']} test images."
        )
        return splits

    def _conditional(self, labelled):  # a class-conditional model: a GAN's, on labelled data
        return False

    # ---------------------------------------------------------------- metrics
    def _untrained(self, seed):
        """This fitted task with freshly initialised networks (a GAN's feature classifier kept): the 'before'
        number beside a trained model's scores."""
        fresh = self.clone()
        keras.utils.set_random_seed(seed)
        fresh.model_ = fresh._new_model()
        self.compile_model(fresh.model_, lambda group=None: keras.optimizers.Adam())
        return fresh

    def compare_with_baseline(self):
        """Records in `metrics_["baseline"]` how the judged part's score (lower is better: negative ELBO, an
        autoencoder's reconstruction MSE, a GAN's KID) compares with the independent-pixels model's."""
        part, scores = self._judged_part()
        compared = quality.compare_with_independent_pixels(part, scores, self.baseline_metric, self.task_name)
        if compared is not None:
            self.metrics_["baseline"] = compared

    # ------------------------------------------------------------- inference
    def _images(self, inputs):
        """Paths or arrays (one image or a batch) -> float32 images at the trained size."""
        return self.preprocessor_.inputs(inputs)

    def _cannot(self, what, kinds):
        self.check_fitted()
        return ToolkitError(
            f"A {self.kind} does not {what}.",
            expected=f"a model of kind {' or '.join(repr(k) for k in kinds)}",
            fix=f"train with kind={kinds[0]!r}",
        )

    def _not_conditional(self, label, why, fix):
        return ToolkitError(f"label={label!r} was given, but {why}.", expected="label=None", fix=fix)

    def sample(self, n=16, seed=0, label=None):
        """New images as uint8 arrays (n, height, width, channels) (VAEs and GANs; `label`: a conditional GAN's class)."""
        raise self._cannot("sample new images", ("vae", "gan"))

    def reconstruct(self, images):
        """Images (paths or arrays) -> their reconstructions, uint8, at the trained size (autoencoders and VAEs)."""
        raise self._cannot("reconstruct images", ("autoencoder", "vae"))

    def encode(self, images):
        """Images -> codes, float32 (N, latent_dim) (autoencoders and VAEs)."""
        raise self._cannot("encode images", ("autoencoder", "vae"))

    def interpolate(self, a, b, steps=8):
        """Decoded images between the codes of images `a` and `b` (VAEs)."""
        raise self._cannot("interpolate between images", ("vae",))

    def anomaly_scores(self, images):
        """Per-image anomaly scores, higher: less like the training images (autoencoders and VAEs)."""
        raise self._cannot("score anomalies", ("autoencoder", "vae"))

    def report_figures(self):
        """Sixteen samples (VAEs and GANs) for the run's report."""
        from toolkit import figures

        if not self.draws_samples:
            return []
        return [("Samples (seed 0)", figures.image_grid(self.sample(16, seed=0)))]

    def write_samples(self, path, n, seed=0, label=None):
        """Writes `sample(n, seed, label)` as a PNG grid to `path` (never over an existing file); returns the path."""
        quality.check_new_grid(path, n)
        return quality.write_grid(self.sample(n, seed=seed, label=label), path)

    def evaluate(self, data, anomalies=None):
        """Scores the model on `data`; with `anomalies` (images unlike the training data, any form `fit` takes),
        also how well the anomaly scores separate them (autoencoders and VAEs: `roc_auc`, `detection_rate`,
        `false_alarm_rate`)."""
        if anomalies is not None:
            raise self._cannot("score anomalies", ("autoencoder", "vae"))
        return super().evaluate(data)

    def search_space(self, hp):
        space = super().search_space(hp)
        space["learning_rate"] = hp.Float("learning_rate", 5e-5, 5e-3, sampling="log")
        space["width"] = hp.Choice("width", [16, 32, 64])
        space["latent_dim"] = hp.Choice("latent_dim", [8, 16, 32, 64])
        return space

    def save(self, path):
        """Writes config.json and model.keras, and a grid of samples (VAE, GAN)."""
        super().save(path)
        if self.draws_samples:
            classes = self.classes_ if self.conditional_ else None
            grid = quality.sample_rows(self.sample, classes, self.seed)
            quality.write_grid(grid, os.path.join(path, SAMPLES_FILE), columns=8)
