"""Scoring a language model: loss, perplexity and bits per character of a part, and the comparison with
the unigram model (each token at its training frequency), the trivial baseline of a language model."""

import math
import warnings


def scores(loss, tokens, characters):
    """{"loss", "perplexity", "bits_per_character"} from the cross-entropy (nats per token) of a text of
    `tokens` tokens and `characters` characters; bits per character compares models whatever their tokens.

    Examples:
        >>> scores(math.log(4), tokens=10, characters=20)
        {'loss': 1.3862943611198906, 'perplexity': 4.0, 'bits_per_character': 1.0}
    """
    return {
        "loss": loss,
        "perplexity": float(math.exp(min(loss, 700))),
        "bits_per_character": loss * tokens / max(characters, 1) / math.log(2),
    }


def unigram_loss(train_counts, counts):
    """Cross-entropy (nats per token) of a part's tokens under the training tokens' frequencies (add-one: 4 of 7 below).

    Examples:
        >>> round(unigram_loss({1: 3, 2: 1}, {1: 1}), 4)
        0.5596
    """
    if not train_counts or not counts:
        return None
    total = sum(train_counts.values()) + len(train_counts) + 1
    loss = sum(n * -math.log((train_counts.get(i, 0) + 1) / total) for i, n in counts.items())
    return float(loss / sum(counts.values()))


def compare_with_unigram(part, loss, unigram):
    """What the run's info keeps of its loss beside the unigram model's on `part` (None without both); warns
    when the run is no better: it learned nothing about which token follows which."""
    if unigram is None or loss is None:
        return None
    better = bool(loss < unigram - 0.01)
    if not better:
        warnings.warn(
            f"This run's {part} loss {loss:.4f} is no better than a unigram model's {unigram:.4f} (each "
            "token at its training frequency): it has not learned which token follows which. Try more epochs, "
            "a larger model (width, depth), or more text.",
            stacklevel=4,
        )
    return {"part": part, "metric": "loss", "value": loss, "unigram_loss": unigram, "better_than_unigram": better}
