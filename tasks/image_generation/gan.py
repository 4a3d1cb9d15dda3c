"""The GAN kind of image generator: a (conditional) DCGAN-style generator and discriminator, early-stopped
on the KID of its samples, measured in the features of a classifier trained on the training part."""

import warnings

import keras
import numpy as np

from tasks.image_generation import model as model_lib
from tasks.image_generation import networks, quality
from tasks.image_generation.base import ImageGenerator, kind_class
from toolkit.errors import ToolkitError
from toolkit.task import Task

QUALITY_SAMPLES = 1000  # real and generated images per KID / FID measurement


@kind_class("gan")
class GANGenerator(ImageGenerator):
    """`ImageGenerator(kind="gan")`: samples new images (of a class, when trained on labels)."""

    monitor = "val_kid"  # the KID of its samples; the other kinds follow their validation loss
    has_discriminator = True
    draws_samples = True
    baseline_metric = "kid"
    # Kept inside the GAN's model.keras, not in config.json.
    unsaved_attributes = Task.unsaved_attributes + ("feature_classifier_",)

    def _default_learning_rate(self):
        return 2e-4  # DCGAN's rate

    def prepare_data(self, data, validation_data):
        splits = super().prepare_data(data, validation_data)
        self.feature_classifier_ = self._train_feature_classifier(splits)
        splits.info["feature_classifier_accuracy"] = self._feature_accuracy
        return splits

    def _conditional(self, labelled):
        if self.conditional and not labelled:
            raise ToolkitError(
                "conditional=True needs labels, and the data has none.",
                expected="a folder of class subfolders, (images, labels), or a labelled dataset",
                fix="give labelled data, or pass conditional=None",
            )
        return bool(labelled and self.conditional is not False)

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
        args = (self.backbone, (*self.image_size_, self.channels_), self.width, self.depth)
        latent, num_classes = self._latent_dim(), len(self.classes_) if self.conditional_ else 0
        model = model_lib.GAN(
            networks.generator(*args, latent, num_classes),
            networks.discriminator(*args, num_classes, self.discriminator_norm),
            feature_classifier=self.feature_classifier_,
            latent_dim=latent,
            num_classes=num_classes,
            label_smoothing=self.label_smoothing,
            augment=self.augment,
            seed=self.seed,
        )
        model(self._noise(1))
        return model

    def _noise(self, count, seed=0, labels=None):
        """What the generator takes for `count` images: noise, and class indices when conditional."""
        noise = np.random.default_rng(seed).normal(size=(count, self._latent_dim())).astype("float32")
        if not self.conditional_:
            return noise
        labels = np.arange(count) % len(self.classes_) if labels is None else labels
        return [noise, np.asarray(labels, "int32")]

    def trainable_groups(self, model):
        return {"generator": [model.generator], "discriminator": [model.discriminator]}

    def compile_model(self, model, make_optimizer):
        optimizers = make_optimizer("generator"), make_optimizer("discriminator")
        if self.optimizer == "adam":
            for optimizer in optimizers:
                # DCGAN's Adam: a first-moment decay of 0.5, not 0.9, keeps the two-player updates from overshooting.
                getattr(optimizer, "inner_optimizer", optimizer).beta_1 = 0.5
        model.compile(generator_optimizer=optimizers[0], discriminator_optimizer=optimizers[1])

    def task_callbacks(self, validation):
        return [] if validation is None else [quality.KIDMonitor(self._kid_measure(validation))]

    def _kid_measure(self, validation):
        """() -> KID between (up to `QUALITY_SAMPLES`) validation images and as many samples from fixed noise."""
        real, labels = quality.collect(validation, QUALITY_SAMPLES)
        features = quality.feature_model(self.feature_classifier_)
        real_features = quality.call(features, real / 255.0)
        inputs = self._noise(len(real), seed=self.seed + 1, labels=labels)

        def measure(model):
            return quality.kid(real_features, quality.call(features, quality.call(model, inputs) / 255.0))

        return measure

    def after_training(self, model, splits):
        self.threshold_ = None  # no anomaly scores

    def score(self, dataset):
        return self._gan_metrics(dataset)

    def _gan_metrics(self, dataset):
        real, labels = quality.collect(dataset, QUALITY_SAMPLES)
        fake = quality.call(self.model_, self._noise(len(real), self.seed + 2, labels))
        classifier = self.model_.feature_classifier
        features = quality.feature_model(classifier)
        real_features, fake_features = quality.call(features, real / 255.0), quality.call(features, fake / 255.0)
        losses = self.model_.evaluate(dataset, verbose=0, return_dict=True)
        shuffled_features = quality.call(features, quality.shuffled_pixels(real, self.seed) / 255.0)
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
            predicted = quality.call(classifier, fake / 255.0).argmax(-1)
            metrics["conditional_accuracy"] = float(np.mean(predicted == labels))
            metrics["per_class_accuracy"] = {
                name: float(np.mean(predicted[labels == i] == i))
                for i, name in enumerate(self.classes_)
                if np.any(labels == i)
            }
        return metrics

    # ------------------------------------------------------------- inference
    def sample(self, n=16, seed=0, label=None):
        """New images from the generator's noise, as uint8 arrays (n, height, width, channels); the same seed
        gives the same images.

        Args:
            n: how many.
            seed: seed of the noise.
            label: for a conditional GAN, the class to draw (a class name, or None: classes in turn).
        """
        self.check_fitted()
        labels = None if label is None else np.full(n, self._class_index(label))
        return quality.to_uint8(self._infer(self._noise(n, seed, labels)))

    def _class_index(self, label):
        if not self.conditional_:
            raise self._not_conditional(
                label, "this GAN is not class-conditional", "train on labelled data (class subfolders) for a "
                "conditional GAN"
            )  # fmt: skip
        names = [str(c) for c in self.classes_]
        if str(label) not in names:
            raise ToolkitError(
                f"label={label!r} is not a class this model knows.",
                expected=f"one of: {', '.join(names)}",
                fix="pass one of those class names",
            )
        return names.index(str(label))

    def predict(self, inputs):
        """Scores images.

        Args:
            inputs: an image path, a list of paths, one image array or a batch (0..255 pixels).

        Returns:
            Per image: {"real_probability"} (the discriminator's), and the feature classifier's "label"
            when the GAN is conditional.
        """
        self.check_fitted()
        x = self._images(inputs)
        scaled = x / 127.5 - 1.0
        answers = [{} for _ in x]
        if self.conditional_:
            labels = self._infer(x / 255.0, self.model_.feature_classifier).argmax(-1)
            logits = self._infer([scaled, labels.astype("int32")], self.model_.discriminator)
            for answer, label in zip(answers, labels):
                answer["label"] = str(self.classes_[int(label)])
        else:
            logits = self._infer(scaled, self.model_.discriminator)
        for answer, logit in zip(answers, logits[:, 0]):
            answer["real_probability"] = float(1 / (1 + np.exp(-logit)))
        return answers

    def find_learning_rate(self, data=None, min_rate=1e-7, max_rate=1.0, steps=100):
        raise ToolkitError(
            "The learning-rate range test follows one training loss, and a GAN has two that play against "
            "each other (the discriminator's falls as the generator's rises).",
            expected="kind='autoencoder' or 'vae' for a range test",
            fix="train the GAN at DCGAN's rate (the default, 2e-4), or tune learning_rate with tune=True",
        )
