"""Sequence to sequence: an encoder-decoder (GRU with attention, or a Transformer) from text to text."""

from tasks.text_to_text.task import TextToText, train_text_to_text

__all__ = ["TextToText", "train_text_to_text"]
