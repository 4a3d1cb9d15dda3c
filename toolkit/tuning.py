"""Hyperparameter search with KerasTuner over a task's `search_space(hp)`.

Tuner state lives in ``<run_dir>/tuner/`` and is reloaded (KerasTuner's
``overwrite=False``), so calling `fit` again with the same run name resumes
an interrupted search instead of starting over.

A search spreads over processes or machines with KerasTuner's own distributed
mode: one chief serves the oracle (`toolkit train ... --tune --chief HOST:PORT`,
which also trains the winner) and any number of workers run trials
(`toolkit tune-worker ... --oracle HOST:PORT`, or `Task.tune_worker`).
"""

import os
import socket
import time
import typing

import keras
import keras_tuner

from toolkit import data as data_lib
from toolkit import distribute, files, progress, streams
from toolkit.errors import ToolkitError
from toolkit.trainer import Trainer, steps_per_epoch


class Search(typing.NamedTuple):
    """What a search tries, declared by the task (see `Task.search`): the tuner, its trial budget and
    seed, `overrides(hp)` (the constructor arguments a trial changes, `Task.search_space`) and
    `build(hp)` (a trial's `TrainingSpec`, with a fresh model from a clone of the task)."""

    name: str
    tuner: str
    max_trials: int
    seed: int
    overrides: typing.Callable
    build: typing.Callable


class TaskHyperModel(keras_tuner.HyperModel):
    """Builds a trial's model from the search's `build(hp)` (a clone of the task with the trial's overrides).

    Trials train the first phase of the fine-tuning strategy (all layers for
    "full", the head for the others); the winner is then trained with the
    whole strategy. Each build copies a user's `keras.Model` backbone afresh,
    so every trial starts from the same weights.

    Examples:
        >>> import keras_tuner
        >>> from tasks import ImageClassifier
        >>> task = ImageClassifier(backbone="mlp")
        >>> task.classes_, task.image_size_, task.channels_, task.augment_ = ["a", "b"], (8, 8), 1, ()  # what fit sets
        >>> model = TaskHyperModel(task.search()).build(keras_tuner.HyperParameters())
        >>> model.output_shape
        (None, 2)
    """

    def __init__(self, search, steps_per_epoch=1):
        super().__init__(name=search.name)
        self.search = search
        self.steps_per_epoch = steps_per_epoch

    def build(self, hp):
        spec = self.search.build(hp)
        trainer = Trainer(spec, run_dir=None)
        trainer.prepare(trainer.phases()[0], self.steps_per_epoch)
        return spec.fit_model


class _SeededTrials:
    """Each trial starts from the random state the run seed and its trial id give, whatever ran before it.

    Without this a trial's initial weights, dropout and data order depend on how many trials this
    process ran before it: a search killed and resumed would rerun its unfinished trial from another
    state, score it differently and could pick another winner. Here trial n is seeded with
    `derived_seed(seed, "trial n")` and reads the training data from pass n x `passes_per_trial`
    on (see `toolkit.streams.DataPosition`), so a resumed search is the search that would have run.
    """

    run_seed = 0
    data_position = None
    passes_per_trial = 0

    trials_run = None
    say = None  # the task's `say`: the estimate after the first trial this process runs
    trials_timed = None

    def run_trial(self, trial, *args, **kwargs):
        if self.trials_run is not None:
            self.trials_run.append(trial.trial_id)
        keras.utils.set_random_seed(data_lib.derived_seed(self.run_seed, f"trial {trial.trial_id}"))
        if self.data_position is not None:
            self.data_position.skip_to(int(trial.trial_id) * self.passes_per_trial)
        start = time.monotonic()
        result = super().run_trial(trial, *args, **kwargs)
        if self.say is not None and self.trials_timed is None:
            self.trials_timed = time.monotonic() - start
            took = f"Trial {trial.trial_id} took {progress.duration(self.trials_timed).removeprefix('about ')}"
            # A distributed search's worker holds an OracleClient, which knows no trial count: it says its time.
            trials, most = getattr(self.oracle, "trials", None), getattr(self.oracle, "max_trials", None)
            left = most - len(trials) if trials is not None and most else None
            if left:
                took += (
                    f"; estimated: {progress.duration(self.trials_timed * left)} for the {left} trials left "
                    "(early stopping may end trials sooner; a distributed search shares them among its workers)"
                )
            self.say(took + ".")
        return result


class RandomSearch(_SeededTrials, keras_tuner.RandomSearch):
    pass


class BayesianOptimization(_SeededTrials, keras_tuner.BayesianOptimization):
    pass


class Hyperband(_SeededTrials, keras_tuner.Hyperband):
    pass


ORACLE_VARIABLES = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")


def role():
    """This process's part in a distributed search: "chief", "worker", or None (a search of its own),
    read from KerasTuner's variables (`KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP`, `_PORT`)."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return None
    return "chief" if "chief" in os.environ.get("KERASTUNER_TUNER_ID", "") else "worker"


def distributed_variables(role, address, worker_id=None):
    """The environment KerasTuner's distributed mode reads, for the chief or a worker of the search at
    `address` ("HOST:PORT"; the chief listens on it, workers connect to it).

    Examples:
        >>> distributed_variables("chief", "0.0.0.0:8000")
        {'KERASTUNER_TUNER_ID': 'chief', 'KERASTUNER_ORACLE_IP': '0.0.0.0', 'KERASTUNER_ORACLE_PORT': '8000'}
        >>> distributed_variables("worker", "10.0.0.5:8000", "gpu-box-1")["KERASTUNER_TUNER_ID"]
        'gpu-box-1'
    """
    host, _, port = str(address).rpartition(":")
    if not host or not port.isdigit():
        raise ToolkitError(
            f"{address!r} is not a HOST:PORT address.",
            expected="the chief's host and a free port, e.g. 10.0.0.5:8000 (0.0.0.0:8000 for the chief to listen on all)",
            fix="pass --chief HOST:PORT to the chief and --oracle HOST:PORT to each worker",
        )
    if worker_id is not None and "chief" in worker_id:
        raise ToolkitError(
            f"Worker id {worker_id!r} contains 'chief', which KerasTuner reserves for the chief.",
            expected="a name of its own for each worker",
            fix="pick another --worker-id",
        )
    name = "chief" if role == "chief" else worker_id or f"worker-{socket.gethostname()}-{os.getpid()}"
    return {"KERASTUNER_TUNER_ID": name, "KERASTUNER_ORACLE_IP": host, "KERASTUNER_ORACLE_PORT": port}


def check_worker(run_name):
    """Raises a clear error unless this process is a worker of a distributed search with the chief's run name."""
    if role() != "worker":
        raise ToolkitError(
            "This process is not a worker of a distributed search.",
            expected="KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT and a KERASTUNER_TUNER_ID without 'chief'",
            fix="run `toolkit tune-worker TASK --oracle HOST:PORT ...` (the chief's address)",
        )
    if run_name is None:
        raise ToolkitError(
            "A search worker needs the chief's run_name, to write its trials into the same run folder.",
            expected="the chief's --run-name",
            fix="pass the same --run-name as the chief's",
        )


def passes_per_trial(spec):
    """Passes over the training data a trial may read: its epochs, and a spare for a first look
    (`tf.distribute` peeks at one batch before training)."""
    return spec.epochs + 2


def make_tuner(search, spec, run_dir, steps_per_epoch=1, data_position=None):
    """The KerasTuner tuner the `Search` names, storing its state in run_dir/tuner.

    Examples:
        >>> import pathlib, tempfile
        >>> from tasks import ImageClassifier
        >>> task = ImageClassifier(backbone="mlp", tuner="hyperband", max_trials=3)
        >>> task.classes_, task.image_size_, task.channels_, task.augment_ = ["a", "b"], (8, 8), 1, ()  # what fit sets
        >>> tuner = make_tuner(task.search(), task.training_spec(build=False), pathlib.Path(tempfile.mkdtemp()))
        >>> type(tuner).__name__, tuner.oracle.max_trials
        ('Hyperband', 3)
    """
    common = dict(
        hypermodel=TaskHyperModel(search, steps_per_epoch),
        objective=keras_tuner.Objective(spec.monitor, direction=spec.monitor_mode),
        seed=search.seed,
        directory=str(run_dir),
        project_name="tuner",
        overwrite=False,
    )
    if search.tuner == "hyperband":
        # Hyperband plans its brackets from max_epochs and factor and takes no
        # max_trials; its oracle still honours the base Oracle's max_trials
        # attribute, so setting it caps the search at the user's budget.
        tuner = Hyperband(max_epochs=spec.epochs, factor=3, **common)
        tuner.oracle.max_trials = search.max_trials
    elif search.tuner == "bayesian":
        tuner = BayesianOptimization(max_trials=search.max_trials, **common)
    else:
        tuner = RandomSearch(max_trials=search.max_trials, **common)
    tuner.run_seed, tuner.data_position, tuner.passes_per_trial = search.seed, data_position, passes_per_trial(spec)
    return tuner


def run_search(search, spec, run_dir, data_position=None, trials_run=None):
    """Runs (or resumes) the search and returns the best trial's constructor overrides.

    Also writes ``<run_dir>/trials.csv``: one row per trial with its values and score.
    `spec` is the untuned `TrainingSpec` (its data, monitor, callbacks and budget apply to every trial);
    `data_position` is the training data's `toolkit.streams.DataPosition` (one is made when None); the
    search leaves it after the passes the largest search could read, where the final training starts
    whether or not the trials ran in this process.

    Examples:
        >>> from tasks import ImageClassifier
        >>> clf = ImageClassifier(tune=True, max_trials=4).fit("digits")  # doctest: +SKIP
        >>> clf.best_hyperparameters_  # doctest: +SKIP
        {'learning_rate': 0.0021, 'dropout': 0.1, 'backbone': 'resnet', 'width': 32}
    """
    if spec.validation is None:
        raise ToolkitError(
            "Tuning compares trials on validation data, and this run has none.",
            expected="validation_data=, or a validation_split of the training data",
            fix="pass validation data, or tune=False",
        )
    if data_position is None:
        data_position = streams.DataPosition(spec.train)
    train = distribute.one_example_per_replica(data_position.dataset)
    # Counted before any trial, on the uncounted data (trials may choose a schedule that needs it).
    tuner = make_tuner(search, spec, run_dir, steps_per_epoch(data_position.inner), data_position)
    tuner.trials_run = trials_run
    tuner.say = spec.say
    where = {
        "chief": f" (the chief of a distributed search, serving trials at {_oracle_address()})",
        "worker": f" (a worker of the distributed search at {_oracle_address()})",
    }.get(role(), "")
    spec.say(
        f"Tuning with {search.tuner} search{where}: up to {search.max_trials} trials of up to {spec.epochs} epochs "
        f"each; tuner state in {run_dir / 'tuner'}"
    )
    tuner.search(
        train,
        validation_data=distribute.one_example_per_replica(spec.validation),
        epochs=spec.epochs,
        shuffle=False,  # the training dataset shuffles itself
        callbacks=list(spec.callbacks)
        + [
            keras.callbacks.EarlyStopping(
                monitor=spec.monitor,
                mode=spec.monitor_mode,
                patience=spec.patience,
                start_from_epoch=spec.warmup,
            )
        ],
        verbose=spec.verbose,
    )
    if role() == "worker":  # the chief keeps the results and trains the winner
        return None
    write_trials(tuner, run_dir / "trials.csv", spec.monitor)
    data_position.skip_to(search.max_trials * passes_per_trial(spec))
    best_hp = tuner.get_best_hyperparameters(1)[0]
    return search.overrides(best_hp)


def write_trials(tuner, path, monitor="val_loss"):
    """Writes one CSV row per trial, best first: id, status, the monitored score, the other validation
    metrics of the trial's best epoch, then each hyperparameter.

    Examples:
        >>> import pathlib, tempfile
        >>> from tasks import ImageClassifier
        >>> run_dir = pathlib.Path(tempfile.mkdtemp())
        >>> task = ImageClassifier(backbone="mlp")
        >>> task.classes_, task.image_size_, task.channels_, task.augment_ = ["a", "b"], (8, 8), 1, ()  # what fit sets
        >>> tuner = make_tuner(task.search(), task.training_spec(build=False), run_dir)
        >>> write_trials(tuner, run_dir / "trials.csv")  # before any trial: the header only
        >>> (run_dir / "trials.csv").read_text().strip()
        'trial_id,status,val_loss'
    """
    rows, names, metrics = [], [], []
    for trial in tuner.oracle.trials.values():
        values = {k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")}
        for name in values:
            if name not in names:
                names.append(name)
        # KerasTuner keeps each metric of a trial's best epoch (by the objective): the validation ones go in too.
        scores = {
            name: trial.metrics.get_last_value(name)
            for name in trial.metrics.metrics
            if name.startswith("val_") and name != monitor
        }
        metrics += sorted(name for name in scores if name not in metrics)
        rows.append({"trial_id": trial.trial_id, "status": trial.status, monitor: trial.score, **scores, **values})
    sign = -1 if tuner.oracle.objective.direction == "max" else 1
    rows.sort(key=lambda row: (row[monitor] is None, sign * row[monitor] if row[monitor] is not None else 0))
    files.write_csv(path, rows, ["trial_id", "status", monitor, *sorted(metrics), *names])


def _oracle_address():
    return f"{os.environ.get('KERASTUNER_ORACLE_IP')}:{os.environ.get('KERASTUNER_ORACLE_PORT')}"
