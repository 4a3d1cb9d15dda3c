"""The callbacks every run gets unless the user turns them off."""

import math

import keras

from toolkit import runs


def default_callbacks(run_dir, phase, start_epoch, monitor="val_loss", patience=5, tensorboard=False):
    """Early stopping, learning-rate reduction on plateau, best checkpoint, resumable backup, CSV history, NaN guard.

    Args:
        run_dir: the run directory (a `pathlib.Path`).
        phase: index of the fine-tuning phase; each phase has its own backup
            and best checkpoint, since the model's trainable weights differ.
        start_epoch: first epoch of this phase, used to find the best value
            the phase reached before an interruption.
        monitor: the validation quantity to minimise.
        patience: epochs without improvement before stopping.
        tensorboard: also write TensorBoard logs to `run_dir/logs`.

    Returns:
        A list of Keras callbacks.

    Example:
    >>> import pathlib, tempfile
    >>> cbs = default_callbacks(pathlib.Path(tempfile.mkdtemp()), phase=0, start_epoch=0)
    >>> [type(c).__name__ for c in cbs][:3]
    ['EarlyStopping', 'ReduceLROnPlateau', 'ModelCheckpoint']
    """
    checkpoints = run_dir / runs.CHECKPOINT_DIR
    checkpoints.mkdir(parents=True, exist_ok=True)
    history_file = run_dir / runs.HISTORY_FILE
    callbacks = [
        keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, restore_best_weights=True),
        # Halving the step size when validation stalls settles the noisy late
        # epochs; it acts before early stopping gives up.
        keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.5, patience=max(1, patience // 2), verbose=0),
        keras.callbacks.ModelCheckpoint(
            checkpoints / f"phase_{phase}_best.weights.h5",
            monitor=monitor,
            save_best_only=True,
            save_weights_only=True,
            initial_value_threshold=_best_so_far(history_file, monitor, start_epoch),
        ),
        # double_checkpoint keeps the previous state too, so a kill in the
        # middle of writing a backup still leaves one that loads.
        keras.callbacks.BackupAndRestore(str(checkpoints / f"phase_{phase}_backup"), double_checkpoint=True),
        keras.callbacks.CSVLogger(str(history_file), append=True),
        keras.callbacks.TerminateOnNaN(),
    ]
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "logs")))
    return callbacks


def _best_so_far(history_file, monitor, start_epoch):
    """Best `monitor` value this phase logged before an interruption, or None.

    Without it a resumed run's checkpoint would forget the earlier best and
    overwrite it with the first, possibly worse, epoch after the restart.
    """
    history = runs.read_history(history_file)
    values = [
        value
        for epoch, value in zip(history.get("epoch", []), history.get(monitor, []))
        if epoch is not None and epoch >= start_epoch and value is not None and not math.isnan(value)
    ]
    return min(values) if values else None
