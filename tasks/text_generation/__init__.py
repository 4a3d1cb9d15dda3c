"""Text generation: language models from scratch over characters or words, and sampling."""

from tasks.text_generation.task import TextGenerator, train_text_generator

__all__ = ["TextGenerator", "train_text_generator"]
