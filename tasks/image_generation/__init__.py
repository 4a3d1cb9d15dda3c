"""Image generation task: autoencoders, VAEs and GANs."""

from tasks.image_generation.task import ImageGenerator, train_image_generator

__all__ = ["ImageGenerator", "train_image_generator"]
