"""The kinds of image generator that reconstruct: an autoencoder, and a VAE, which also samples."""

import os

import numpy as np

from tasks.image_generation import model as model_lib
from tasks.image_generation import networks, quality
from tasks.image_generation.base import ImageGenerator, kind_class

BASELINE_SAMPLES = 5000  # images the independent-pixels baseline is fitted to and scored on (a part's first)


@kind_class("autoencoder")
class AutoencoderGenerator(ImageGenerator):
    """`ImageGenerator(kind="autoencoder")`: reconstructs images and scores anomalies by reconstruction error."""

    baseline_metric = "reconstruction_mse"

    def build_model(self):
        args = (self.backbone, (*self.image_size_, self.channels_), self.width, self.depth)
        latent = self._latent_dim()
        model = self._pair(networks.encoder(*args, latent, self.kind == "vae"), args, latent)
        model(np.zeros((1, *self.image_size_, self.channels_), "float32"))
        return model

    def _pair(self, encoder, args, latent):
        return model_lib.Autoencoder(encoder, networks.decoder(*args, latent, "sigmoid"))

    def trainable_groups(self, model):
        return {"encoder": [model.encoder], "decoder": [model.decoder]}

    def compile_model(self, model, make_optimizer):
        model.compile(optimizer=make_optimizer())

    def after_training(self, model, splits):
        """The anomaly threshold: the (1 - anomaly_fraction) quantile of the validation images' scores."""
        if splits.validation is None:
            self.threshold_ = None
            return
        scores = np.concatenate([model.scores(images).numpy() for images, _ in splits.validation])
        self.threshold_ = float(np.quantile(scores, 1 - self.anomaly_fraction))

    def score(self, dataset):
        metrics = {k: float(v) for k, v in self.model_.evaluate(dataset, verbose=0, return_dict=True).items()}
        if self.kind == "vae":
            metrics["negative_elbo"] = metrics["loss"]
        metrics["reconstruction_mse"] = float(
            np.mean(np.concatenate([quality.reconstruction_mse(self.model_, images) for images, _ in dataset]))
        )
        images, _ = quality.collect(dataset, BASELINE_SAMPLES)
        trivial = quality.independent_pixels(images, self.likelihood if self.kind == "vae" else "bernoulli")
        metrics["independent_pixels_baseline"] = (
            trivial if self.kind == "vae" else {"reconstruction_mse": trivial["reconstruction_mse"]}
        )
        return metrics

    def reconstruct(self, images):
        self.check_fitted()
        return quality.to_uint8(self._infer(self._images(images)))

    def encode(self, images):
        """Images -> codes (the autoencoder's bottleneck, the VAE's posterior mean), float32 (N, latent_dim)."""
        self.check_fitted()
        codes = self._infer(self._images(images) / 255.0, self.model_.encoder)
        return codes[0] if self.kind == "vae" else codes

    def anomaly_scores(self, images):
        """Per-image anomaly scores (higher: less like the training images): the autoencoder's mean squared
        reconstruction error, or the VAE's negative ELBO (nats, at the posterior mean)."""
        self.check_fitted()
        x = self._images(images)
        return np.concatenate([self.model_.scores(x[i : i + 256]).numpy() for i in range(0, len(x), 256)])

    def evaluate(self, data, anomalies=None):
        metrics = super().evaluate(data)
        if anomalies is None:
            return metrics
        normal, odd = self._scores_of(data), self._scores_of(anomalies)
        return {**metrics, **quality.anomaly_metrics(normal, odd, self.threshold_)}

    evaluate.__doc__ = ImageGenerator.evaluate.__doc__

    def _scores_of(self, data):
        with self.data_errors():
            return np.concatenate([self.model_.scores(images).numpy() for images, _ in self.evaluation_data(data)])

    def predict(self, inputs):
        """Scores images.

        Args:
            inputs: an image path, a list of paths, one image array or a batch (0..255 pixels).

        Returns:
            Per image: {"anomaly_score", "anomaly" (above the threshold chosen on validation data),
            "reconstruction" (uint8 array)}.
        """
        self.check_fitted()
        x = self._images(inputs)
        scores = self.anomaly_scores(x)
        reconstructions = quality.to_uint8(self._infer(x))
        threshold = self.threshold_
        return [
            {"anomaly_score": float(s), "anomaly": bool(threshold is not None and s > threshold), "reconstruction": r}
            for s, r in zip(scores, reconstructions)
        ]


@kind_class("vae")
class VAEGenerator(AutoencoderGenerator):
    """`ImageGenerator(kind="vae")`: a variational autoencoder; also samples and interpolates."""

    baseline_metric = "negative_elbo"
    draws_samples = True

    def _pair(self, encoder, args, latent):
        activation = None if self.likelihood == "bernoulli" else "sigmoid"
        decoder = networks.decoder(*args, latent, activation)
        return model_lib.VAE(encoder, decoder, likelihood=self.likelihood, seed=self.seed)

    def task_callbacks(self, validation):
        return [quality.KLWarmup(self.beta, self.beta_warmup)] if self.beta_warmup or self.beta != 1 else []

    def sample(self, n=16, seed=0, label=None):
        """New images from the prior, as uint8 arrays (n, height, width, channels); the same seed gives the same images."""
        self.check_fitted()
        if label is not None:
            raise self._not_conditional(label, "a VAE is not class-conditional", "drop label=, or train kind='gan' on "
                                        "labelled data")  # fmt: skip
        codes = np.random.default_rng(seed).normal(size=(n, self._latent_dim())).astype("float32")
        return quality.to_uint8(self.model_.decode(codes).numpy() * 255.0)

    def interpolate(self, a, b, steps=8):
        """The decoded images along the straight line between the codes of images `a` and `b` (uint8)."""
        start, end = self.encode(
            [a, b] if isinstance(a, (str, os.PathLike)) else np.stack([np.asarray(a), np.asarray(b)])
        )
        weights = np.linspace(0.0, 1.0, steps, dtype="float32")[:, None]
        return quality.to_uint8(self.model_.decode((1 - weights) * start + weights * end).numpy() * 255.0)
