"""The Task base class: scikit-learn's estimator contract on Keras models.

`__init__` only stores keyword arguments. `fit` validates, builds, trains,
saves the run and returns `self`; learned state ends in `_`. Subclasses
provide the task-specific parts (data, model, metrics, predictions); this
class owns training, fine-tuning phases, callbacks, tuning and saving.
"""

import contextlib
import datetime
import inspect
import json
import math
import os
import pathlib
import shutil
import sys
import typing
import warnings
import zipfile

import keras
import tensorflow as tf

from toolkit import data as data_lib
from toolkit import distribute, recipe, runs
from toolkit import export as export_lib
from toolkit import metrics as metrics_lib
from toolkit import params as params_lib
from toolkit import report as report_lib
from toolkit import splits as splits_lib
from toolkit.errors import ToolkitError
from toolkit.finetune import STRATEGIES
from toolkit.registry import Registry
from toolkit.trainer import Trainer

# The budget of epochs=None (see `Task._default_epochs`).
DEFAULT_BATCH_SIZE = 32  # batch_size=None where the task has no rule of its own
DEFAULT_EPOCHS = 30
MIN_SCRATCH_STEPS = 1000
MAX_DEFAULT_EPOCHS = 200
# batch_size=None on a small training set: more, noisier steps generalise better from scratch (measured on
# small image folders and FSDD subsets, benchmarks/RESULTS.md).
SMALL_BATCH, SMALL_BATCH_BELOW = 16, 500

# Task classes, registered by task modules; found through the
# "toolkit.tasks" entry points so the core never imports `tasks` by name.
TASKS = Registry("task", entry_point_group="toolkit.tasks")

TUNERS = ("random", "bayesian", "hyperband")


class Task:
    """Base class of every task. Subclasses set `task_name` and implement the hooks.

    Hooks a subclass implements:
        `_prepare_data(data, validation_data) -> toolkit.data.Splits` (validation may be None:
            the trainer then trains for the whole budget)
        `_build_model() -> keras.Model`
        `_evaluation_dataset(data)`: user data -> batched dataset
        `_evaluate_dataset(dataset) -> dict` of metrics
        `predict(inputs)`, `search_space(hp) -> dict` of overrides
    Hooks with defaults (see `toolkit.trainer`):
        `trainable_groups(model)`: {"backbone": [...], "head": [...]} when the model has a
            layer named "backbone", else {"model": [model]}
        `_compile(model, make_optimizer)`: one optimizer, `_loss()` and `_metrics()`
        `monitor`, `monitor_mode`: "val_loss", "min"
        `_training_model(model)`: the model itself
        `_keras_data(part)`: a split part -> what `keras.Model.fit` takes (default: the part itself)
        `_task_callbacks(validation)`: callbacks the task adds before the defaults (default: none)
        `_after_training(model, splits)`: learn thresholds etc. from the trained model (default: nothing)

    Example:
    >>> from tasks import ImageClassifier  # a Task subclass
    >>> clf = ImageClassifier(backbone="lenet", epochs=5)
    >>> clf.get_config()["epochs"]
    5
    >>> clf.fit("digits").metrics_["test"]["accuracy"]  # doctest: +SKIP
    0.98...
    """

    task_name = None
    default_data = None
    # Whether a split-off validation part is raised to `data.validation_floor` examples (see `data.holdout`).
    floors_validation = True
    # epochs=None on a data set big enough: the budget in epochs (raised on a small one, see `_default_epochs`).
    budget_epochs = DEFAULT_EPOCHS
    data_forms = ""  # the forms `fit`'s data takes, in words (what `toolkit train <task> --help` shows for --data)
    built_in_data = {}  # {name: description} of the data the task builds in (what `toolkit list datasets` shows)
    # The validation metric early stopping, checkpoints, the plateau callback and the tuner follow.
    monitor = "val_loss"
    monitor_mode = "min"  # "max" when higher is better (val_accuracy, val_map)
    # Learned attributes that config.json leaves out: they have files of their own,
    # or (in subclasses) are only needed while training.
    unsaved_attributes = ("model_", "history_", "metrics_")
    # Registry metadata filters that select the from-scratch backbones this task takes, e.g.
    # ({"modality": "image"},): the one source of truth for checking `backbone` and for `toolkit list`.
    backbone_filters = ()
    keras_hub_task = None  # the KerasHub task class whose presets fit, e.g. "ImageClassifier"
    # What `toolkit serve` accepts at POST /predict: "files" (uploads passed to `predict` as paths:
    # images, WAV recordings), "texts" (a JSON list of strings) or "questions" (a JSON list of
    # {"question", "context"} objects). See `toolkit.serve`.
    serving_input = "files"

    @classmethod
    def accepted_backbones(cls):
        """Names of the registered from-scratch backbones this task takes.

        Example:
        >>> from tasks import ImageSegmenter
        >>> "unet" in ImageSegmenter.accepted_backbones(), "mlp" in ImageSegmenter.accepted_backbones()
        (True, False)
        """
        from toolkit.backbones import BACKBONES

        return sorted({name for filters in cls.backbone_filters for name in BACKBONES.available(**filters)})

    @classmethod
    def keras_hub_presets(cls):
        """Names of built-in KerasHub presets this task can fine-tune."""
        from toolkit.backbones import keras_hub_presets

        return keras_hub_presets(cls.keras_hub_task) if cls.keras_hub_task else []

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
            raise params_lib.unknown_arguments_error(type(self).__name__, sorted(unknown), type(self)._param_names())
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

    # ------------------------------------------------------------------ params
    @classmethod
    def _keyword_parameters(cls):
        """{argument: inspect.Parameter} of the keyword-only constructor arguments of this class and its bases,
        subclass first (a subclass's default and annotation win)."""
        found = {}
        for klass in cls.__mro__:
            if "__init__" not in vars(klass) or klass is object:
                continue
            for name, p in inspect.signature(klass.__init__).parameters.items():
                if p.kind == p.KEYWORD_ONLY and name not in found:
                    found[name] = p
        return found

    @classmethod
    def _param_defaults(cls):
        """{argument: default} of the constructor arguments."""
        return {name: p.default for name, p in cls._keyword_parameters().items()}

    @classmethod
    def _param_names(cls):
        return list(cls._keyword_parameters())

    @classmethod
    def _param_annotations(cls):
        """{argument: annotation} of the constructor arguments (see `toolkit.params`)."""
        return {name: p.annotation for name, p in cls._keyword_parameters().items() if p.annotation is not p.empty}

    def get_config(self):
        """The constructor's arguments, JSON-serialisable (objects become a description string)."""
        config = {}
        for name in self._param_names():
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
        names = self._param_names()
        for name, value in params.items():
            if name not in names:
                raise ToolkitError(
                    f"{type(self).__name__} has no argument {name!r}.",
                    expected=f"one of: {', '.join(names)}",
                    fix="check the spelling",
                )
            setattr(self, name, value)
        return self

    def _clone(self, **overrides):
        """A new task with the same arguments (plus `overrides`) and the same learned data attributes."""
        params = {name: getattr(self, name) for name in self._param_names()}
        params.update(overrides)
        clone = type(self)(**params)
        for name, value in vars(self).items():
            if name.endswith("_") and name not in Task.unsaved_attributes:  # what the data step learned
                setattr(clone, name, value)
        return clone

    def _check_each(self, checks):
        """Raises the first failed check of `checks`, (ok, argument name, what is expected) triples, as a
        three-part error naming the argument and its value."""
        for ok, name, expected in checks:
            if not ok:
                raise ToolkitError(
                    f"{name}={getattr(self, name)!r} is not valid.", expected=expected, fix=f"pass a valid {name}"
                )

    def _check_params(self):
        """Checks every argument's type (from the constructor's annotations), then the ranges, before any work."""
        values = {name: getattr(self, name) for name in self._param_names()}
        params_lib.check(type(self).__name__, values, self._param_annotations())
        params_lib.check_ranges(values)
        checks = [
            (self.epochs is None or self.epochs >= 1, "epochs", "an integer >= 1 (or None)"),
            (self.batch_size is None or self.batch_size >= 1, "batch_size", "an integer >= 1, or None"),
            (self.learning_rate is None or self.learning_rate > 0, "learning_rate", "a number > 0 (or None)"),
            (self.patience is None or self.patience >= 0, "patience", "an integer >= 0 (or None)"),
            (self.warmup_epochs is None or self.warmup_epochs >= 0, "warmup_epochs", "an integer >= 0 (or None)"),
            (0 < self.validation_split < 1, "validation_split", "a fraction between 0 and 1"),
            (0 <= self.test_split < 1, "test_split", "a fraction from 0 up to (not including) 1"),
            (self.validation_split + self.test_split < 1, "test_split", "validation_split + test_split below 1"),
            (self.max_trials >= 1, "max_trials", "an integer >= 1"),
            (self.tuner in TUNERS, "tuner", f"one of {TUNERS}"),
            (
                not isinstance(self.optimizer, str) or self.optimizer in recipe.OPTIMIZERS,
                "optimizer",
                f"one of {sorted(recipe.OPTIMIZERS)}, or a keras.optimizers.Optimizer",
            ),
            (self.learning_rate_schedule in recipe.SCHEDULES, "learning_rate_schedule", f"one of {recipe.SCHEDULES}"),
            (self.weight_decay is None or self.weight_decay >= 0, "weight_decay", "a number >= 0 (or None)"),
            (self.gradient_clip is None or self.gradient_clip > 0, "gradient_clip", "a number > 0 (or None)"),
            (
                self.backbone_lr_fraction is None or 0 < self.backbone_lr_fraction <= 1,
                "backbone_lr_fraction",
                "a fraction above 0 and up to 1 (or None)",
            ),
            (self.l1 >= 0, "l1", "a number >= 0"),
            (self.l2 >= 0, "l2", "a number >= 0"),
            (self.precision in recipe.PRECISIONS, "precision", f"one of {recipe.PRECISIONS}"),
            (self.split in splits_lib.METHODS, "split", f"one of {splits_lib.METHODS}"),
            (
                not isinstance(self.distribution, str) or self.distribution in distribute.CHOICES,
                "distribution",
                f"None, one of {distribute.CHOICES}, or a tf.distribute.Strategy",
            ),
        ]
        self._check_each(checks)
        STRATEGIES.get(self.finetune)

    def _check_backbone(self):
        """A `keras.Model`, a from-scratch name this task takes, or (tasks with KerasHub presets) a preset."""
        from toolkit import backbones

        backbone = self._chosen_backbone()
        if isinstance(backbone, keras.Model):
            return
        if backbone in self.accepted_backbones():
            return
        if self.keras_hub_task and backbones.is_preset(backbone):
            return
        raise backbones.unknown_backbone_error(
            backbone, self.accepted_backbones(), self.task_name, presets=bool(self.keras_hub_task)
        )

    def _chosen_backbone(self):
        """The backbone this fit uses: `backbone`, or what a task resolves a default "auto" to (question
        answering: a pretrained encoder for the user's data, its from-scratch one for the built-in set)."""
        return getattr(self, "backbone", None)

    @contextlib.contextmanager
    def _tuned(self):
        """Within this block the arguments tuning chose (`best_hyperparameters_`) stand in for the user's.

        `fit` never changes what the user passed (scikit-learn's rule): building,
        training and scoring the winner see its values, and the user's come back after.
        """
        best = getattr(self, "best_hyperparameters_", None) or {}
        saved = {name: getattr(self, name) for name in best}
        for name, value in best.items():
            setattr(self, name, value)
        try:
            yield
        finally:
            for name, value in saved.items():
                setattr(self, name, value)

    # ---------------------------------------------------------------- training
    def fit(self, data=None, validation_data=None, groups=None):
        """Validates the data, builds the model, trains it and saves the run.

        Args:
            data: training data in any form the task accepts; the task's
                built-in default when None.
            validation_data: data to pick the best epoch on; a seeded split
                of `data` when None.
            groups: one group key per example of `data` (a speaker, an article, a patient):
                the validation and test hold-outs then never share a group with training
                (scikit-learn's `groups=`).

        Returns:
            self, with `model_`, `history_`, `metrics_` and `run_dir` set.
        """
        self._check_params()
        self._strategy = strategy = distribute.make_strategy(self.distribution)
        run_name = self._worker_run_name(strategy)
        runs.check_save_dir(self.save_dir)
        keras.utils.set_random_seed(self.seed)
        self.best_hyperparameters_ = None
        self._groups = groups
        self._log = runs.RunLog()  # what this fit says, kept in the run folder's log.txt
        try:
            with distribute.scope(strategy):  # layers the data step adapts are model state too
                splits = self._prepare_data(self.default_data if data is None else data, validation_data)
        except BaseException:
            self._log = None
            raise
        finally:
            self._groups = None
        run_dir = runs.prepare_run_dir(self.save_dir, self.task_name, run_name, self.overwrite)
        lock = runs.RunLock(run_dir).acquire()  # one process per run folder
        self._log.attach(run_dir)
        try:
            runs.remove_dead_temporaries(run_dir)
            with distribute.scope(strategy):
                self._fit_in(run_dir, splits)
            if run_name != self.run_name:  # a multi-worker run's other worker: the chief's folder holds the run
                lock.release()
                shutil.rmtree(run_dir, ignore_errors=True)
                runs.remove_if_empty(run_dir.parent)
                self.run_dir = str(run_dir.parents[1])
            return self
        except BaseException as error:
            lock.release()  # first: the lock file would keep an otherwise empty folder from being removed
            runs.remove_dead_temporaries(run_dir, including_mine=True)  # half-written files of a failed write
            runs.remove_if_empty(run_dir)  # a run that failed before writing anything leaves no folder,
            runs.remove_if_empty(run_dir.parent)  # nor an empty task folder it made in save_dir
            if runs.is_disk_full(error):
                raise runs.disk_full_error(run_dir, self._size_probe()) from None
            raise
        finally:
            lock.release()
            self._log = None

    def tune_worker(self, data=None, validation_data=None):
        """Runs trials of a distributed search (KerasTuner's distributed mode) until its chief has none left.

        The chief is a `fit(...)` with `tune=True` in a process whose environment names it the chief
        (`toolkit train TASK --tune --chief HOST:PORT`); this worker needs the chief's address in
        `KERASTUNER_ORACLE_IP` / `_PORT`, a `KERASTUNER_TUNER_ID` of its own (`toolkit tune-worker
        TASK --oracle HOST:PORT` sets them) and the same data, arguments and `run_name`.

        Returns:
            The ids of the trials this worker ran.
        """
        from toolkit import tuning

        return tuning.work(self, data, validation_data)

    _strategy = None  # set by fit from `distribution`

    def _report_figures(self):
        """[(title, matplotlib figure)]: the task's own pictures for `report.html` (see `toolkit.report`),
        drawn from what the run keeps (`metrics_`, the model). None by default."""
        return []

    def _report_data_figures(self, part):
        """[(title, figure)] drawn from held-out data (`part`, the test split) at the end of `fit`:
        the most confident mistakes, the worst and best segmentations. Kept as `report/data-*.png`,
        which `toolkit report` embeds again. None by default."""
        return []

    def _export_examples(self, part):
        """(model inputs, targets or None) of `part`'s first batch: what `export` checks an exported model
        on. Tasks whose `model_` takes other inputs than their training data override it."""
        batch = next(iter(self._keras_data(part)))
        if not isinstance(batch, (tuple, list)):
            return batch, None
        return batch[0], batch[1] if len(batch) > 1 else None

    def _export_form(self, format):
        """What `export` writes in `format` (`toolkit.export.Form`): `model_`, or a model computing the
        same outputs from layers that format's converter carries, or from inputs the caller prepares.
        The export is checked against `model_` on the run's kept examples either way."""
        return export_lib.Form(self.model_)

    def export(self, path, format="savedmodel", quantize=None):
        """Writes the model as "savedmodel", "litert" or "onnx" and checks it against the Keras model on
        held-out examples of the run; returns the report (also written next to the export).
        `quantize="int8"` (LiteRT) quantises after training and reports the accuracy change. See
        `toolkit.export`."""
        return export_lib.export(self, path, format, quantize=quantize)

    def _global_batch_size(self):
        """Examples per training step: `batch_size` on each replica of the run's `distribution`."""
        return distribute.describe(self._strategy, self._batch_size())["global_batch_size"]

    def _batch_size(self):
        """`batch_size`, or the one chosen for this fit's data (`batch_size_`) when it is None."""
        if self.batch_size is not None:
            return self.batch_size
        return getattr(self, "batch_size_", DEFAULT_BATCH_SIZE)

    def _inference_function(self, model):
        """`model(x, training=False)` as one traced function, kept per model: generation and span search
        call the model many times, where an eager call costs about ten times more and a new trace per
        `predict` / `generate` call would cost more than it saves."""
        cache = self.__dict__.setdefault("_inference_functions", {})
        if id(model) not in cache:
            cache.clear()
            cache[id(model)] = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        return cache[id(model)]

    def _worker_run_name(self, strategy):
        """The run name this process trains under: `run_name`, or, for a multi-worker run's other
        workers (which train in step with the chief and must not write its files), a folder of their
        own inside the chief's, `<run_name>/workers/worker-N`, kept until the run ends so a
        restarted worker resumes from its own backup."""
        if distribute.is_chief(strategy):
            return self.run_name
        if self.run_name is None:
            raise ToolkitError(
                "A multi-worker run needs run_name: every worker must find the same run folder, and the "
                "default name is each worker's own start time.",
                expected="the same run_name= (--run-name) on every worker",
                fix="pass run_name='...' on each worker",
            )
        return f"{self.run_name}/workers/worker-{strategy.cluster_resolver.task_id}"

    def _size_probe(self):
        """The model this fit builds (for the space a run needs), or None when it cannot be built now."""
        try:
            return self._new_model()
        except Exception:  # only for an estimate in an error message; the message says when it is unknown
            return None

    def _fit_in(self, run_dir, splits):
        """Tunes (when asked), trains, evaluates and saves into `run_dir`; returns self."""
        self._say(f"Run directory: {run_dir}")
        self._choose_epochs(splits.info.get("train_examples"))
        # One count of the passes over the training data, for the search and the training after it.
        position = data_lib.DataPosition(self._keras_data(splits.train))
        if self.tune:
            from toolkit import tuning

            self.best_hyperparameters_ = tuning.search(self, splits, run_dir, position)
            self._say(f"Best configuration: {self.best_hyperparameters_}; training it on the full budget.")
            keras.utils.set_random_seed(self.seed)
        with self._tuned():
            model = self._new_model()
            trained = Trainer(self, run_dir).fit(model, splits.train, splits.validation, position)
            # history.csv also holds the epochs from before an interruption.
            self.history_ = runs.read_history(run_dir / runs.HISTORY_FILE) or trained
            with self._data_errors():
                self._after_training(model, splits)
            self.model_ = model
            with self._data_errors():
                self.metrics_ = {
                    "validation": self._evaluate_dataset(splits.validation) if splits.validation is not None else None,
                    "test": self._evaluate_dataset(splits.test) if splits.test is not None else None,
                    "data": splits.info,
                    "distribution": distribute.describe(self._strategy, self._batch_size()),
                }
        self._compare_with_baseline()
        self.run_dir = str(run_dir)
        self.save(run_dir)
        held_out = next(p for p in (splits.test, splits.validation, splits.train) if p is not None)
        with self._data_errors():
            inputs, targets = self._export_examples(held_out)
            calibration, _ = self._export_examples(splits.train)
            export_lib.save_examples(run_dir / export_lib.EXAMPLES_FILE, inputs, targets, calibration)
        runs.write_json(run_dir / runs.METRICS_FILE, self.metrics_)
        with self._data_errors():
            report_lib.write_report(run_dir, self, data_figures=self._report_data_figures(held_out))
        shutil.rmtree(run_dir / runs.CHECKPOINT_DIR, ignore_errors=True)
        runs.write_json(
            run_dir / runs.FINISHED_FILE, {"finished": datetime.datetime.now().isoformat(timespec="seconds")}
        )
        self._say(self._summary())
        return self

    def _judged_part(self):
        """("test", its scores) when the run has a test part, else ("validation", its scores): the part a run
        is compared with its trivial baseline on. The validation part chose the checkpoint (and any
        threshold), so its score flatters the run; the test part was seen only at the end."""
        if self.metrics_.get("test"):
            return "test", self.metrics_["test"]
        return "validation", self.metrics_.get("validation") or {}

    def _compare_with_baseline(self):
        """Records in `metrics_["baseline"]` how test accuracy (validation without a test part) compares with
        always answering the most common class, and warns, with causes and what to try, when the run did no
        better."""
        part, scores = self._judged_part()
        compared = metrics_lib.versus_majority(scores)
        if compared is None:
            return
        compared = {"part": part, **compared}
        self.metrics_["baseline"] = compared
        if compared["better_than_majority"]:
            return
        compared["likely_causes"] = [
            "training ended before the network started to learn (a short budget, or early stopping)",
            "a learning rate that does not suit this network and data",
            "too little data for a network trained from scratch",
        ]
        compared["what_to_try"] = [
            "more epochs (--epochs) and more patience (--patience, --warmup-epochs)",
            f"the learning-rate finder (toolkit lr-find {self.task_name} --data ...)",
            "a pretrained backbone (toolkit list backbones --task " + self.task_name + ")",
        ]
        if hasattr(self, "image_size"):
            compared["what_to_try"].append("a smaller --image-size (fewer inputs for a small data set)")
        warnings.warn(
            f"This run is no better than always answering the most common class: {part} "
            f"{compared['metric']} {compared['value']:.4f} against {compared['majority_share']:.4f} "
            f"(within {compared['margin']:.4f}). Likely causes: {'; '.join(compared['likely_causes'])}. "
            f'Try: {"; ".join(compared["what_to_try"])}. Recorded in metrics.json under "baseline".',
            stacklevel=3,
        )

    def _split_options(self):
        """Keyword arguments of `toolkit.data.holdout` that the task's arguments (and fit's groups) set."""
        return dict(
            test_split=self.test_split,
            validation_split=self.validation_split,
            seed=self.seed,
            method=self.split,
            groups=getattr(self, "_groups", None),
            floor=self.floors_validation,
        )

    def _keras_data(self, part):
        """What `keras.Model.fit` gets for a split part; tasks whose parts carry more (e.g. raw references) unwrap it."""
        return part

    def _new_model(self):
        """`_build_model()` at the chosen precision, with float32 outputs and the L1/L2 penalties."""
        with recipe.precision(self.precision):
            model = self._build_model()
        if self.precision != "float32":
            model = recipe.float32_outputs(model)
        groups = self.trainable_groups(model)
        pretrained = self._pretrained_backbone()
        recipe.regularize(
            [layer for name, layers in groups.items() if not (pretrained and name == "backbone") for layer in layers],
            l1=self.l1,
            l2=self.l2,
        )
        return model

    def trainable_groups(self, model):
        """Named parts of `model` that fine-tuning strategies freeze and give their own learning rates.

        Default: the layer named "backbone" and the rest of the model's top-level
        layers ("head"); a model without a backbone is one group, "model". Tasks
        with other parts (a GAN's generator and discriminator) override this.

        Example:
        >>> import keras
        >>> inputs = keras.Input((4,))
        >>> backbone = keras.Sequential([keras.layers.Dense(3)], name="backbone")
        >>> model = keras.Model(inputs, keras.layers.Dense(2, name="classes")(backbone(inputs)))
        >>> {name: [layer.name for layer in layers] for name, layers in Task().trainable_groups(model).items()}
        {'backbone': ['backbone'], 'head': ['classes']}
        """
        names = [layer.name for layer in model.layers]
        if "backbone" not in names:
            return {"model": [model]}
        backbone = model.get_layer("backbone")
        # Layers the backbone holds are its own, also when the task reaches them directly (a language
        # model's output layer reuses the backbone's token embedding): they must freeze with it.
        inside = {id(layer) for layer in backbone._flatten_layers()}
        head = [
            layer
            for layer in model.layers
            if id(layer) not in inside and not isinstance(layer, keras.layers.InputLayer)
        ]
        return {"backbone": [backbone], "head": head}

    def _task_callbacks(self, validation):
        """Callbacks the task itself needs while training (run after the user's, before the defaults, so a
        metric they add to the logs, e.g. a GAN's `val_kid`, is seen by early stopping and checkpoints).

        Args:
            validation: the validation part (None without validation data).
        """
        return []

    def _after_training(self, model, splits):
        """What the task learns from the trained model and the data before scoring and saving (e.g. an
        anomaly or no-answer threshold chosen on the validation part). Default: nothing."""

    def _explain_data_error(self, error):
        """A `ToolkitError` naming the bad input behind an error raised inside tf.data, or None.

        Data streams decode files while training; a corrupt file then fails inside
        TensorFlow, whose message does not say which file. Tasks that read files
        find and name it here.
        """
        return None

    @contextlib.contextmanager
    def _data_errors(self):
        """Within the block, a TensorFlow error that `_explain_data_error` explains becomes that error."""
        import tensorflow as tf

        try:
            yield
        except tf.errors.OpError as error:
            explained = self._explain_data_error(error)
            if explained is None:
                raise
            raise explained from error

    def _training_model(self, model):
        """The Keras model `fit` trains; tasks that train through a wrapper (distillation) return it."""
        return model

    def _compile(self, model, make_optimizer):
        """Compiles `model` for training; `make_optimizer()` is the run's optimizer (see `toolkit.trainer`).

        Tasks with several losses pass a dict of losses and `loss_weights`; tasks whose
        model has its own `train_step` (a GAN) call `make_optimizer("generator")` and
        `make_optimizer("discriminator")` for one optimizer per group.
        """
        model.compile(optimizer=make_optimizer(), loss=self._loss(), metrics=self._metrics())

    def _uses_preset(self):
        """True when `backbone` names a KerasHub preset (a name, hub handle or folder), not a built-in or a model."""
        from toolkit import backbones

        backbone = self._chosen_backbone()
        return isinstance(backbone, str) and backbone not in backbones.BACKBONES and backbones.is_preset(backbone)

    def _pretrained_backbone(self):
        """True when the backbone starts from trained weights: a KerasHub preset or a user's `keras.Model`."""
        return self._uses_preset() or isinstance(self._chosen_backbone(), keras.Model)

    def _choose_epochs(self, train_examples):
        """Sets `epochs_`, the budget of this fit: `epochs`, or `_default_epochs` when it is None (printed)."""
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
        self._say(f"Epochs: up to {self.epochs_} ({why}; pass epochs= to choose).")

    def _default_epochs(self, train_examples):
        """The budget for `epochs=None`: `budget_epochs` (30 unless the task measured its own), or for a
        from-scratch network on a small training set enough epochs for `MIN_SCRATCH_STEPS` optimizer steps,
        at most `MAX_DEFAULT_EPOCHS`.

        A network learning from scratch needs a number of optimizer steps, not of epochs: 240
        images at batch size 32 give 8 steps an epoch, and 30 epochs of them end before the
        network has started to learn (benchmarks/RESULTS.md, "Defaults that learn").

        Example:
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

    def _choose_batch_size(self, train_examples, what="examples"):
        """`batch_size`, or for None `SMALL_BATCH` (16) for a from-scratch network on fewer than
        `SMALL_BATCH_BELOW` (500) training examples, else 32 (printed when it is the small one).

        Example:
        >>> from tasks import ImageClassifier
        >>> ImageClassifier(verbose=0)._choose_batch_size(168), ImageClassifier()._choose_batch_size(1258)
        (16, 32)
        >>> ImageClassifier(batch_size=64)._choose_batch_size(168)
        64
        """
        if self.batch_size is not None:
            return self.batch_size
        if not self._pretrained_backbone() and train_examples < SMALL_BATCH_BELOW:
            self._say(
                f"Batch size: {SMALL_BATCH} (the default for a from-scratch network on fewer than "
                f"{SMALL_BATCH_BELOW} training {what}; pass batch_size= to choose)."
            )
            return SMALL_BATCH
        return DEFAULT_BATCH_SIZE

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

    def _keras_verbose(self):
        if self.verbose == "auto":
            return 1 if sys.stdout.isatty() else 2
        return int(self.verbose)

    def _say(self, message):
        """Prints `message` (unless verbose=0) and, during a fit, keeps it in the run's log."""
        if self.verbose:
            print(message, flush=True)
        if getattr(self, "_log", None) is not None:
            self._log.write(message)

    def _summary(self):
        """The scores a run ends with: the test part first (the one to believe), then validation, flagged
        when it holds too few examples to trust."""

        def short(metrics):
            return ", ".join(f"{k}={v:.4f}" for k, v in (metrics or {}).items() if isinstance(v, float))

        lines = []
        if self.metrics_["test"]:
            lines.append(f"Test:       {short(self.metrics_['test'])}")
        lines.append(f"Validation: {short(self.metrics_['validation'])}")
        flag = data_lib.small_validation(self.metrics_)
        if flag:
            lines.append(f"Note:       {flag}")
        lines.append(f"Saved to {self.run_dir}")
        return "\n".join(lines)

    # -------------------------------------------------------------- inference
    def evaluate(self, data):
        """Scores the fitted model on `data` (any form `fit` accepts) and returns a dict of metrics."""
        self._check_fitted()
        with self._tuned(), self._data_errors():
            return self._evaluate_dataset(self._evaluation_dataset(data))

    def _check_fitted(self):
        if getattr(self, "model_", None) is None:
            raise ToolkitError(
                f"This {type(self).__name__} has no model yet.",
                expected="a fitted task",
                fix="call fit(...) first, or toolkit.load(run_dir)",
            )

    def find_learning_rate(self, data=None, min_rate=1e-7, max_rate=1.0, steps=100):
        """The learning-rate range test on a fresh copy of this task's model (this task is not changed).

        Args:
            data: training data in any form `fit` accepts; the task's default when None.
            min_rate, max_rate: the rates swept, exponentially, one per training step.
            steps: training steps in the sweep.

        Returns:
            A `toolkit.lr_finder.LearningRateFinding`: `.suggested` (pass it as
            `learning_rate=`), `.steepest`, the curve, and its CSV and PNG files.

        Example:
        >>> from tasks import ImageClassifier
        >>> clf = ImageClassifier(backbone="lenet")
        >>> rate = clf.find_learning_rate("digits").suggested  # doctest: +SKIP
        >>> clf.set_params(learning_rate=rate).fit("digits")  # doctest: +SKIP
        """
        from toolkit.lr_finder import find_learning_rate

        return find_learning_rate(self, data, min_rate=min_rate, max_rate=max_rate, steps=steps)

    def write_samples(self, path, n, seed=0, label=None):
        """Draws `n` new examples and writes them to `path` (generative tasks); others refuse."""
        raise ToolkitError(
            f"A {self.task_name} run does not generate samples.",
            expected="--num-samples with an image-generation run (a VAE or a GAN)",
            fix="give input files to predict instead",
        )

    def search_space(self, hp):
        """Constructor overrides to try when tuning; subclasses add their own."""
        return {
            "learning_rate": hp.Float("learning_rate", 1e-4, 1e-2, sampling="log"),
            "learning_rate_schedule": hp.Choice("learning_rate_schedule", ["plateau", "cosine"]),
        }

    # ------------------------------------------------------------ save / load
    def save(self, path):
        """Writes `config.json` and `model.keras` to the folder `path`."""
        self._check_fitted()
        path = pathlib.Path(path)
        path.mkdir(parents=True, exist_ok=True)
        config = {
            "task": self.task_name,
            "class": f"{type(self).__module__}:{type(self).__qualname__}",
            "params": self.get_config(),
            "fitted": {k: v for k, v in vars(self).items() if k.endswith("_") and k not in self.unsaved_attributes},
            "needs_keras_hub": any(
                type(layer).__module__.startswith("keras_hub") for layer in self.model_._flatten_layers()
            ),
            "versions": runs.versions(),
        }
        runs.write_json(path / runs.CONFIG_FILE, config)
        runs.save_model(self.model_, path / runs.MODEL_FILE)


def load(path):
    """Rebuilds a fitted task from a run directory written by `fit` or `save`.

    Args:
        path: the run directory (holding config.json and model.keras).

    Returns:
        The task, of the class that was saved, ready to `predict` and `evaluate`.

    Example:
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
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise ToolkitError(
            f"The task {task_name!r} is registered as {cls!r}, which is not a Task class; loading was refused.",
            expected="tasks registered with @TASKS.register on a Task subclass",
            fix="check the package that registers this task",
        )
    if config.get("needs_keras_hub"):
        import keras_hub  # noqa: F401  (registers KerasHub's layers for deserialisation)
    task = cls(**config["params"])
    for name, value in config["fitted"].items():
        setattr(task, name, value)
    task.model_ = _load_model(path / runs.MODEL_FILE)
    task.history_ = runs.read_history(path / runs.HISTORY_FILE)
    task.metrics_ = _read_metrics(path / runs.METRICS_FILE)
    task.run_dir = str(path)
    return task


def _read_config(path):
    """config.json as a dict with "params" and "fitted", or a clear error naming the file."""
    try:
        config = runs.read_json(path)
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
        return runs.read_json(path)
    except (ValueError, UnicodeDecodeError) as error:
        warnings.warn(
            f"'{path}' is damaged ({error}); the model loaded, but its scores are unknown. "
            "Run `toolkit evaluate` on your test data to score it again.",
            stacklevel=3,
        )
        return None
