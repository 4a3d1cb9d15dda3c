"""Image generation: `ImageGenerator` (autoencoder, VAE, GAN: a class per kind, chosen by `kind=`) and
`train_image_generator`."""

from tasks.image_generation.autoencoders import AutoencoderGenerator, VAEGenerator
from tasks.image_generation.base import KINDS, SAMPLES_FILE, ImageGenerator
from tasks.image_generation.gan import GANGenerator

__all__ = ["KINDS", "SAMPLES_FILE", "AutoencoderGenerator", "GANGenerator", "ImageGenerator", "VAEGenerator",
           "train_image_generator"]  # fmt: skip


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
