"""The one training loop every task shares: phases, trainable groups, the recipe, callbacks, checkpoints, resume.

A task supplies the pieces that differ (see `toolkit.Task`):
    `trainable_groups(model)`: named parts that strategies freeze and give their own rates;
    `_compile(model, make_optimizer)`: one loss or several, one optimizer or several, or a
        model with its own `train_step` (the Keras pattern for GANs);
    `monitor` / `monitor_mode`: the validation metric early stopping, checkpoints, the
        plateau callback and the tuner follow, and whether higher is better;
    `_training_model(model)`: what `fit` trains (e.g. a distillation wrapper around the model).
The trainer owns everything else, the same for every task.
"""

import math
import warnings

import keras

from toolkit import distribute, recipe, runs
from toolkit.callbacks import ProgressLines, TimeEstimate, default_callbacks
from toolkit.data import DataPosition
from toolkit.errors import ToolkitError
from toolkit.finetune import STRATEGIES


class Trainer:
    """Trains one task's model in the run directory, phase by phase, resuming a finished phase from disk.

    Args:
        task: the `toolkit.Task` whose arguments (recipe, callbacks, patience, ...) apply.
        run_dir: the run directory (a `pathlib.Path`); checkpoints go to its `checkpoints/`.

    Example:
    >>> from tasks import ImageClassifier
    >>> task = ImageClassifier(backbone="mlp", finetune="freeze_then_unfreeze", epochs=10)
    >>> [p.description for p in Trainer(task, run_dir=None).phases()]
    ['head only, backbone frozen', 'all layers, lower learning rate']
    """

    def __init__(self, task, run_dir):
        self.task = task
        self.run_dir = run_dir

    def phases(self):
        task = self.task
        return STRATEGIES.get(task.finetune)(task._epochs(), task._learning_rate(), task.backbone_lr_fraction)

    # ----------------------------------------------------------- one phase
    def prepare(self, model, phase, steps_per_epoch):
        """Freezes the phase's groups and compiles the model with the phase's optimizer(s)."""
        groups = self.task.trainable_groups(model)
        for name in list(phase.frozen) + list(phase.rates):
            if name not in groups:
                raise ToolkitError(
                    f"finetune={self.task.finetune!r} acts on the {name!r} part of the model, which this "
                    f"{type(self.task).__name__} model does not have (its parts: {', '.join(groups)}).",
                    expected="a fine-tuning strategy for the parts this model has",
                    fix="use finetune='full' and backbone_lr_fraction=None",
                )
        # Frozen groups last: a layer two groups share stays frozen.
        for name, layers in sorted(groups.items(), key=lambda item: item[0] in phase.frozen):
            for layer in layers:
                layer.trainable = name not in phase.frozen
        total_steps = steps_per_epoch * phase.epochs
        self.made = []  # the optimizers handed to the task's compile, the head's (or first group's) first
        self.task._compile(self.task._training_model(model), self._optimizers(groups, phase, total_steps))

    def _optimizers(self, groups, phase, total_steps):
        """`make_optimizer(group=None)`: the phase's optimizer for the whole model, or for one group alone."""
        task = self.task

        def make(learning_rate, name=None):
            return recipe.make_optimizer(task.optimizer, learning_rate, task.weight_decay, task.gradient_clip, name)

        rate = recipe.learning_rate_value(task.learning_rate_schedule, phase.learning_rate, total_steps)

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
    def fit(self, model, train, validation, data_position=None):
        """Runs the strategy's phases on `model` (trained in place); a finished phase is loaded on resume.

        Args:
            model: the task's model.
            train: the training data (a split part; the task's `_keras_data` unwraps it).
            validation: the validation part, or None to train for the fixed budget of `epochs`.
            data_position: the `toolkit.data.DataPosition` of `train`'s data when a search already
                read it (training goes on from there); None: a new one.

        Returns:
            The history: {metric: [value per epoch]} over all phases.
        """
        task = self.task
        phases = self.phases()
        checkpoints = self.run_dir / runs.CHECKPOINT_DIR
        checkpoints.mkdir(parents=True, exist_ok=True)
        # Read through a pass counter, saved with each backup: a resumed run reads the shuffle and
        # augmentation order an uninterrupted one would have read.
        position = data_position or DataPosition(task._keras_data(train))
        keras_train = distribute.one_example_per_replica(position.dataset)
        keras_validation = (
            distribute.one_example_per_replica(task._keras_data(validation)) if validation is not None else None
        )
        monitor = task.monitor if validation is not None else None
        steps = schedule_steps(task, keras_train)
        fit_model = task._training_model(model)
        history, epoch, estimated = {}, 0, False
        for i, phase in enumerate(phases):
            done_file = checkpoints / f"phase_{i}_done.json"
            weights_file = checkpoints / f"phase_{i}_final.weights.h5"
            if done_file.exists():
                task._say(f"Phase {i + 1}/{len(phases)} ({phase.description}) finished before; loading its weights.")
                model.load_weights(weights_file)
                done = runs.read_json(done_file)
                epoch = done["next_epoch"]
                position.skip_to(done.get("data_passes", 0))  # where the data was when that phase ended
                _extend(history, done["history"])
                continue
            self._say_if_resuming(checkpoints / f"phase_{i}_backup", i, len(phases))
            rates = "".join(f", {g} at {f:g}x" for g, f in phase.rates.items())
            task._say(
                f"Phase {i + 1}/{len(phases)}: {phase.description}; {_optimizer_name(task.optimizer)}, learning rate "
                f"{phase.learning_rate:g} ({task.learning_rate_schedule}){rates}, up to {phase.epochs} epochs"
                + ("." if monitor else ", no validation data: the whole budget.")
            )
            self.prepare(model, phase, steps)
            callbacks = list(task.callbacks or []) + task._task_callbacks(validation)
            if task.default_callbacks:
                callbacks += default_callbacks(
                    self.run_dir,
                    i,
                    epoch,
                    monitor=monitor,
                    mode=task.monitor_mode,
                    patience=task._patience(),
                    warmup=task._warmup_epochs(),
                    plateau=task.learning_rate_schedule == "plateau",
                    optimizer=self.made[0] if self.made else None,
                    tensorboard=task.tensorboard,
                    data_position=position,
                )
            if not estimated:  # once a run: after the first epoch it trains (or its first steps)
                later = sum(p.epochs for p in phases[i + 1 :])
                callbacks.append(TimeEstimate(task._say, epoch + phase.epochs, later))
                estimated = True
            if task._keras_verbose() == 2:  # not a terminal: Keras prints only at each epoch's end
                callbacks.append(ProgressLines())
            fit_model._initial_epoch = None  # set by a previous phase's BackupAndRestore; this phase starts at `epoch`
            with task._data_errors():
                result = fit_model.fit(
                    keras_train,
                    validation_data=keras_validation,
                    initial_epoch=epoch,
                    epochs=epoch + phase.epochs,
                    callbacks=callbacks,
                    shuffle=False,  # the training dataset shuffles itself
                    verbose=task._keras_verbose(),
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
            runs.write_json(
                done_file, {"next_epoch": epoch, "history": result.history, "data_passes": position.passes_done()}
            )
            _extend(history, result.history)
        self._compile_for_saving(model)
        return history

    def _say_if_resuming(self, backup_dir, phase, phases):
        """Names the epoch an interrupted phase goes on from (Keras' BackupAndRestore restores it silently)."""
        metadata = backup_dir / "training_metadata.json"
        if not metadata.exists():
            return
        try:
            done = int(runs.read_json(metadata)["epoch"])
        except (OSError, ValueError, KeyError, TypeError):  # BackupAndRestore itself falls back or fails loudly
            done = None
        where = f"epoch {done + 1}" if done is not None else "its last backup"
        self.task._say(
            f"Resuming from {where} of run '{self.run_dir.name}' (phase {phase + 1}/{phases} was interrupted; "
            f"its backup is in {backup_dir})."
        )

    def _compile_for_saving(self, model):
        """Compiles the trained model with one plain optimizer, all layers trainable.

        A run's optimizer may hold per-group optimizers keyed by variable, which
        do not serialise; the saved `model.keras` is compiled as a user would
        compile it, ready for `model_.fit` or `model_.evaluate`.
        """
        for layers in self.task.trainable_groups(model).values():
            for layer in layers:
                layer.trainable = True
        task = self.task
        rate = task._learning_rate()
        self.task._compile(
            model,
            lambda group=None: recipe.make_optimizer(task.optimizer, rate, task.weight_decay, task.gradient_clip),
        )
        if model.optimizer is not None and not model.optimizer.built:
            # Built now, so the saved optimizer has the variables a reload builds (Keras warns otherwise).
            model.optimizer.build(model.trainable_variables)


def _fail_on_non_finite_loss(history, first_epoch):
    """Ends the run as failed when a loss became NaN or infinite (Keras' TerminateOnNaN stopped it).

    The run is then not saved as finished: a model with NaN weights and a `"loss": NaN`
    in metrics.json would pass for a result.

    Example:
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


def schedule_steps(task, dataset):
    """Training steps per epoch where the task's schedule needs them (cosine, one-cycle); else 1, without a pass.

    Example:
    >>> from types import SimpleNamespace
    >>> import tensorflow as tf
    >>> schedule_steps(SimpleNamespace(learning_rate_schedule="plateau"), tf.data.Dataset.range(10).batch(4))
    1
    """
    return 1 if task.learning_rate_schedule in ("plateau", "constant") else steps_per_epoch(dataset)


def steps_per_epoch(dataset):
    """Batches in one pass of `dataset` (counted once when tf.data does not know it).

    Example:
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
