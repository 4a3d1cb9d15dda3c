"""Saving and loading a task's run: `config.json` and `model.keras`, and the registry of task classes.

`toolkit.load` only ever builds a class registered in `TASKS` (filled by the task packages, found
through the "toolkit.tasks" entry points): a config file names a task, never code to import. Damaged
files are errors that say which file and what to do, never a traceback from JSON or Keras.
"""

import pathlib
import warnings
import zipfile

import keras

from toolkit import files, runs
from toolkit.errors import ToolkitError
from toolkit.estimator import BaseTask
from toolkit.preprocessing import Preprocessor
from toolkit.registry import Registry

# Task classes, registered by task modules; found through the
# "toolkit.tasks" entry points so the core never imports `tasks` by name.
TASKS = Registry("task", entry_point_group="toolkit.tasks")


def register_task(cls):
    """Class decorator: registers a task class under its `task_name`, the one place the name is declared
    (the "toolkit.tasks" entry point of its package must carry the same name; a test checks it).

    Examples:
        >>> from toolkit.task import Task
        >>> @register_task
        ... class Toy(Task):
        ...     task_name, description = "toy-doctest", "a task for this example"
        >>> TASKS.get("toy-doctest") is Toy, TASKS.metadata("toy-doctest")["description"]
        (True, 'a task for this example')
    """
    if not isinstance(getattr(cls, "task_name", None), str) or not cls.task_name:
        raise ValueError(f"{cls.__name__} declares no task_name, the name it is registered and saved under")
    return TASKS.register(cls.task_name, description=getattr(cls, "description", ""))(cls)


def save(task, path):
    """Writes the fitted `task`'s `config.json` (task name, arguments, what it learned from the data,
    versions) and `model.keras` into the folder `path`."""
    path = pathlib.Path(path)
    path.mkdir(parents=True, exist_ok=True)
    config = {
        "task": task.task_name,
        "class": f"{type(task).__module__}:{type(task).__qualname__}",
        "params": task.get_config(),
        "fitted": {
            k: v.to_saved() if isinstance(v, Preprocessor) else v
            for k, v in vars(task).items()
            if k.endswith("_") and k not in task.unsaved_attributes
        },
        "needs_keras_hub": any(
            type(layer).__module__.startswith("keras_hub") for layer in task.model_._flatten_layers()
        ),
        "versions": files.versions(),
    }
    files.write_json(path / runs.CONFIG_FILE, config)
    files.save_model(task.model_, path / runs.MODEL_FILE)


def load(path):
    """Rebuilds a fitted task from a run directory written by `fit` or `save`.

    Args:
        path: the run directory (holding config.json and model.keras).

    Returns:
        The task, of the class that was saved, ready to `predict` and `evaluate`.

    Examples:
        >>> clf = toolkit.load("saved_models/image_classification/my-run")  # doctest: +SKIP
        >>> clf.predict(["cat.jpg"])  # doctest: +SKIP
        >>> load("no/such/run")
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: 'no/such/run' is not a finished run directory (it lacks config.json or model.keras).
        ...
    """
    path = pathlib.Path(path)
    if not (path / runs.CONFIG_FILE).exists() or not (path / runs.MODEL_FILE).exists():
        raise ToolkitError(
            f"'{path}' is not a finished run directory (it lacks config.json or model.keras).",
            expected="a folder written by fit() or save(), e.g. saved_models/image_classification/<run>",
            fix="check the path; an interrupted run resumes by calling fit again with its run_name",
        )
    config = _read_config(path / runs.CONFIG_FILE)
    # Only a registered Task subclass is ever built: a config.json names a task, never code to import.
    task_name = config.get("task")
    if not isinstance(task_name, str) or task_name not in TASKS:
        raise ToolkitError(
            f"'{path / runs.CONFIG_FILE}' names the task {task_name!r}, which is not a registered task; "
            "loading was refused and nothing from the file was imported or run.",
            expected=f"a run of one of the installed tasks: {', '.join(TASKS.available())}",
            fix="install the package that provides this task (it registers itself under the 'toolkit.tasks' "
            "entry points), or check that the folder is a run written by fit()",
        )
    cls = TASKS.get(task_name)
    if not (isinstance(cls, type) and issubclass(cls, BaseTask)):
        raise ToolkitError(
            f"The task {task_name!r} is registered as {cls!r}, which is not a task class; loading was refused.",
            expected="tasks registered with @register_task on a toolkit.Task subclass",
            fix="check the package that registers this task",
        )
    if config.get("needs_keras_hub"):
        import keras_hub  # noqa: F401  (registers KerasHub's layers for deserialisation)
    task = cls(**config["params"])
    for name, value in config["fitted"].items():
        setattr(task, name, value)
    if getattr(cls, "preprocessor_class", None) is not None and isinstance(config["fitted"].get("preprocessor_"), dict):
        # Rebuilt by the class the task declares, from plain configuration and state: nothing is imported.
        task.preprocessor_ = cls.preprocessor_class.from_saved(config["fitted"]["preprocessor_"])
    task.model_ = _load_model(path / runs.MODEL_FILE)
    task.history_ = files.read_history(path / runs.HISTORY_FILE)
    task.metrics_ = _read_metrics(path / runs.METRICS_FILE)
    task.run_dir = str(path)
    task.after_loading()
    return task


def _read_config(path):
    """config.json as a dict with "params" and "fitted", or a clear error naming the file."""
    try:
        config = files.read_json(path)
    except (ValueError, UnicodeDecodeError) as error:  # json.JSONDecodeError is a ValueError
        raise ToolkitError(
            f"'{path}' is damaged: it is not valid JSON ({error}).",
            expected="the config.json that fit() wrote (the run's arguments and what it learned from the data)",
            fix="restore the file from a backup, or train the run again; the model cannot be rebuilt without it",
        ) from None
    missing = [key for key in ("task", "params", "fitted") if not isinstance(config, dict) or key not in config]
    if missing:
        raise ToolkitError(
            f"'{path}' is incomplete: it lacks {', '.join(repr(key) for key in missing)}.",
            expected="the config.json that fit() wrote, with 'task', 'params' and 'fitted'",
            fix="restore the file from a backup, or train the run again",
        )
    return config


def _load_model(path):
    """model.keras, loaded in Keras' safe mode, or a clear error: damaged file, or code that was refused."""
    size = path.stat().st_size
    try:
        with warnings.catch_warnings():
            # A KerasHub task nested in the model (a causal LM) has its own compile(), which Keras does not
            # restore; the toolkit's model around it is compiled as saved, and inference needs neither.
            warnings.filterwarnings("ignore", message=r"`compile\(\)` was not called as part of model loading")
            return keras.saving.load_model(path)
    except ValueError as error:
        if "safe_mode" in str(error) or "Lambda" in str(error):
            raise ToolkitError(
                f"'{path}' holds Python code (a Lambda layer); loading it was refused, since loading would run "
                "that code.",
                expected="a model.keras of registered layers, as the toolkit's tasks write",
                fix="if you wrote this file and trust it, load it yourself with "
                "keras.saving.load_model(path, safe_mode=False); otherwise train the run again",
            ) from None
        damaged = error
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        damaged = error
    # Keras says "File not found" for a file that exists but is not a zip archive: say what is wrong instead.
    why = "not a complete .keras zip archive" if not zipfile.is_zipfile(path) else f"Keras could not read it: {damaged}"
    raise ToolkitError(
        f"'{path}' is damaged ({size:,} bytes; {why}).",
        expected="a complete model.keras archive, as fit() writes it",
        fix="restore the file from a backup, or train the run again (a run interrupted before it finished resumes "
        "when fit is called again with its run_name)",
    ) from None


def _read_metrics(path):
    """metrics.json, or None with a warning when it is missing or damaged: the model is still usable."""
    if not path.exists():
        return None
    try:
        return files.read_json(path)
    except (ValueError, UnicodeDecodeError) as error:
        warnings.warn(
            f"'{path}' is damaged ({error}); the model loaded, but its scores are unknown. "
            "Run `toolkit evaluate` on your test data to score it again.",
            stacklevel=3,
        )
        return None
