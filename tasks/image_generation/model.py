"""The three generative models, each a `keras.Model` with its own `train_step` (the Keras pattern for them).

All three take and give 0..255 pixels (float) and scale inside, so the saved model
is used like the other tasks' models. Their losses are written out here because
they are the definitions (a reconstruction error, the evidence lower bound, the
non-saturating GAN loss); Keras has no layer for them.
"""

import math

import keras
import tensorflow as tf

from tasks.image_generation import augment as augment_lib


def _images(data):
    """The image batch of an (images, labels) batch or of a bare image batch."""
    return data[0] if isinstance(data, (tuple, list)) else data


def _labels(data):
    return data[1] if isinstance(data, (tuple, list)) and len(data) > 1 else None


def _scale_and_apply(optimizer, tape, loss, variables):
    """Gradients of `loss` for `variables`, applied; a loss-scaling optimizer (mixed_float16) scales and unscales."""
    if not variables:
        return
    grads = tape.gradient(optimizer.scale_loss(loss), variables)
    optimizer.apply(grads, variables)


class _PairModel(keras.Model):
    """A model made of two named networks, saved and reloaded with both (no custom_objects needed)."""

    parts = ()

    def get_config(self):
        config = {"name": self.name}
        for part in self.parts:
            config[part] = keras.saving.serialize_keras_object(getattr(self, part))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for part in cls.parts:
            if config.get(part) is not None:
                config[part] = keras.saving.deserialize_keras_object(config[part])
        return cls(**config)


@keras.saving.register_keras_serializable(package="toolkit")
class Autoencoder(_PairModel):
    """Encoder and decoder trained to reproduce their input; the loss is the mean squared error on [0, 1] pixels.

    Examples:
        >>> import numpy as np
        >>> from tasks.image_generation import networks
        >>> model = Autoencoder(networks.encoder("dense", (8, 8, 1), 8, 1, 4, False),
        ...                     networks.decoder("dense", (8, 8, 1), 8, 1, 4, "sigmoid"))
        >>> model(np.zeros((2, 8, 8, 1), "float32")).shape
        TensorShape([2, 8, 8, 1])
    """

    parts = ("encoder", "decoder")

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def call(self, images, training=False):
        return self.decoder(self.encoder(images / 255.0, training=training), training=training) * 255.0

    def scores(self, images):
        """Per-image mean squared reconstruction error on [0, 1] pixels (the anomaly score)."""
        x = tf.cast(images, "float32") / 255.0
        reconstruction = self.decoder(self.encoder(x, training=False), training=False)
        return tf.reduce_mean(tf.square(reconstruction - x), axis=[1, 2, 3])

    def _loss(self, x, training):
        """Per-image mean squared error: the trackers average images, so a short last batch weighs
        what its images do."""
        reconstruction = self.decoder(self.encoder(x, training=training), training=training)
        return tf.reduce_mean(tf.square(reconstruction - x), axis=[1, 2, 3])

    def train_step(self, data):
        x = tf.cast(_images(data), "float32") / 255.0
        with tf.GradientTape() as tape:
            per_image = self._loss(x, True)
            total = tf.reduce_mean(per_image) + (tf.add_n(self.losses) if self.losses else 0.0)
        _scale_and_apply(self.optimizer, tape, total, self.trainable_variables)
        self.loss_tracker.update_state(per_image)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        self.loss_tracker.update_state(self._loss(tf.cast(_images(data), "float32") / 255.0, False))
        return {"loss": self.loss_tracker.result()}


@keras.saving.register_keras_serializable(package="toolkit")
class VAE(_PairModel):
    """A variational autoencoder (Kingma & Welling 2014): a Gaussian posterior, a N(0, I) prior.

    The loss is the negative evidence lower bound in nats per image: the decoder's
    negative log-likelihood of the image (Bernoulli on [0, 1] pixels, or Gaussian with
    a learned scale) plus the KL divergence of the posterior from the prior. In
    training the KL term is weighted by `kl_weight` (beta, warmed up by the task);
    validation always reports the true bound (weight 1).

    Args:
        encoder: image in [0, 1] -> [mean, log-variance].
        decoder: code -> pixel logits ("bernoulli") or pixel means in [0, 1] ("gaussian").
        likelihood: "bernoulli" or "gaussian".
        seed: seed of the reparameterisation noise.
    """

    parts = ("encoder", "decoder")

    def __init__(self, encoder, decoder, likelihood="bernoulli", seed=0, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihood
        self.seed = seed
        self.noise = keras.random.SeedGenerator(seed)
        self.kl_weight = self.add_weight(shape=(), initializer="ones", trainable=False, name="kl_weight")
        # One learned log standard deviation for every pixel of the Gaussian decoder (unused for Bernoulli).
        self.log_scale = self.add_weight(shape=(), initializer="zeros", trainable=likelihood == "gaussian",
                                         name="log_scale")  # fmt: skip
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    def get_config(self):
        return {**super().get_config(), "likelihood": self.likelihood, "seed": self.seed}

    def decode(self, codes, training=False):
        """Codes -> pixel means in [0, 1]."""
        out = self.decoder(codes, training=training)
        return tf.sigmoid(out) if self.likelihood == "bernoulli" else out

    def call(self, images, training=False):
        mean, _ = self.encoder(images / 255.0, training=training)
        return self.decode(mean, training=training) * 255.0

    def terms(self, x, training=False, sample=True):
        """(reconstruction negative log-likelihood, KL) per image, in nats, for images in [0, 1].

        `sample=False` decodes the posterior mean instead of a sample: a deterministic
        score (the anomaly score of one image is then repeatable).
        """
        mean, log_var = self.encoder(x, training=training)
        z = mean
        if sample:
            z = mean + tf.exp(0.5 * log_var) * keras.random.normal(tf.shape(mean), seed=self.noise)
        out = self.decoder(z, training=training)
        if self.likelihood == "bernoulli":
            nll = tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=out)
        else:
            scale = tf.exp(self.log_scale)
            nll = 0.5 * tf.square((x - out) / scale) + self.log_scale + 0.5 * math.log(2 * math.pi)
        reconstruction = tf.reduce_sum(nll, axis=[1, 2, 3])
        kl = -0.5 * tf.reduce_sum(1 + log_var - tf.square(mean) - tf.exp(log_var), axis=-1)
        return reconstruction, kl

    def scores(self, images):
        """Per-image negative ELBO at the posterior mean, in nats (the anomaly score)."""
        reconstruction, kl = self.terms(tf.cast(images, "float32") / 255.0, sample=False)
        return reconstruction + kl

    def _track(self, reconstruction, kl):
        # Per-image values: a Mean over them weighs every image alike, whatever the batch sizes.
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)

    def train_step(self, data):
        x = tf.cast(_images(data), "float32") / 255.0
        with tf.GradientTape() as tape:
            reconstruction, kl = self.terms(x, training=True)
            per_image = reconstruction + self.kl_weight * kl
            total = tf.reduce_mean(per_image) + (tf.add_n(self.losses) if self.losses else 0.0)
        _scale_and_apply(self.optimizer, tape, total, self.trainable_variables)
        self.loss_tracker.update_state(per_image)
        self._track(reconstruction, kl)
        return {m.name: m.result() for m in (self.loss_tracker, self.reconstruction_tracker, self.kl_tracker)}

    def test_step(self, data):
        reconstruction, kl = self.terms(tf.cast(_images(data), "float32") / 255.0)
        self.loss_tracker.update_state(reconstruction + kl)
        self._track(reconstruction, kl)
        return {m.name: m.result() for m in (self.loss_tracker, self.reconstruction_tracker, self.kl_tracker)}


@keras.saving.register_keras_serializable(package="toolkit")
class GAN(_PairModel):
    """A (conditional) DCGAN: generator and discriminator, each with its own optimizer step per batch.

    The non-saturating loss of Goodfellow et al. (2014), one-sided label smoothing
    (real targets 1 - `label_smoothing`, Salimans et al. 2016), and differentiable
    augmentation of everything the discriminator sees (`augment`, Zhao et al. 2020)
    for small data. `feature_classifier` (frozen) is kept with the model: it is the
    feature space of the KID / FID the task reports.

    Call: noise (N, latent_dim) or [noise, labels] -> images in 0..255.
    """

    parts = ("generator", "discriminator", "feature_classifier")

    def __init__(
        self,
        generator,
        discriminator,
        feature_classifier=None,
        latent_dim=64,
        num_classes=0,
        label_smoothing=0.1,
        augment=(),
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.feature_classifier = feature_classifier
        if feature_classifier is not None:
            feature_classifier.trainable = False
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing
        self.augment = tuple(augment)
        self.seed = seed
        self.noise = keras.random.SeedGenerator(seed)
        self.d_tracker = keras.metrics.Mean(name="d_loss")
        self.g_tracker = keras.metrics.Mean(name="g_loss")
        self.real_tracker = keras.metrics.Mean(name="d_real")  # the discriminator's mean P(real) on real images

    def get_config(self):
        return {
            **super().get_config(),
            "latent_dim": self.latent_dim,
            "num_classes": self.num_classes,
            "label_smoothing": self.label_smoothing,
            "augment": list(self.augment),
            "seed": self.seed,
        }

    def call(self, inputs, training=False):
        return (self.generator(inputs, training=training) + 1.0) * 127.5

    def compile(self, generator_optimizer=None, discriminator_optimizer=None, **kwargs):
        super().compile(optimizer=generator_optimizer, **kwargs)
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        if generator_optimizer is not None:
            # Built now, so a resumed run's backup restores both optimizers' state (Keras builds only model.optimizer).
            generator_optimizer.build(self.generator.trainable_variables)
            discriminator_optimizer.build(self.discriminator.trainable_variables)

    # Keras saves and reloads a compile() it knows; these two let it rebuild this one, with both optimizers.
    def get_compile_config(self):
        if getattr(self, "generator_optimizer", None) is None:
            return None
        return {
            "generator_optimizer": keras.saving.serialize_keras_object(self.generator_optimizer),
            "discriminator_optimizer": keras.saving.serialize_keras_object(self.discriminator_optimizer),
        }

    def compile_from_config(self, config):
        self.compile(
            generator_optimizer=keras.optimizers.get(config["generator_optimizer"]),
            discriminator_optimizer=keras.optimizers.get(config["discriminator_optimizer"]),
        )

    def _discriminate(self, images, labels, training):
        images = augment_lib.apply(images, self.augment, self.noise) if training and self.augment else images
        return self.discriminator([images, labels] if self.num_classes else images, training=training)

    def _generate(self, batch, labels, training):
        noise = keras.random.normal((batch, self.latent_dim), seed=self.noise)
        return self.generator([noise, labels] if self.num_classes else noise, training=training)

    def _d_loss(self, real_logits, fake_logits):
        real_targets = tf.fill(tf.shape(real_logits), 1.0 - self.label_smoothing)
        return _bce(real_targets, real_logits) + _bce(tf.zeros_like(fake_logits), fake_logits)

    def train_step(self, data):
        real = tf.cast(_images(data), "float32") / 127.5 - 1.0
        labels = tf.cast(_labels(data), "int32") if self.num_classes else None
        batch = tf.shape(real)[0]
        # The discriminator's step, then the generator's, each with its own optimizer.
        with tf.GradientTape() as tape:
            real_logits = self._discriminate(real, labels, True)
            d_loss = self._d_loss(real_logits, self._discriminate(self._generate(batch, labels, True), labels, True))
            d_total = d_loss + (tf.add_n(self.discriminator.losses) if self.discriminator.losses else 0.0)
        _scale_and_apply(self.discriminator_optimizer, tape, d_total, self.discriminator.trainable_variables)
        with tf.GradientTape() as tape:
            fake_logits = self._discriminate(self._generate(batch, labels, True), labels, True)
            g_loss = _bce(tf.ones_like(fake_logits), fake_logits)  # non-saturating: maximise log D(G(z))
            g_total = g_loss + (tf.add_n(self.generator.losses) if self.generator.losses else 0.0)
        _scale_and_apply(self.generator_optimizer, tape, g_total, self.generator.trainable_variables)
        return self._track(d_loss, g_loss, real_logits)

    def _track(self, d_loss, g_loss, real_logits):
        self.d_tracker.update_state(d_loss)
        self.g_tracker.update_state(g_loss)
        self.real_tracker.update_state(tf.reduce_mean(tf.sigmoid(real_logits)))
        return {m.name: m.result() for m in (self.d_tracker, self.g_tracker, self.real_tracker)}

    def test_step(self, data):
        real = tf.cast(_images(data), "float32") / 127.5 - 1.0
        labels = tf.cast(_labels(data), "int32") if self.num_classes else None
        fake_logits = self._discriminate(self._generate(tf.shape(real)[0], labels, False), labels, False)
        real_logits = self._discriminate(real, labels, False)
        return self._track(
            self._d_loss(real_logits, fake_logits), _bce(tf.ones_like(fake_logits), fake_logits), real_logits
        )


def _bce(targets, logits):
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits))
