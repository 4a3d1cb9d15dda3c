"""The training recipe: optimizers by name, learning-rate schedules, clipping, weight decay, regularisation.

Every task takes the same recipe arguments (see `toolkit.Task`); the trainer
turns them into Keras objects here. Keras provides every optimizer and the
cosine schedule; only the one-cycle schedule is written by hand (Keras has
none) and the discriminative split of one optimizer into a backbone's and a
head's uses Keras' own `MultiOptimizer`.
"""

import math

import keras

from toolkit.errors import ToolkitError

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    # Momentum with Nesterov's look-ahead: what "SGD" means in a modern recipe.
    "sgd": lambda **kw: keras.optimizers.SGD(momentum=0.9, nesterov=True, **kw),
    "rmsprop": keras.optimizers.RMSprop,
    "adagrad": keras.optimizers.Adagrad,
    "nadam": keras.optimizers.Nadam,
    "lamb": keras.optimizers.Lamb,
    "lion": keras.optimizers.Lion,
}
SCHEDULES = ("plateau", "constant", "cosine", "one_cycle")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


@keras.saving.register_keras_serializable(package="toolkit")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Leslie Smith's one-cycle policy as fastai runs it: warm up, then cosine down to almost zero.

    The rate rises from `maximum / 25` to `maximum` over the first
    `warmup_fraction` of the steps (cosine-shaped), then falls to
    `maximum / 1e5`. Written by hand because Keras ships no one-cycle schedule.

    Example:
    >>> schedule = OneCycle(1e-2, total_steps=100)
    >>> [round(float(schedule(step)), 5) for step in (0, 25, 99)]
    [0.0004, 0.01, 0.0]
    """

    def __init__(self, maximum, total_steps, warmup_fraction=0.25):
        self.maximum = float(maximum)
        self.total_steps = int(total_steps)
        self.warmup_fraction = float(warmup_fraction)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warmup = max(1.0, self.total_steps * self.warmup_fraction)
        start, end = self.maximum / 25, self.maximum / 1e5
        up = keras.ops.clip(step / warmup, 0.0, 1.0)
        down = keras.ops.clip((step - warmup) / max(1.0, self.total_steps - warmup), 0.0, 1.0)
        rising = start + (self.maximum - start) * (1 - keras.ops.cos(math.pi * up)) / 2
        falling = end + (self.maximum - end) * (1 + keras.ops.cos(math.pi * down)) / 2
        return keras.ops.where(step < warmup, rising, falling)

    def get_config(self):
        return {"maximum": self.maximum, "total_steps": self.total_steps, "warmup_fraction": self.warmup_fraction}


def learning_rate_value(schedule, learning_rate, total_steps):
    """What an optimizer's `learning_rate` gets: a float, or a schedule over `total_steps`.

    "plateau" and "constant" are a fixed rate ("plateau" lets the trainer's
    `ReduceLROnPlateau` halve it); "cosine" warms up linearly over the first
    5% of steps, then decays with a cosine to zero.

    Example:
    >>> learning_rate_value("constant", 1e-3, 100)
    0.001
    >>> type(learning_rate_value("cosine", 1e-3, 100)).__name__
    'CosineDecay'
    """
    if schedule in ("plateau", "constant"):
        return learning_rate
    total_steps = max(1, int(total_steps))
    if schedule == "cosine":
        warmup = max(1, total_steps // 20)
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=learning_rate / 100,
            decay_steps=max(1, total_steps - warmup),
            warmup_target=learning_rate,
            warmup_steps=warmup,
        )
    if schedule == "one_cycle":
        return OneCycle(learning_rate, total_steps)
    raise ToolkitError(
        f"learning_rate_schedule={schedule!r} is not valid.",
        expected=f"one of {SCHEDULES}",
        fix="pass learning_rate_schedule='cosine' (say)",
    )


def make_optimizer(optimizer, learning_rate, weight_decay=None, gradient_clip=None, name=None):
    """A fresh Keras optimizer from a name or a template optimizer.

    Args:
        optimizer: a name from `OPTIMIZERS`, or a `keras.optimizers.Optimizer`
            whose configuration is copied (the template itself is never used,
            so every phase and every tuning trial starts with fresh state).
        learning_rate: a float or a `LearningRateSchedule`.
        weight_decay: decoupled weight decay; None keeps the optimizer's own default.
        gradient_clip: clip the gradients' global norm to this value; None: no clipping.
        name: the optimizer's name (the history's learning-rate column of a group); None: Keras' default.

    Example:
    >>> opt = make_optimizer("sgd", 0.1, weight_decay=1e-4, gradient_clip=1.0)
    >>> type(opt).__name__, opt.nesterov, opt.global_clipnorm
    ('SGD', True, 1.0)
    """
    extra = {}
    if weight_decay is not None:
        extra["weight_decay"] = weight_decay
    if gradient_clip is not None:
        extra["global_clipnorm"] = gradient_clip
    if name is not None:
        extra["name"] = name
    if isinstance(optimizer, keras.optimizers.Optimizer):
        config = optimizer.get_config()
        config.update(learning_rate=learning_rate, **extra)
        return type(optimizer).from_config(config)
    if optimizer not in OPTIMIZERS:
        raise unknown_optimizer_error(optimizer)
    return OPTIMIZERS[optimizer](learning_rate=learning_rate, **extra)


def unknown_optimizer_error(name):
    return ToolkitError(
        f"Unknown optimizer {name!r}.",
        expected=f"one of {sorted(OPTIMIZERS)}, or a keras.optimizers.Optimizer",
        fix="pass optimizer='adamw' (say)",
    )


def scaled(learning_rate, factor):
    """`learning_rate` (a float or a schedule) times `factor`.

    Example:
    >>> scaled(1e-3, 0.1)
    0.0001
    >>> round(float(scaled(OneCycle(1e-2, 10), 0.1)(3)), 6) == round(float(OneCycle(1e-3, 10)(3)), 6)
    True
    """
    if factor == 1:
        return learning_rate
    if isinstance(learning_rate, (int, float)):
        return learning_rate * factor
    return ScaledSchedule(learning_rate, factor)


@keras.saving.register_keras_serializable(package="toolkit")
class ScaledSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Another schedule times a constant: a backbone's share of the head's schedule."""

    def __init__(self, schedule, factor):
        self.schedule = schedule
        self.factor = float(factor)

    def __call__(self, step):
        return self.schedule(step) * self.factor

    def get_config(self):
        return {"schedule": keras.saving.serialize_keras_object(self.schedule), "factor": self.factor}

    @classmethod
    def from_config(cls, config):
        return cls(keras.saving.deserialize_keras_object(config["schedule"]), config["factor"])


def regularize(layers, l1=0.0, l2=0.0):
    """Adds an L1/L2 penalty on the kernels of `layers` (and every layer inside them).

    Keras collects a variable's `regularizer` into `model.losses` on every
    step, so setting it on built layers is enough; the layer's config carries
    it too, so a clone or a reload keeps it.

    Returns:
        The number of kernels penalised.

    Example:
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> regularize([model], l2=0.1)
    1
    >>> len(model.losses)
    1
    """
    if not (l1 or l2):
        return 0
    count = 0
    for root in layers:
        for layer in [root, *root._flatten_layers(include_self=False)]:
            kernel = getattr(layer, "kernel", None) if hasattr(layer, "kernel_regularizer") else None
            if kernel is None or not isinstance(kernel, keras.Variable):
                continue
            regularizer = keras.regularizers.L1L2(l1=l1, l2=l2)
            layer.kernel_regularizer = regularizer
            kernel.regularizer = regularizer
            count += 1
    return count


class precision:  # noqa: N801  (used as a context manager, like a function)
    """Builds models at a Keras mixed-precision policy within the block, restoring the previous one after.

    Example:
    >>> with precision("mixed_bfloat16"):
    ...     layer = keras.layers.Dense(2)
    >>> layer.compute_dtype, layer.variable_dtype, keras.config.dtype_policy().name
    ('bfloat16', 'float32', 'float32')
    """

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(self.name)
        return self

    def __exit__(self, *exc):
        keras.config.set_dtype_policy(self.previous)


def float32_outputs(model):
    """`model` with every output cast to float32 (losses and metrics stay exact under mixed precision).

    Functional models get a float32 linear layer after each lower-precision output;
    others are returned unchanged (their own layers decide their output dtypes).

    Example:
    >>> with precision("mixed_bfloat16"):
    ...     inputs = keras.Input((3,))
    ...     model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    >>> model.output.dtype, float32_outputs(model).output.dtype
    ('bfloat16', 'float32')
    """
    if not isinstance(model, keras.Function):  # functional models (Sequential ones are not rewired)
        return model
    if all(keras.backend.standardize_dtype(o.dtype) == "float32" for o in keras.tree.flatten(model.output)):
        return model
    cast = keras.tree.map_structure(
        lambda o: (
            o
            if keras.backend.standardize_dtype(o.dtype) == "float32"
            else keras.layers.Activation("linear", dtype="float32")(o)
        ),
        model.output,
    )
    return keras.Model(model.inputs, cast, name=model.name)
