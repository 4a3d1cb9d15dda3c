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

    Examples:
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

    Examples:
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

    Examples:
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

    Examples:
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

    Examples:
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

    Examples:
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

    Examples:
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


# ------------------------------------------------------------------ the default budget
# What epochs=None, batch_size=None, patience=None and warmup_epochs=None become (see `DefaultBudget`).
DEFAULT_BATCH_SIZE = 32  # batch_size=None where the task has no rule of its own
DEFAULT_EPOCHS = 30
MIN_SCRATCH_STEPS = 1000
MAX_DEFAULT_EPOCHS = 200
# batch_size=None on a small training set: more, noisier steps generalise better from scratch (a 168-image
# shapes folder, seeds 0-2, 1,000 steps either way: test part 0.840 at batch 16 against 0.757 at 32).
SMALL_BATCH, SMALL_BATCH_BELOW = 16, 500


class DefaultBudget:
    """The default policy a task's None arguments follow: epochs, batch size, patience, warm-up, learning rate.

    A mixin of `toolkit.Task`, which sets `budget_epochs` (the epochs a task measured on data of the
    size it was tuned on), `_pretrained_backbone()`, `say` and the arguments these read. A task with a
    rule of its own overrides one method (`_default_learning_rate`, `_warmup_epochs`).
    """

    budget_epochs = DEFAULT_EPOCHS

    def _choose_epochs(self, train_examples):
        """Sets `epochs_`, the budget of this fit: `epochs`, or `_default_epochs` when it is None (said)."""
        if self.epochs is not None:
            self.epochs_ = self.epochs
            return
        self.epochs_ = self._default_epochs(train_examples)
        steps = math.ceil(train_examples / self._global_batch_size()) if train_examples else None
        why = (
            f"raised from {self.budget_epochs} so a from-scratch network gets about {MIN_SCRATCH_STEPS:,} optimizer "
            f"steps ({steps} per epoch)"
            if self.epochs_ > self.budget_epochs
            else "the default"
        )
        self.say(f"Epochs: up to {self.epochs_} ({why}; pass epochs= to choose).")

    def _default_epochs(self, train_examples):
        """The budget for `epochs=None`: `budget_epochs`, or for a from-scratch network on a small training
        set enough epochs for `MIN_SCRATCH_STEPS` optimizer steps, at most `MAX_DEFAULT_EPOCHS`.

        A network learning from scratch needs a number of optimizer steps, not of epochs: 240
        images at batch size 32 give 8 steps an epoch, and 30 epochs of them end before the
        network has started to learn (a VGG on 1,000 shapes stayed near chance for its first 616 steps).

        Examples:
            >>> from tasks import ImageClassifier
            >>> [ImageClassifier()._default_epochs(n) for n in (168, 700, 1258, 50_000)]
            [167, 46, 30, 30]
            >>> ImageClassifier(backbone=keras.Sequential([keras.layers.Flatten()]))._default_epochs(168)
            30
        """
        if self._pretrained_backbone() or not train_examples:
            return self.budget_epochs
        steps = math.ceil(train_examples / self._global_batch_size())
        return min(MAX_DEFAULT_EPOCHS, max(self.budget_epochs, math.ceil(MIN_SCRATCH_STEPS / steps)))

    def _budget_raised(self):
        """True when this fit's epochs were raised above `budget_epochs` for a small training set."""
        return self.epochs is None and getattr(self, "epochs_", self.budget_epochs) > self.budget_epochs

    def _choose_batch_size(self, train_examples, what="examples"):
        """`batch_size`, or for None `SMALL_BATCH` (16) for a from-scratch network on fewer than
        `SMALL_BATCH_BELOW` (500) training examples, else 32 (said when it is the small one).

        Examples:
            >>> from tasks import ImageClassifier
            >>> ImageClassifier(verbose=0)._choose_batch_size(168), ImageClassifier()._choose_batch_size(1258)
            (16, 32)
            >>> ImageClassifier(batch_size=64)._choose_batch_size(168)
            64
        """
        if self.batch_size is not None:
            return self.batch_size
        if not self._pretrained_backbone() and train_examples < SMALL_BATCH_BELOW:
            self.say(
                f"Batch size: {SMALL_BATCH} (the default for a from-scratch network on fewer than "
                f"{SMALL_BATCH_BELOW} training {what}; pass batch_size= to choose)."
            )
            return SMALL_BATCH
        return DEFAULT_BATCH_SIZE

    def _batch_size(self):
        """`batch_size`, or the one chosen for this fit's data (`batch_size_`) when it is None."""
        if self.batch_size is not None:
            return self.batch_size
        return getattr(self, "batch_size_", DEFAULT_BATCH_SIZE)

    def _global_batch_size(self):
        """Examples per training step: `batch_size` on each replica of the run's `distribution`."""
        from toolkit import distribute

        return distribute.describe(self._strategy, self._batch_size())["global_batch_size"]

    def _epochs(self):
        """The epoch budget: `epochs`, or the one chosen for this fit's data when it is None."""
        if self.epochs is not None:
            return self.epochs
        return getattr(self, "epochs_", self.budget_epochs)

    def _patience(self):
        """`patience`, or a fifth of the epoch budget (at least 5) when it is None."""
        return self.patience if self.patience is not None else max(5, self._epochs() // 5)

    def _warmup_epochs(self):
        """`warmup_epochs`, or a fifth of the budget from scratch and none for a pretrained backbone when None."""
        if self.warmup_epochs is not None:
            return self.warmup_epochs
        return 0 if self._pretrained_backbone() else self._epochs() // 5

    def _learning_rate(self):
        """`learning_rate`, or the task's default for its backbone when it is None."""
        return self.learning_rate if self.learning_rate is not None else self._default_learning_rate()

    def _default_learning_rate(self):
        """The learning rate used when `learning_rate=None`; tasks with pretrained backbones override it."""
        return 1e-3
