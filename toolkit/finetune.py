"""Fine-tuning strategies, selected by a string.

A strategy turns (epochs, learning rate) into training phases; the task base
runs the phases in order, setting `backbone.trainable` and recompiling before
each (Keras needs a recompile for a trainable change to take effect).
"""

import collections

from toolkit.registry import Registry

STRATEGIES = Registry("fine-tuning strategy")

Phase = collections.namedtuple("Phase", ["description", "train_backbone", "learning_rate", "epochs"])


@STRATEGIES.register("full", description="train every layer from the start")
def full(epochs, learning_rate):
    """All layers train for all epochs.

    Example:
    >>> full(10, 1e-3)[0].train_backbone
    True
    """
    return [Phase("all layers", True, learning_rate, epochs)]


@STRATEGIES.register("freeze", description="backbone frozen; only the head trains")
def freeze(epochs, learning_rate):
    """The backbone stays fixed (BatchNorm statistics too); only the head trains.

    Example:
    >>> freeze(10, 1e-3)[0].train_backbone
    False
    """
    return [Phase("head only, backbone frozen", False, learning_rate, epochs)]


@STRATEGIES.register(
    "freeze_then_unfreeze",
    description="head first with the backbone frozen, then all layers at a tenth of the learning rate",
)
def freeze_then_unfreeze(epochs, learning_rate):
    """fastai's recipe: about a third of the epochs on the head, then everything at lr / 10.

    With a single epoch there is nothing to unfreeze into, so only the head trains.

    Example:
    >>> [p.epochs for p in freeze_then_unfreeze(10, 1e-3)]
    [3, 7]
    """
    head_epochs = max(1, round(epochs * 0.3))
    phases = [Phase("head only, backbone frozen", False, learning_rate, head_epochs)]
    if epochs > head_epochs:
        phases.append(Phase("all layers, lower learning rate", True, learning_rate / 10, epochs - head_epochs))
    return phases
