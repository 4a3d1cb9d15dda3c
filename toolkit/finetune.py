"""Fine-tuning strategies, selected by a string.

A strategy turns (epochs, learning rate, backbone fraction) into training
phases. A phase names the trainable groups it freezes (see
`Task.trainable_groups`) and the fraction of the head's learning rate each
other group trains at (fastai's discriminative rates); the trainer runs the
phases in order, recompiling before each (Keras needs a recompile for a
trainable change to take effect).
"""

import collections

from toolkit.registry import Registry

STRATEGIES = Registry("fine-tuning strategy")

Phase = collections.namedtuple("Phase", ["description", "frozen", "learning_rate", "epochs", "rates"])
Phase.__doc__ = """One stretch of training.

    description: what the phase does, for progress output.
    frozen: names of the trainable groups that do not train.
    learning_rate: the head's (the rest of the model's) learning rate.
    epochs: most epochs of this phase.
    rates: {group: fraction of learning_rate} for groups that train slower (discriminative rates).
"""

# The backbone's share of the head's rate in the unfreeze phase when the user gives none: fastai's
# fine_tune trains the earliest layers about 100x slower than the head; one backbone group between
# them sits near the geometric middle, a tenth.
UNFREEZE_BACKBONE_FRACTION = 0.1


@STRATEGIES.register("full", description="train every layer from the start")
def full(epochs, learning_rate, backbone_fraction=None):
    """All layers train for all epochs; the backbone at `backbone_fraction` of the head's rate (default: the same).

    Examples:
        >>> phase, = full(10, 1e-3, backbone_fraction=0.1)
        >>> phase.frozen, phase.rates
        ((), {'backbone': 0.1})
    """
    return [Phase("all layers", (), learning_rate, epochs, _rates(backbone_fraction, 1.0))]


@STRATEGIES.register("freeze", description="backbone frozen; only the head trains")
def freeze(epochs, learning_rate, backbone_fraction=None):
    """The backbone stays fixed (BatchNorm statistics too); only the head trains.

    Examples:
        >>> freeze(10, 1e-3)[0].frozen
        ('backbone',)
    """
    return [Phase("head only, backbone frozen", ("backbone",), learning_rate, epochs, {})]


@STRATEGIES.register(
    "freeze_then_unfreeze",
    description="head first with the backbone frozen, then all layers at a tenth of the rate, backbone slower",
)
def freeze_then_unfreeze(epochs, learning_rate, backbone_fraction=None):
    """fastai's recipe: about a third of the epochs on the head, then everything at lr / 10,
    the backbone at `backbone_fraction` of that (default 0.1).

    With a single epoch there is nothing to unfreeze into, so only the head trains.

    Examples:
        >>> [(p.epochs, p.frozen, p.rates) for p in freeze_then_unfreeze(10, 1e-3)]
        [(3, ('backbone',), {}), (7, (), {'backbone': 0.1})]
    """
    head_epochs = max(1, round(epochs * 0.3))
    phases = [Phase("head only, backbone frozen", ("backbone",), learning_rate, head_epochs, {})]
    if epochs > head_epochs:
        phases.append(
            Phase(
                "all layers, lower learning rate",
                (),
                learning_rate / 10,
                epochs - head_epochs,
                _rates(backbone_fraction, UNFREEZE_BACKBONE_FRACTION),
            )
        )
    return phases


def _rates(fraction, default):
    fraction = default if fraction is None else fraction
    return {} if fraction == 1 else {"backbone": fraction}
