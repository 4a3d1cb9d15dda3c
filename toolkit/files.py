"""A run's files, written atomically (a temporary name, then a rename) and read back with clear errors.

A killed run never leaves half a file: every write goes to `.tmp-PID-name` first (`runs` removes
the ones a dead writer left). Written by hand around the standard library: `os.replace` is the
atomic step, and no maintained package does this for Keras models and JSON together.
"""

import csv
import errno
import json
import math
import os
import pathlib
import shutil

import numpy as np

from toolkit.errors import ToolkitError


def temporary_path(path):
    path = pathlib.Path(path)
    # Keras checks the extension of the file it saves to, so keep it last.
    return path.with_name(f".tmp-{os.getpid()}-{path.name}")


def copy_atomically(source, target):
    """Copies `source` to `target` so that `target` is the old file or the whole new one, never a part.

    Examples:
        >>> import tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "a.h5").write_text("weights")
        >>> copy_atomically(folder / "a.h5", folder / "a.h5.bkp"); (folder / "a.h5.bkp").read_text()
        'weights'
    """
    tmp = temporary_path(target)
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def write_json(path, data):
    """Writes `data` as indented, strict JSON, atomically.

    NaN and infinity, which JSON has no words for (Python would write `NaN`, which
    other tools refuse), are written as null.

    Examples:
        >>> import tempfile, numpy as np
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "metrics.json"
        >>> write_json(path, {"accuracy": 0.5, "f1": [float("nan"), np.float32(1.0)]})
        >>> read_json(path)
        {'accuracy': 0.5, 'f1': [None, 1.0]}
    """
    tmp = temporary_path(path)
    with open(tmp, "w") as f:
        json.dump(_strict(data), f, indent=2, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)


def write_text(path, text):
    """Writes `text` (UTF-8) atomically."""
    tmp = temporary_path(path)
    pathlib.Path(tmp).write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_csv(path, rows, fieldnames):
    """Writes a list of dicts as CSV, atomically.

    Examples:
        >>> import tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "trials.csv"
        >>> write_csv(path, [{"trial_id": "0", "val_loss": 0.3}], ["trial_id", "val_loss"])
        >>> path.read_text().splitlines()
        ['trial_id,val_loss', '0,0.3']
    """
    tmp = temporary_path(path)
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def save_model(model, path):
    """Saves a Keras model, atomically.

    Examples:
        >>> import tempfile, keras
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.keras"
        >>> save_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), path)
        >>> sorted(p.name for p in path.parent.iterdir())  # no temporary file left
        ['model.keras']
    """
    tmp = temporary_path(path)
    model.save(tmp)
    os.replace(tmp, path)


def read_json(path):
    """Reads a JSON file the toolkit wrote.

    Examples:
        >>> import tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "config.json"
        >>> write_json(path, {"task": "image-classification"})
        >>> read_json(path)["task"]
        'image-classification'
    """
    with open(path) as f:
        return json.load(f)


def read_history(path):
    """Reads a CSVLogger file into {column: [values]} (empty when missing).

    Examples:
        >>> import tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "history.csv"
        >>> _ = path.write_text("epoch,loss,val_loss\\n0,0.9,1.0\\n1,0.5,NA\\n")
        >>> read_history(path)
        {'epoch': [0.0, 1.0], 'loss': [0.9, 0.5], 'val_loss': [1.0, None]}
        >>> read_history(path.parent / "missing.csv")
        {}
    """
    path = pathlib.Path(path)
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    history = {}
    for row in rows:
        for key, value in row.items():
            if key is None:  # a row longer than the header (a column added mid-run): not a history column
                continue
            # CSVLogger writes "NA" for validation columns of a run without validation data.
            history.setdefault(key, []).append(float(value) if value not in ("", "NA", None) else None)
    return history


def _strict(value):
    """`value` with numpy scalars and arrays as Python values and non-finite floats as None."""
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(item) for item in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays reach metrics; JSON has no type for them
        return _strict(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def versions():
    """Versions of the libraries a run was made with, for config.json.

    Examples:
        >>> sorted(versions())[:2]
        ['keras', 'keras-hub']
    """
    import importlib.metadata

    found = {}
    for package in ("keras-toolkit", "keras", "tensorflow", "keras-hub", "keras-tuner"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def is_disk_full(error):
    """True for the error a write raises on a full disk (h5py words it in its own message).

    Examples:
        >>> import errno
        >>> is_disk_full(OSError(errno.ENOSPC, "No space left on device")), is_disk_full(ValueError("x"))
        (True, False)
    """
    if not isinstance(error, OSError):
        return False
    return error.errno == errno.ENOSPC or "No space left on device" in str(error) or "errno = 28" in str(error)


def disk_full_error(run_dir, model=None):
    """A clear error for a full disk: where, how much is free, and about how much the run needs.

    A run holds its model about five times at once at most: the saved model, the best
    checkpoint, the backup and its previous copy, and one file being written.
    """
    free = shutil.disk_usage(run_dir if pathlib.Path(run_dir).exists() else pathlib.Path(run_dir).parent).free
    if model is not None:
        # Weights and optimizer slots (Adam keeps two per weight), float32.
        need = 5 * 3 * 4 * sum(int(np.prod(w.shape)) for w in model.weights) + (1 << 20)
        needs = f"; this run needs about {need / 2**20:,.0f} MiB"
    else:
        needs = ""
    return ToolkitError(
        f"The disk holding '{run_dir}' is full ({free / 2**20:,.0f} MiB free{needs}). Training stopped; the last "
        "checkpoint that was written whole is intact, so the run resumes once there is space.",
        expected="free space for the run's model, checkpoints and backups",
        fix="free some space, or pass a save_dir on another disk (CLI: --save-dir); rerun with the same run_name "
        "to resume",
    )


def remove_dead_temporaries(folder, including_mine=False):
    """Deletes the temporary files (`.tmp-PID-name`) of writers that were killed mid-write.

    A file whose writer is still running (another process on this machine) is left alone;
    `including_mine` also removes this process's own (after a write of its own failed).

    Examples:
        >>> import tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / ".tmp-999999999-model.keras").write_bytes(b"half")
        >>> _ = (folder / f".tmp-{os.getpid()}-metrics.json").write_text("{")
        >>> remove_dead_temporaries(folder)
        >>> sorted(p.name for p in folder.iterdir()) == [f".tmp-{os.getpid()}-metrics.json"]
        True
    """
    for path in pathlib.Path(folder).rglob(".tmp-*-*"):
        pid = path.name.split("-")[1]
        mine = including_mine and pid == str(os.getpid())
        if pid.isdigit() and (mine or not _alive(int(pid))) and path.is_file():
            path.unlink(missing_ok=True)


def _alive(pid):
    try:
        os.kill(pid, 0)  # PermissionError (another user's live process) is alive too
    except (ProcessLookupError, OverflowError):  # no such process (or a number no process can have)
        return False
    except PermissionError:
        pass
    return True
