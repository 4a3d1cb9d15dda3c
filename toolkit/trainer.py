"""The one training loop every task shares: phases, trainable groups, the recipe, callbacks, checkpoints, resume.

The trainer never sees a task: it takes a `TrainingSpec`, the declared pieces that differ between
tasks (the model and what Keras trains, how to compile it, its trainable groups, the monitored
metric, the callbacks, the data) and the recipe's numbers. `Task.training_spec` writes one.
The trainer owns everything else, the same for every task.
"""

import contextlib
import dataclasses
import math
import typing
import warnings

import keras

from toolkit import distribute, files, recipe, runs
from toolkit.callbacks import default_callbacks
from toolkit.errors import ToolkitError
from toolkit.finetune import STRATEGIES
from toolkit.progress import ProgressLines, TimeEstimate
from toolkit.streams import DataPosition


@dataclasses.dataclass
class TrainingSpec:
    """Everything the trainer and the tuner need to train one model, declared (see `Task.training_spec`).

    Attributes:
        model: the task's model, trained in place (None in a search's spec: each trial builds its own).
        compile: `compile(model, make_optimizer)`: one loss or several, one optimizer or several
            (`make_optimizer(group)`), or a model with its own `train_step` (the Keras pattern for GANs).
        trainable_groups: `trainable_groups(model) -> {name: [layers]}`: the parts fine-tuning
            strategies freeze and give their own learning rates.
        train, validation: what `keras.Model.fit` reads (validation None: the whole budget, no monitor).
        monitor, monitor_mode: the validation metric early stopping, checkpoints, the plateau
            callback and the tuner follow, and "min" or "max".
        epochs, learning_rate, patience, warmup: the budget, already resolved from the defaults.
        fit_model: what Keras trains when not `model` itself (a distillation wrapper around it).
        callbacks: the user's callbacks, then the task's, run before the defaults.
        say: where the trainer's lines go (the console and the run's log).
        data_errors: a context manager turning TensorFlow's data errors into the task's clear ones.

    Examples:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> spec = TrainingSpec(model, lambda m, make: m.compile(make(), "mse"), lambda m: {"model": [m]},
        ...                     train=None, validation=None, epochs=3, learning_rate=0.01)
        >>> [p.description for p in Trainer(spec, run_dir=None).phases()]
        ['all layers']
    """

    model: keras.Model | None
    compile: typing.Callable
    trainable_groups: typing.Callable
    train: typing.Any
    validation: typing.Any
    epochs: int
    learning_rate: float
    monitor: str = "val_loss"
    monitor_mode: str = "min"
    patience: int = 5
    warmup: int = 0
    finetune: str = "full"
    backbone_lr_fraction: float | None = None
    optimizer: typing.Any = "adam"
    learning_rate_schedule: str = "plateau"
    weight_decay: float | None = None
    gradient_clip: float | None = None
    fit_model: keras.Model | None = None
    callbacks: list = dataclasses.field(default_factory=list)
    default_callbacks: bool = True
    tensorboard: bool = False
    verbose: int = 1
    say: typing.Callable = print
    data_errors: typing.Callable = contextlib.nullcontext

    def __post_init__(self):
        if self.fit_model is None:
            self.fit_model = self.model


class Trainer:
    """Trains a `TrainingSpec`'s model in the run directory, phase by phase, resuming a finished phase from disk.

    Args:
        spec: the `TrainingSpec` (model, compile, groups, monitor, callbacks, data, budget).
        run_dir: the run directory (a `pathlib.Path`); checkpoints go to its `checkpoints/`.

    Examples:
        >>> from tasks import ImageClassifier
        >>> task = ImageClassifier(backbone="mlp", finetune="freeze_then_unfreeze", epochs=10)
        >>> task.classes_, task.image_size_, task.channels_, task.augment_ = ["a", "b"], (8, 8), 1, ()  # what fit sets
        >>> [p.description for p in Trainer(task.training_spec(), run_dir=None).phases()]
        ['head only, backbone frozen', 'all layers, lower learning rate']
    """

    def __init__(self, spec, run_dir):
        self.spec = spec
        self.run_dir = run_dir

    def phases(self):
        spec = self.spec
        return STRATEGIES.get(spec.finetune)(spec.epochs, spec.learning_rate, spec.backbone_lr_fraction)

    # ----------------------------------------------------------- one phase
    def prepare(self, phase, steps_per_epoch):
        """Freezes the phase's groups and compiles the model with the phase's optimizer(s)."""
        spec = self.spec
        groups = spec.trainable_groups(spec.model)
        for name in list(phase.frozen) + list(phase.rates):
            if name not in groups:
                raise ToolkitError(
                    f"finetune={spec.finetune!r} acts on the {name!r} part of the model, which this "
                    f"model does not have (its parts: {', '.join(groups)}).",
                    expected="a fine-tuning strategy for the parts this model has",
                    fix="use finetune='full' and backbone_lr_fraction=None",
                )
        # Frozen groups last: a layer two groups share stays frozen.
        for name, layers in sorted(groups.items(), key=lambda item: item[0] in phase.frozen):
            for layer in layers:
                layer.trainable = name not in phase.frozen
        total_steps = steps_per_epoch * phase.epochs
        self.made = []  # the optimizers handed to the task's compile, the head's (or first group's) first
        spec.compile(spec.fit_model, self._optimizers(groups, phase, total_steps))

    def _optimizers(self, groups, phase, total_steps):
        """`make_optimizer(group=None)`: the phase's optimizer for the whole model, or for one group alone."""
        spec = self.spec

        def make(learning_rate, name=None):
            return recipe.make_optimizer(spec.optimizer, learning_rate, spec.weight_decay, spec.gradient_clip, name)

        rate = recipe.learning_rate_value(spec.learning_rate_schedule, phase.learning_rate, total_steps)

        def make_optimizer(group=None):
            optimizer = _make_optimizer(group)
            self.made.append(getattr(optimizer, "head", optimizer))
            return optimizer

        def _make_optimizer(group):
            if group is not None:
                return make(recipe.scaled(rate, phase.rates.get(group, 1.0)))
            slower = {g: f for g, f in phase.rates.items() if g not in phase.frozen and f != 1}
            if not slower:
                return make(rate)
            head = make(rate, name="head")
            owner = {}
            for name, fraction in slower.items():
                optimizer = make(recipe.scaled(rate, fraction), name=name)
                for layer in groups[name]:
                    for variable in layer.trainable_variables:
                        owner[id(variable)] = optimizer
            # Keras' MultiOptimizer hands each variable to its group's optimizer (the head's by default).
            multi = keras.optimizers.MultiOptimizer(lambda variable: owner.get(id(variable), head))
            multi.head = head
            return multi

        return make_optimizer

    # --------------------------------------------------------------- phases
    def fit(self, data_position=None):
        """Runs the strategy's phases on the spec's model (trained in place); a finished phase is loaded on resume.

        Args:
            data_position: the `toolkit.streams.DataPosition` of the training data when a search already
                read it (training goes on from there); None: a new one.

        Returns:
            The history: {metric: [value per epoch]} over all phases.
        """
        spec = self.spec
        model = spec.model
        phases = self.phases()
        checkpoints = self.run_dir / runs.CHECKPOINT_DIR
        checkpoints.mkdir(parents=True, exist_ok=True)
        # Read through a pass counter, saved with each backup: a resumed run reads the shuffle and
        # augmentation order an uninterrupted one would have read.
        position = data_position or DataPosition(spec.train)
        keras_train = distribute.one_example_per_replica(position.dataset)
        validation = spec.validation
        keras_validation = distribute.one_example_per_replica(validation) if validation is not None else None
        monitor = spec.monitor if validation is not None else None
        steps = schedule_steps(spec, keras_train)
        fit_model = spec.fit_model
        history, epoch, estimated = {}, 0, False
        for i, phase in enumerate(phases):
            done_file = checkpoints / f"phase_{i}_done.json"
            weights_file = checkpoints / f"phase_{i}_final.weights.h5"
            if done_file.exists():
                spec.say(f"Phase {i + 1}/{len(phases)} ({phase.description}) finished before; loading its weights.")
                model.load_weights(weights_file)
                done = files.read_json(done_file)
                epoch = done["next_epoch"]
                position.skip_to(done.get("data_passes", 0))  # where the data was when that phase ended
                _extend(history, done["history"])
                continue
            self._say_if_resuming(checkpoints / f"phase_{i}_backup", i, len(phases))
            rates = "".join(f", {g} at {f:g}x" for g, f in phase.rates.items())
            spec.say(
                f"Phase {i + 1}/{len(phases)}: {phase.description}; {_optimizer_name(spec.optimizer)}, learning rate "
                f"{phase.learning_rate:g} ({spec.learning_rate_schedule}){rates}, up to {phase.epochs} epochs"
                + ("." if monitor else ", no validation data: the whole budget.")
            )
            self.prepare(phase, steps)
            callbacks = list(spec.callbacks)
            if spec.default_callbacks:
                callbacks += default_callbacks(
                    self.run_dir,
                    i,
                    epoch,
                    monitor=monitor,
                    mode=spec.monitor_mode,
                    patience=spec.patience,
                    warmup=spec.warmup,
                    plateau=spec.learning_rate_schedule == "plateau",
                    optimizer=self.made[0] if self.made else None,
                    tensorboard=spec.tensorboard,
                    data_position=position,
                )
            if not estimated:  # once a run: after the first epoch it trains (or its first steps)
                later = sum(p.epochs for p in phases[i + 1 :])
                callbacks.append(TimeEstimate(spec.say, epoch + phase.epochs, later))
                estimated = True
            if spec.verbose == 2:  # not a terminal: Keras prints only at each epoch's end
                callbacks.append(ProgressLines())
            fit_model._initial_epoch = None  # set by a previous phase's BackupAndRestore; this phase starts at `epoch`
            with spec.data_errors():
                result = fit_model.fit(
                    keras_train,
                    validation_data=keras_validation,
                    initial_epoch=epoch,
                    epochs=epoch + phase.epochs,
                    callbacks=callbacks,
                    shuffle=False,  # the training dataset shuffles itself
                    verbose=spec.verbose,
                )
            _fail_on_non_finite_loss(result.history, epoch)
            best_file = checkpoints / f"phase_{i}_best.weights.h5"
            if monitor and best_file.exists():
                # The best epoch of the whole phase, also across an interruption.
                try:
                    fit_model.load_weights(best_file)
                except (OSError, ValueError) as error:  # written by Keras in place: a kill can truncate it
                    warnings.warn(
                        f"The best-epoch checkpoint '{best_file}' could not be read ({error}); the model keeps "
                        "the weights of its last epoch instead.",
                        stacklevel=2,
                    )
            epoch = (result.epoch[-1] + 1) if result.epoch else epoch + phase.epochs
            model.save_weights(weights_file)
            files.write_json(
                done_file, {"next_epoch": epoch, "history": result.history, "data_passes": position.passes_done()}
            )
            _extend(history, result.history)
        self._compile_for_saving()
        return history

    def _say_if_resuming(self, backup_dir, phase, phases):
        """Names the epoch an interrupted phase goes on from (Keras' BackupAndRestore restores it silently)."""
        metadata = backup_dir / "training_metadata.json"
        if not metadata.exists():
            return
        try:
            done = int(files.read_json(metadata)["epoch"])
        except (OSError, ValueError, KeyError, TypeError):  # BackupAndRestore itself falls back or fails loudly
            done = None
        where = f"epoch {done + 1}" if done is not None else "its last backup"
        self.spec.say(
            f"Resuming from {where} of run '{self.run_dir.name}' (phase {phase + 1}/{phases} was interrupted; "
            f"its backup is in {backup_dir})."
        )

    def _compile_for_saving(self):
        """Compiles the trained model with one plain optimizer, all layers trainable.

        A run's optimizer may hold per-group optimizers keyed by variable, which
        do not serialise; the saved `model.keras` is compiled as a user would
        compile it, ready for `model_.fit` or `model_.evaluate`.
        """
        spec = self.spec
        model = spec.model
        for layers in spec.trainable_groups(model).values():
            for layer in layers:
                layer.trainable = True
        spec.compile(
            model,
            lambda group=None: recipe.make_optimizer(
                spec.optimizer, spec.learning_rate, spec.weight_decay, spec.gradient_clip
            ),
        )
        if model.optimizer is not None and not model.optimizer.built:
            # Built now, so the saved optimizer has the variables a reload builds (Keras warns otherwise).
            model.optimizer.build(model.trainable_variables)


def _fail_on_non_finite_loss(history, first_epoch):
    """Ends the run as failed when a loss became NaN or infinite (Keras' TerminateOnNaN stopped it).

    The run is then not saved as finished: a model with NaN weights and a `"loss": NaN`
    in metrics.json would pass for a result.

    Examples:
        >>> _fail_on_non_finite_loss({"loss": [0.5, 0.4]}, 0)
        >>> _fail_on_non_finite_loss({"loss": [0.5, float("nan")]}, 0)
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: The training loss became nan in epoch 2; the run stopped and was not saved as finished.
        ...
    """
    for name, values in history.items():
        if "loss" in name and not name.startswith("val_") and values and not math.isfinite(values[-1]):
            raise ToolkitError(
                f"The training {name.replace('_', ' ')} became {values[-1]} in epoch {first_epoch + len(values)}; "
                "the run stopped and was not saved as finished.",
                expected="finite losses (a learning rate the network can follow, finite inputs)",
                fix="lower --learning-rate (toolkit lr-find suggests one), add --gradient-clip 1.0, or check the "
                "data for extreme values; then rerun with a new --run-name",
            )


def schedule_steps(spec, dataset):
    """Training steps per epoch where the spec's schedule needs them (cosine, one-cycle); else 1, without a pass.

    Examples:
        >>> from types import SimpleNamespace
        >>> import tensorflow as tf
        >>> schedule_steps(SimpleNamespace(learning_rate_schedule="plateau"), tf.data.Dataset.range(10).batch(4))
        1
    """
    return 1 if spec.learning_rate_schedule in ("plateau", "constant") else steps_per_epoch(dataset)


def steps_per_epoch(dataset):
    """Batches in one pass of `dataset` (counted once when tf.data does not know it).

    Examples:
        >>> import tensorflow as tf
        >>> steps_per_epoch(tf.data.Dataset.range(10).batch(4))
        3
        >>> steps_per_epoch(tf.data.Dataset.range(10).filter(lambda x: x < 5).batch(2))
        3
    """
    import tensorflow as tf

    if isinstance(dataset, tf.data.Dataset):
        count = int(dataset.cardinality())
        if count >= 0:
            return count
        if count == tf.data.INFINITE_CARDINALITY:
            raise ToolkitError(
                "The training dataset repeats forever.",
                expected="a finite dataset (one pass is one epoch)",
                fix="remove .repeat() from the dataset",
            )
        return int(dataset.reduce(0, lambda n, _: n + 1))
    return len(dataset)


def _optimizer_name(optimizer):
    return optimizer if isinstance(optimizer, str) else type(optimizer).__name__


def _extend(history, more):
    for key, values in more.items():
        history.setdefault(key, []).extend(values)
