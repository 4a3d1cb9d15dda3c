"""The callbacks every run gets unless the user turns them off."""

import math
import os
import shutil
import types
import warnings

import keras

from toolkit import files, runs


def default_callbacks(
    run_dir,
    phase,
    start_epoch,
    monitor="val_loss",
    mode="min",
    patience=5,
    warmup=0,
    plateau=True,
    tensorboard=False,
    optimizer=None,
    data_position=None,
):
    """Early stopping, learning-rate reduction on plateau, best checkpoint, resumable backup, CSV history, NaN guard.

    Without a monitor (no validation data) only the backup, the history and
    the NaN guard remain: the run trains for its whole budget.

    Args:
        run_dir: the run directory (a `pathlib.Path`).
        phase: index of the fine-tuning phase; each phase has its own backup
            and best checkpoint, since the model's trainable weights differ.
        start_epoch: first epoch of this phase, used to find the best value
            the phase reached before an interruption.
        monitor: the validation quantity to follow, or None.
        mode: "min" when lower is better (a loss), "max" when higher is (accuracy, mAP).
        patience: epochs without improvement before stopping.
        warmup: epochs at the start of the phase in which early stopping and the plateau
            halving do not act (the best checkpoint is still kept).
        plateau: halve the learning rate when the monitor stalls (off when a schedule sets the rate).
        tensorboard: also write TensorBoard logs to `run_dir/logs`.
        optimizer: the optimizer whose rate `history.csv` logs (default: the model's).
        data_position: the training data's `toolkit.streams.DataPosition`, saved with each backup so a
            resumed phase reads the data in the order an uninterrupted one would.

    Returns:
        A list of Keras callbacks.

    Examples:
        >>> import pathlib, tempfile
        >>> cbs = default_callbacks(pathlib.Path(tempfile.mkdtemp()), phase=0, start_epoch=0)
        >>> [type(c).__name__ for c in cbs][:3]
        ['EarlyStopping', 'ReduceLROnPlateau', 'ModelCheckpoint']
    """
    checkpoints = run_dir / runs.CHECKPOINT_DIR
    checkpoints.mkdir(parents=True, exist_ok=True)
    history_file = run_dir / runs.HISTORY_FILE
    callbacks = []
    if monitor is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor,
                mode=mode,
                patience=patience,
                restore_best_weights=True,
                start_from_epoch=start_epoch + warmup,
            )
        )
        if plateau:
            # Halving the step size when validation stalls settles the noisy late
            # epochs; it acts before early stopping gives up.
            callbacks.append(
                ReduceLROnPlateau(
                    monitor=monitor,
                    mode=mode,
                    factor=0.5,
                    patience=max(1, patience // 2),
                    verbose=0,
                    start_from_epoch=start_epoch + warmup,
                )
            )
        callbacks.append(
            keras.callbacks.ModelCheckpoint(
                checkpoints / f"phase_{phase}_best.weights.h5",
                monitor=monitor,
                mode=mode,
                save_best_only=True,
                save_weights_only=True,
                initial_value_threshold=_best_so_far(history_file, monitor, mode, start_epoch),
            )
        )
    # After the backup (which sets the resumed epoch): early stopping's and the halving's counters.
    resume = ResumeCounters(
        [c for c in callbacks if isinstance(c, (keras.callbacks.EarlyStopping, ReduceLROnPlateau))],
        history_file,
        start_epoch,
    )
    callbacks += [
        # Atomic writes, the previous state kept too, and an unreadable backup falls back (see AtomicBackup).
        AtomicBackup(str(checkpoints / f"phase_{phase}_backup"), double_checkpoint=True, data_position=data_position),
        resume,
        LearningRateLog(optimizer),
        keras.callbacks.CSVLogger(str(history_file), append=True),
        keras.callbacks.TerminateOnNaN(),
    ]
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "logs")))
    return callbacks


def _best_so_far(history_file, monitor, mode, start_epoch):
    """Best `monitor` value this phase logged before an interruption, or None.

    Without it a resumed run's checkpoint would forget the earlier best and
    overwrite it with the first, possibly worse, epoch after the restart.
    """
    history = files.read_history(history_file)
    values = [
        value
        for epoch, value in zip(history.get("epoch", []), history.get(monitor, []))
        if epoch is not None and epoch >= start_epoch and value is not None and not math.isnan(value)
    ]
    if not values:
        return None
    return max(values) if mode == "max" else min(values)


class ReduceLROnPlateau(keras.callbacks.ReduceLROnPlateau):
    """Keras' callback, with a warm-up, also where mixed_float16 wraps a `MultiOptimizer` in a `LossScaleOptimizer`.

    Epochs before `start_from_epoch` are not counted (as `EarlyStopping`'s argument of that
    name does), so a from-scratch network's flat first epochs do not halve its rate.
    Keras' version reduces each optimizer of a `MultiOptimizer` (discriminative rates), but asks a
    `LossScaleOptimizer` for one learning rate, which a wrapped `MultiOptimizer` refuses to give; so
    for that pairing the callback acts on the optimizer inside the loss scaling.
    """

    def __init__(self, *args, start_from_epoch=0, **kwargs):
        super().__init__(*args, **kwargs)
        self.start_from_epoch = start_from_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.start_from_epoch:
            return
        model = self.model
        inner = getattr(model.optimizer, "inner_optimizer", None)
        if inner is None or not hasattr(inner, "optimizers"):
            return super().on_epoch_end(epoch, logs)
        self._model = types.SimpleNamespace(optimizer=inner)  # all the base class reads (its mode is explicit)
        try:
            super().on_epoch_end(epoch, logs)
        finally:
            self._model = model


class LearningRateLog(keras.callbacks.Callback):
    """Logs the head's current learning rate as `learning_rate`, every epoch, in every phase.

    `ReduceLROnPlateau` logs `learning_rate` for one optimizer but
    `learning_rate_<name>` per optimizer of a `MultiOptimizer`, and nothing runs
    it under a schedule; `history.csv` is appended across phases under one
    header, so its columns must not change between them. The backbone's rate
    is the head's times `backbone_lr_fraction`.

    Examples:
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> model.compile(keras.optimizers.SGD(0.5), "mse")
        >>> logs = {}
        >>> callback = LearningRateLog(); callback.set_model(model); callback.on_epoch_end(0, logs)
        >>> logs
        {'learning_rate': 0.5}
    """

    def __init__(self, optimizer=None):
        super().__init__()
        self.optimizer = optimizer  # a model with its own train_step may train with others than model.optimizer

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for key in [k for k in logs if k.startswith("learning_rate_")]:
            del logs[key]
        optimizer = self.optimizer or self.model.optimizer
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # mixed_float16's loss scaling
        if hasattr(optimizer, "optimizers"):  # a MultiOptimizer: the head's (the default) optimizer
            named = {inner.name: inner for inner in optimizer.optimizers}
            optimizer = named.get("head", optimizer.optimizers[0])
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))


class AtomicBackup(keras.callbacks.BackupAndRestore):
    """Keras' `BackupAndRestore`, with each backup file written whole or not at all.

    Keras writes `latest.weights.h5` in place: a process killed during the first write
    leaves a truncated file, no previous copy to fall back to, and every rerun then
    crashes on it. Here each file is written to a temporary name and renamed over the
    old one (atomic on POSIX), and a backup that still fails to load (a damaged disk,
    a file copied half-way) falls back to the previous copy, or to a fresh start of
    the phase, with a warning.
    """

    def __init__(self, *args, data_position=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.data_position = data_position

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint:
            for path in (self._weights_path, self._training_metadata_path):
                if os.path.exists(path):
                    files.copy_atomically(path, f"{path}.bkp")
        weights_tmp = files.temporary_path(self._weights_path)
        self.model.save_weights(filepath=str(weights_tmp), overwrite=True)
        os.replace(weights_tmp, self._weights_path)
        # The metadata Keras writes, written atomically, and what Keras does not save: how many passes
        # over the training data were read (its shuffle and augmentation order) and the random state of
        # the model's own layers (dropout, in-model augmentation), so a resumed run goes on as it was.
        metadata = {"epoch": self._current_epoch, "batch": self._last_batch_seen}
        metadata["seed_generators"] = [[int(v) for v in state.numpy()] for state in _seed_states(self.model)]
        if self.data_position is not None:
            metadata["data_passes"] = self.data_position.passes_done()
        files.write_json(self._training_metadata_path, metadata)

    def on_train_begin(self, logs=None):
        try:
            super().on_train_begin(logs)
            self._restore_random_state()
        except (OSError, ValueError, KeyError) as error:
            warnings.warn(
                f"The training backup in '{self.backup_dir}' could not be read ({error}); this training phase "
                "starts again from its beginning. (The previous backup was missing or unreadable too.)",
                stacklevel=2,
            )
            shutil.rmtree(self.backup_dir, ignore_errors=True)
            os.makedirs(self.backup_dir, exist_ok=True)

    def _restore_random_state(self):
        if not os.path.exists(self._training_metadata_path):
            return
        metadata = files.read_json(self._training_metadata_path)
        if self.data_position is not None and "data_passes" in metadata:
            self.data_position.skip_to(metadata["data_passes"])
        saved = metadata.get("seed_generators")
        states = _seed_states(self.model)
        if saved is None:
            return
        if len(saved) != len(states):  # not this model's backup state; the weights loaded, so go on
            warnings.warn(
                f"The training backup in '{self.backup_dir}' holds {len(saved)} random-number states and the "
                f"model has {len(states)}; they were not restored, so dropout and random layers will not "
                "repeat what an uninterrupted run would have drawn.",
                stacklevel=2,
            )
            return
        for state, value in zip(states, saved):
            state.assign(value)


def _seed_states(model):
    """The state variables of the `keras.random.SeedGenerator`s in `model` (dropout, random layers), in
    a fixed order: `variables` is `weights` plus these."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


class ResumeCounters(keras.callbacks.Callback):
    """Restores early stopping's and the plateau halving's counters when a phase resumes.

    `BackupAndRestore` brings back the weights, the optimizer (its learning rate
    included) and the epoch, but the callbacks start afresh: without this, a run
    killed two stalled epochs before a halving would wait a full patience again
    after the restart. The phase's epochs logged in `history.csv` are replayed
    through both callbacks, so their `wait`, `best` and cooldown are what an
    uninterrupted run would have; the replay never changes the learning rate
    (the backup restored it).
    """

    def __init__(self, callbacks, history_file, start_epoch):
        super().__init__()
        self.callbacks = callbacks
        self.history_file = history_file
        self.start_epoch = start_epoch

    def on_train_begin(self, logs=None):
        resumed_at = getattr(self.model, "_initial_epoch", None)
        if not resumed_at or resumed_at <= self.start_epoch or not self.callbacks:
            return
        history = files.read_history(self.history_file)
        rows = [
            {key: values[i] for key, values in history.items() if values[i] is not None}
            for i, epoch in enumerate(history.get("epoch", []))
            if epoch is not None and self.start_epoch <= epoch < resumed_at
        ]
        for row in rows:
            epoch = int(row.pop("epoch"))
            for callback in self.callbacks:
                if isinstance(callback, ReduceLROnPlateau):
                    # A stand-in optimizer at the logged rate: the counters move, the real rate does not.
                    rate = row.get("learning_rate", 1.0)
                    callback._model = types.SimpleNamespace(optimizer=types.SimpleNamespace(learning_rate=rate))
                    try:
                        callback.on_epoch_end(epoch, dict(row))
                    finally:
                        callback._model = self.model
                else:
                    callback.on_epoch_end(epoch, dict(row))


class ValidationScores(keras.callbacks.Callback):
    """Base of a task's callback that scores the validation part at each epoch's end and puts the scores in
    the logs (a QA span F1, a detector's mAP), for early stopping, checkpoints and the tuner.

    Subclasses implement `on_epoch_end`, reading `self.task` and `self.validation`.
    """

    def __init__(self, task, validation):
        super().__init__()
        self.task, self.validation = task, validation

    def __deepcopy__(self, memo):
        # KerasTuner copies a search's callbacks for each trial; the task and its validation part (datasets,
        # traced functions: not copyable) are the same for every trial, so they are shared.
        return type(self)(self.task, self.validation)
