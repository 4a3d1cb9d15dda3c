"""The estimator half of a task: its arguments, as scikit-learn treats an estimator's.

`__init__` only stores keyword arguments; every argument is an attribute of the
same name. What an argument may be is declared once per class: its type in the
constructor's annotation, its range in `_parameter_constraints` (merged down the
class hierarchy, a subclass's rule winning), and rules that tie two arguments
together in `_check_combinations`. `check_params` applies all three before any
data is read, so a bad value is one clear error, never a Keras traceback.
"""

import contextlib
import inspect
import json
import os
import typing

import keras
import tensorflow as tf

from toolkit import distribute, recipe
from toolkit import params as params_lib
from toolkit import splits as splits_lib
from toolkit.errors import ToolkitError

TUNERS = ("random", "bayesian", "hyperband")


class Constraint(typing.NamedTuple):
    """A rule for one argument's value: `ok(value)` and what is expected, in words.

    Examples:
        >>> at_least(1, none=True).ok(None), at_least(1).ok(0), at_least(1).expected
        (True, False, 'an integer >= 1')
    """

    ok: typing.Callable
    expected: str


def at_least(low, *, none=False, what="an integer"):
    """value >= low (None also passes when `none`)."""
    expected = f"{what} >= {low}" + (" (or None)" if none else "")
    return Constraint(lambda v: (none and v is None) or (v is not None and v >= low), expected)


def above(low, *, none=False, what="a number"):
    """value > low (None also passes when `none`)."""
    expected = f"{what} > {low}" + (" (or None)" if none else "")
    return Constraint(lambda v: (none and v is None) or (v is not None and v > low), expected)


def one_of(options, *, none=False):
    """value in options (None also passes when `none`)."""
    expected = f"one of {tuple(options)}" + (" (or None)" if none else "")
    return Constraint(lambda v: (none and v is None) or v in options, expected)


def in_range(low, high, expected, *, low_open=False, high_open=True, none=False):
    """low <= value < high by default (`low_open` / `high_open` exclude an end); None passes when `none`."""

    def ok(v):
        if v is None:
            return none
        return (v > low if low_open else v >= low) and (v < high if high_open else v <= high)

    return Constraint(ok, expected)


def _sizes_positive(value):
    sizes = value if isinstance(value, (tuple, list)) else (value,)
    return all(side >= 1 for side in sizes)


# Rules shared by arguments of the same name in several tasks; a task lists the ones it takes.
DROPOUT = in_range(0, 1, "a fraction from 0 up to (not including) 1")
POSITIVE = at_least(1)
POSITIVE_OR_NONE = at_least(1, none=True)
IMAGE_SIZE = Constraint(lambda v: v is None or _sizes_positive(v), "sides of at least 1 pixel (or None)")


class BaseTask:
    """Arguments, configuration and the checks on them; `toolkit.Task` adds fit, evaluate and predict.

    Examples:
        >>> class Toy(BaseTask):
        ...     _parameter_constraints = {"width": at_least(1)}
        ...     def __init__(self, *, width: int = 8, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.width = width
        >>> Toy(width=4).get_config()["width"], Toy().clone(width=2).width, Toy().get_config()["epochs"]
        (4, 2, 20)
        >>> Toy(width=0).check_params()
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: width=0 is not valid.
        Expected: an integer >= 1
        Fix: pass width=<an integer >= 1> (--width on the command line)
    """

    # {argument: Constraint} for this class's arguments; merged with its subclasses' (`parameter_constraints`).
    _parameter_constraints = {
        "epochs": at_least(1, none=True),
        "batch_size": at_least(1, none=True),
        "learning_rate": above(0, none=True),
        "patience": at_least(0, none=True),
        "warmup_epochs": at_least(0, none=True),
        "validation_split": in_range(0, 1, "a fraction between 0 and 1", low_open=True),
        "test_split": in_range(0, 1, "a fraction from 0 up to (not including) 1"),
        "max_trials": at_least(1),
        "tuner": one_of(TUNERS),
        "optimizer": Constraint(
            lambda v: not isinstance(v, str) or v in recipe.OPTIMIZERS,
            f"one of {sorted(recipe.OPTIMIZERS)}, or a keras.optimizers.Optimizer",
        ),
        "learning_rate_schedule": one_of(recipe.SCHEDULES),
        "weight_decay": at_least(0, none=True, what="a number"),
        "gradient_clip": above(0, none=True),
        "backbone_lr_fraction": in_range(
            0, 1, "a fraction above 0 and up to 1 (or None)", low_open=True, high_open=False, none=True
        ),
        "l1": at_least(0, what="a number"),
        "l2": at_least(0, what="a number"),
        "precision": one_of(recipe.PRECISIONS),
        "split": one_of(splits_lib.METHODS),
        "distribution": Constraint(
            lambda v: not isinstance(v, str) or v in distribute.CHOICES,
            f"None, one of {distribute.CHOICES}, or a tf.distribute.Strategy",
        ),
    }
    # Learned attributes `clone` does not copy and config.json leaves out: they have files of their own,
    # or (in subclasses) are only needed while training.
    unsaved_attributes = ("model_", "history_", "metrics_")

    def __init__(
        self,
        *,
        epochs: int | None = 20,
        batch_size: int | None = 32,
        learning_rate: float | None = 1e-3,
        optimizer: str | keras.optimizers.Optimizer = "adam",
        learning_rate_schedule: str = "plateau",
        weight_decay: float | None = None,
        gradient_clip: float | None = None,
        finetune: str = "full",
        backbone_lr_fraction: float | None = None,
        l1: float = 0.0,
        l2: float = 0.0,
        precision: str = "float32",
        distribution: str | tf.distribute.Strategy | None = None,
        patience: int | None = None,
        warmup_epochs: int | None = None,
        validation_split: float = 0.1,
        test_split: float = 0.2,
        split: str = "auto",
        tune: bool = False,
        tuner: str = "random",
        max_trials: int = 8,
        callbacks: list | tuple | None = None,
        default_callbacks: bool = True,
        tensorboard: bool = False,
        save_dir: str | os.PathLike = "saved_models",
        run_name: str | None = None,
        overwrite: bool = False,
        seed: int = 0,
        verbose: typing.Literal["auto"] | int | bool = "auto",
        **unknown,
    ):
        """Arguments every task shares; subclasses add their own and pass these through.

        Args:
            epochs: most epochs to train (early stopping may stop sooner).
            batch_size: examples per training step.
            learning_rate: the (peak) learning rate; `find_learning_rate` (`toolkit lr-find`)
                helps pick one.
            optimizer: "adam", "adamw", "sgd" (momentum 0.9, Nesterov), "rmsprop", "adagrad",
                "nadam", "lamb", "lion", or a `keras.optimizers.Optimizer` whose settings are
                copied (it is never trained with itself, so it can be reused).
            learning_rate_schedule: "plateau" (constant, halved when validation stalls),
                "constant", "cosine" (5% linear warm-up, then cosine decay to zero) or
                "one_cycle" (fastai's: warm up over a quarter, anneal to ~0).
            weight_decay: decoupled weight decay; None: the optimizer's default (AdamW 0.004,
                Lion and Lamb their own, the others none).
            gradient_clip: clip the gradients' global norm to this; None: no clipping.
            finetune: "full", "freeze" or "freeze_then_unfreeze" (see `toolkit.STRATEGIES`).
            backbone_lr_fraction: the backbone's learning rate as a fraction of the head's
                (fastai's discriminative rates); None: the same rate with "full", 0.1 in the
                unfreeze phase of "freeze_then_unfreeze".
            l1, l2: penalties on the kernels of from-scratch layers (a pretrained backbone's are left alone).
            precision: "float32", "mixed_float16" (GPUs) or "mixed_bfloat16" (TPUs, recent
                CPUs and GPUs): Keras mixed precision; the model's outputs stay float32.
            distribution: train on several devices or machines with `tf.distribute`: None (one
                device), "mirrored" (every local GPU), "multi_worker" (the machines in
                `TF_CONFIG`), "tpu", or a `tf.distribute.Strategy`. `batch_size` is then per
                replica; each step reads `batch_size` x replicas examples (see `toolkit.distribute`).
            patience: epochs without validation improvement before stopping; None: a fifth of
                `epochs`, at least 5 (6 of 30, 12 of 60), so a bigger budget waits longer.
                The plateau schedule halves the rate after half as many stalled epochs.
            warmup_epochs: epochs at the start of each training phase in which neither early
                stopping nor the plateau halving acts (the best checkpoint is kept all along);
                None: a fifth of `epochs` for a from-scratch network, whose validation loss
                often stays flat while BatchNorm statistics and the head settle, and 0 for a
                pretrained backbone, which starts from useful features.
            validation_split: fraction of `data` held out for validation when
                `validation_data` is not given.
            test_split: fraction of `data` held out as a test set (0: none).
            split: how those hold-outs are drawn: "auto" (stratified by label where the labels
                allow it; grouped when `fit` gets `groups=`), "stratified", "grouped",
                "contiguous" (the tail, order kept: a corpus or a time series) or "random".
            tune: run a KerasTuner search over `search_space` first.
            tuner: "random", "bayesian" or "hyperband".
            max_trials: most trials the search runs (for hyperband, a cap on the trials its brackets plan).
            callbacks: extra Keras callbacks, run before the defaults.
            default_callbacks: add early stopping, learning-rate halving on plateau, best checkpoint,
                BackupAndRestore, CSV history and NaN guard.
            tensorboard: also write TensorBoard logs to the run directory.
            save_dir: root folder of run directories.
            run_name: run folder name (default: a timestamp). Reusing the
                name of an interrupted run resumes it.
            overwrite: replace a finished run of the same name.
            seed: seed for weights, splits, shuffling and augmentation.
            verbose: "auto" (progress bars on a terminal, a line per epoch
                otherwise), 0, 1 or 2.
            **unknown: never valid: a misspelt argument is an error that names the closest valid one.
        """
        if unknown:
            raise params_lib.unknown_arguments_error(type(self).__name__, sorted(unknown), type(self).param_names())
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.learning_rate_schedule = learning_rate_schedule
        self.weight_decay = weight_decay
        self.gradient_clip = gradient_clip
        self.finetune = finetune
        self.backbone_lr_fraction = backbone_lr_fraction
        self.l1 = l1
        self.l2 = l2
        self.precision = precision
        self.distribution = distribution
        self.patience = patience
        self.warmup_epochs = warmup_epochs
        self.validation_split = validation_split
        self.test_split = test_split
        self.split = split
        self.tune = tune
        self.tuner = tuner
        self.max_trials = max_trials
        self.callbacks = callbacks
        self.default_callbacks = default_callbacks
        self.tensorboard = tensorboard
        self.save_dir = save_dir
        self.run_name = run_name
        self.overwrite = overwrite
        self.seed = seed
        self.verbose = verbose

    # ---------------------------------------------------------- declarations
    @classmethod
    def keyword_parameters(cls):
        """{argument: inspect.Parameter} of the keyword-only constructor arguments of this class and its
        bases, subclass first (a subclass's default and annotation win)."""
        found = {}
        for klass in cls.__mro__:
            if "__init__" not in vars(klass) or klass is object:
                continue
            for name, p in inspect.signature(klass.__init__).parameters.items():
                if p.kind == p.KEYWORD_ONLY and name not in found:
                    found[name] = p
        return found

    @classmethod
    def param_names(cls):
        """The constructor's argument names."""
        return list(cls.keyword_parameters())

    @classmethod
    def param_defaults(cls):
        """{argument: default} of the constructor arguments."""
        return {name: p.default for name, p in cls.keyword_parameters().items()}

    @classmethod
    def param_annotations(cls):
        """{argument: annotation} of the constructor arguments (see `toolkit.params`)."""
        return {name: p.annotation for name, p in cls.keyword_parameters().items() if p.annotation is not p.empty}

    @classmethod
    def parameter_constraints(cls):
        """{argument: Constraint}: every class's `_parameter_constraints`, a subclass's rule winning."""
        merged = {}
        for klass in reversed(cls.__mro__):
            merged.update(vars(klass).get("_parameter_constraints", {}))
        return merged

    # ----------------------------------------------------------------- config
    def get_config(self):
        """The constructor's arguments, JSON-serialisable (objects become a description string)."""
        config = {}
        for name in self.param_names():
            value = getattr(self, name)
            if name == "callbacks":
                value = None  # callback objects are not configuration; pass them again
            elif isinstance(value, tuple):
                value = list(value)
            try:
                json.dumps(value)
            except TypeError:
                value = f"<{type(value).__name__} {getattr(value, 'name', '')}>".replace(" >", ">")
            config[name] = value
        return config

    def set_params(self, **params):
        """Sets constructor arguments; unknown names are an error. Returns self."""
        names = self.param_names()
        for name, value in params.items():
            if name not in names:
                raise ToolkitError(
                    f"{type(self).__name__} has no argument {name!r}.",
                    expected=f"one of: {', '.join(names)}",
                    fix="check the spelling",
                )
            setattr(self, name, value)
        return self

    def clone(self, **overrides):
        """A new task with the same arguments (plus `overrides`) and what the data step learned
        (the attributes ending in `_`, also those only needed while training, but not the model, its
        history or its scores)."""
        params = {name: getattr(self, name) for name in self.param_names()}
        params.update(overrides)
        clone = type(self)(**params)
        for name, value in vars(self).items():
            if name.endswith("_") and name not in BaseTask.unsaved_attributes:
                setattr(clone, name, value)
        return clone

    # ----------------------------------------------------------------- checks
    def check_params(self):
        """Checks every argument's type (its annotation), then its range (`parameter_constraints`), then
        the rules between arguments (`_check_combinations`); raises the first failure as a three-part error."""
        values = {name: getattr(self, name) for name in self.param_names()}
        params_lib.check(type(self).__name__, values, self.param_annotations())
        for name, constraint in self.parameter_constraints().items():
            if name in values and not constraint.ok(values[name]):
                raise invalid_argument(name, values[name], constraint.expected)
        self._check_combinations()

    def _check_combinations(self):
        """Rules that tie arguments together, or need more than a value (raise `invalid_argument`)."""
        from toolkit.finetune import STRATEGIES

        if self.validation_split + self.test_split >= 1:
            raise invalid_argument("test_split", self.test_split, "validation_split + test_split below 1")
        STRATEGIES.get(self.finetune)

    @contextlib.contextmanager
    def tuned(self, overrides):
        """Within this block `overrides` ({argument: value}, what tuning chose) stand in for the user's
        arguments, which come back after: `fit` never changes what the user passed (scikit-learn's rule)."""
        overrides = overrides or {}
        saved = {name: getattr(self, name) for name in overrides}
        for name, value in overrides.items():
            setattr(self, name, value)
        try:
            yield
        finally:
            for name, value in saved.items():
                setattr(self, name, value)


def invalid_argument(name, value, expected):
    """The three-part error for an argument outside its rule.

    Examples:
        >>> print(invalid_argument("dropout", 2.0, "a fraction from 0 up to (not including) 1"))
        dropout=2.0 is not valid.
        Expected: a fraction from 0 up to (not including) 1
        Fix: pass dropout=<a fraction from 0 up to (not including) 1> (--dropout on the command line)
    """
    return ToolkitError(
        f"{name}={value!r} is not valid.",
        expected=expected,
        fix=f"pass {name}=<{expected}> (--{name.replace('_', '-')} on the command line)",
    )
