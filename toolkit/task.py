"""The Task: fit, evaluate, predict and save on a Keras model, and the hooks a family declares.

A family subclasses `Task`, sets `task_name` and implements the hooks of `toolkit.hooks` that raise
`NotImplementedError`; everything else (splits, the budget, training, tuning, resume,
reports, export, serving) is the core's. The core reaches a task only through these
public hooks: the trainer and the tuner get a `TrainingSpec` (`training_spec`), the report
its figures (`report_figures`), export its `export_form`.
"""

import contextlib
import sys

import keras
import tensorflow as tf

from toolkit import distribute, files, inference, recipe, runs, saving, streams
from toolkit import export as export_lib
from toolkit import metrics as metrics_lib
from toolkit import splits as splits_lib
from toolkit.backbones import BackboneChoice
from toolkit.errors import ToolkitError
from toolkit.estimator import BaseTask
from toolkit.hooks import TaskHooks
from toolkit.saving import TASKS, load, register_task  # noqa: F401  (where task packages and older code find them)
from toolkit.trainer import Trainer, TrainingSpec


class Task(TaskHooks, BackboneChoice, recipe.DefaultBudget, BaseTask):
    """Base class of every task. Subclasses set `task_name` and implement the hooks (`toolkit.hooks`).

    Arguments and their rules come from `toolkit.estimator.BaseTask`, the default budget from
    `toolkit.recipe.DefaultBudget`, the backbone argument's meaning from `toolkit.backbones.BackboneChoice`.

    Examples:
        >>> from tasks import ImageClassifier  # a Task subclass
        >>> clf = ImageClassifier(backbone="lenet", epochs=5)
        >>> clf.get_config()["epochs"]
        5
        >>> clf.fit("digits").metrics_["test"]["accuracy"]  # doctest: +SKIP
        0.98...
    """

    task_name = None  # the name it is registered, saved and called under (`toolkit.saving.register_task`)
    description = ""  # one line for `toolkit list tasks`
    default_data = None
    # Whether a split-off validation part is raised to `splits_lib.validation_floor` examples (see `splits_lib.holdout`).
    floors_validation = True
    data_forms = ""  # the forms `fit`'s data takes, in words (what `toolkit train <task> --help` shows for --data)
    built_in_data = {}  # {name: description} of the data the task builds in (what `toolkit list datasets` shows)
    # The validation metric early stopping, checkpoints, the plateau callback and the tuner follow.
    monitor = "val_loss"
    monitor_mode = "min"  # "max" when higher is better (val_accuracy, val_map)
    # Registry metadata filters that select the from-scratch backbones this task takes, e.g.
    # ({"modality": "image"},), and the KerasHub task class whose presets fit ("ImageClassifier").
    backbone_filters, keras_hub_task = (), None
    # What `toolkit serve` accepts at POST /predict: "images" or "audio" (file uploads, each decoded in
    # memory by `decode_upload`), "texts" (a JSON list of strings) or "questions" (a JSON list of
    # {"question", "context"}).
    serving_input = "images"
    # Keyword arguments of `generate` a JSON /predict body may set per request, with their types
    # ({"max_length": int, ...}); requests with other options are never batched together.
    serving_options = {}
    _strategy = None  # set by fit from `distribution`

    # ---------------------------------------------------------------- the run
    def fit(self, data=None, validation_data=None, groups=None):
        """Validates the data, builds the model, trains it and saves the run.

        Args:
            data: training data in any form the task accepts; the task's built-in default when None.
            validation_data: data to pick the best epoch on; a seeded split of `data` when None.
            groups: one group key per example of `data` (a speaker, an article, a patient): the
                validation and test hold-outs then never share a group with training.

        Returns:
            self, with `model_`, `history_`, `metrics_` and `run_dir` set.
        """
        self.check_params()
        self._strategy = strategy = distribute.make_strategy(self.distribution)
        run_name = distribute.worker_run_name(strategy, self.run_name)
        runs.check_save_dir(self.save_dir)
        keras.utils.set_random_seed(self.seed)
        self.best_hyperparameters_ = None
        self._log = runs.RunLog()  # what this fit says, kept in the run folder's log.txt
        try:
            self._groups = groups
            with distribute.scope(strategy):  # layers the data step adapts are model state too
                splits = self.prepare_data(self.default_data if data is None else data, validation_data)
            self._groups = None
            with runs.Run(self.save_dir, self.task_name, run_name, self.overwrite, self._log, self._size_probe) as run:
                with distribute.scope(strategy):
                    self._train_and_save(run, splits)
                if run_name != self.run_name:  # a multi-worker run's other worker: the chief's folder holds it
                    run.discard()
                    self.run_dir = str(run.dir.parents[1])
            return self
        finally:
            self._groups = self._log = None

    def training_spec(self, splits=None, model=None, build=True):
        """The `TrainingSpec` the trainer and tuner take: `model` (a new one when None and `build`; a
        search's spec has none, each trial builds its own), this task's hooks, monitor and callbacks,
        the resolved budget and `splits`' data."""
        if model is None and build:
            model = self._new_model()
        return TrainingSpec(
            model=model,
            compile=self.compile_model,
            trainable_groups=self.trainable_groups,
            train=self.keras_data(splits.train) if splits is not None else None,
            validation=self.keras_data(splits.validation) if splits and splits.validation is not None else None,
            epochs=self._epochs(),
            learning_rate=self._learning_rate(),
            monitor=self.monitor,
            monitor_mode=self.monitor_mode,
            patience=self._patience(),
            warmup=self._warmup_epochs(),
            finetune=self.finetune,
            backbone_lr_fraction=self.backbone_lr_fraction,
            optimizer=self.optimizer,
            learning_rate_schedule=self.learning_rate_schedule,
            weight_decay=self.weight_decay,
            gradient_clip=self.gradient_clip,
            fit_model=self.training_model(model) if model is not None else None,
            callbacks=list(self.callbacks or []) + self.task_callbacks(splits.validation if splits else None),
            default_callbacks=self.default_callbacks,
            tensorboard=self.tensorboard,
            verbose=self._keras_verbose(),
            say=self.say,
            data_errors=self.data_errors,
        )

    def search(self):
        """The `toolkit.tuning.Search` tuning runs: a trial is a clone with `search_space(hp)`'s overrides."""
        from toolkit.tuning import Search

        def build(hp):
            return self.clone(**self.search_space(hp)).training_spec()

        return Search(self.task_name, self.tuner, self.max_trials, self.seed, self.search_space, build)

    def _train_and_save(self, run, splits):
        """Tunes (when asked), trains, evaluates and saves into the run's folder."""
        from toolkit import report

        run_dir = run.dir
        self.say(f"Run directory: {run_dir}")
        self._choose_epochs(splits.info.get("train_examples"))
        # One count of the passes over the training data, for the search and the training after it.
        position = streams.DataPosition(self.keras_data(splits.train))
        if self.tune:
            from toolkit import tuning

            self.best_hyperparameters_ = tuning.run_search(
                self.search(), self.training_spec(splits, build=False), run_dir, position
            )
            self.say(f"Best configuration: {self.best_hyperparameters_}; training it on the full budget.")
            keras.utils.set_random_seed(self.seed)
        with self.tuned(self.best_hyperparameters_):
            spec = self.training_spec(splits)
            trained = Trainer(spec, run_dir).fit(position)
            # history.csv also holds the epochs from before an interruption.
            self.history_ = files.read_history(run_dir / runs.HISTORY_FILE) or trained
            with self.data_errors():
                self.after_training(spec.model, splits)
            self.model_ = spec.model
            with self.data_errors():
                self.metrics_ = {
                    "validation": self.score(splits.validation) if splits.validation is not None else None,
                    "test": self.score(splits.test) if splits.test is not None else None,
                    "data": splits.info,
                    "distribution": distribute.describe(self._strategy, self._batch_size()),
                }
        self.compare_with_baseline()
        self.run_dir = str(run_dir)
        self.save(run_dir)
        held_out = next(p for p in (splits.test, splits.validation, splits.train) if p is not None)
        with self.data_errors():
            inputs, targets = self.export_examples(held_out)
            calibration, _ = self.export_examples(splits.train)
            export_lib.save_examples(run_dir / export_lib.EXAMPLES_FILE, inputs, targets, calibration)
        files.write_json(run_dir / runs.METRICS_FILE, self.metrics_)
        with self.data_errors():
            report.write_report(run_dir, **self.report_contents(data_figures=self.report_data_figures(held_out)))
        runs.remove_checkpoints(run_dir)
        run.finish()
        self.say(self._summary())

    def report_contents(self, data_figures=None):
        """What `toolkit.report.write_report` renders for this fitted run: title, scores and figures."""
        from toolkit import figures

        return figures.run_contents(self, data_figures)

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

        tuning.check_worker(self.run_name)
        self.check_params()
        keras.utils.set_random_seed(self.seed)
        splits = self.prepare_data(self.default_data if data is None else data, validation_data)
        run_dir = runs.run_folder(self.save_dir, self.task_name, self.run_name)
        self._choose_epochs(splits.info.get("train_examples"))
        ran = []
        tuning.run_search(self.search(), self.training_spec(splits, build=False), run_dir, trials_run=ran)
        return ran

    # -------------------------------------------------------------- inference
    def evaluate(self, data):
        """Scores the fitted model on `data` (any form `fit` accepts) and returns a dict of metrics."""
        self.check_fitted()
        if getattr(self, "preprocessor_", None) is not None:
            self.preprocessor_.files = []  # the files this evaluation reads, to name a bad one
        with self.tuned(getattr(self, "best_hyperparameters_", None)), self.data_errors():
            return self.score(self.evaluation_data(data))

    def export(self, path, format="savedmodel", quantize=None):
        """Writes the model as "savedmodel", "litert" or "onnx" and checks it against the Keras model on
        held-out examples of the run; returns the report. See `toolkit.export`."""
        return export_lib.export(self, path, format, quantize=quantize)

    def find_learning_rate(self, data=None, min_rate=1e-7, max_rate=1.0, steps=100):
        """The learning-rate range test on a fresh copy of this task's model (see `toolkit.lr_finder`).

        Examples:
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

    def save(self, path):
        """Writes `config.json` and `model.keras` to the folder `path` (see `toolkit.saving`)."""
        self.check_fitted()
        saving.save(self, path)

    def check_fitted(self):
        """Raises a clear error when the task has no model yet."""
        if getattr(self, "model_", None) is None:
            raise ToolkitError(
                f"This {type(self).__name__} has no model yet.",
                expected="a fitted task",
                fix="call fit(...) first, or toolkit.load(run_dir)",
            )

    @contextlib.contextmanager
    def data_errors(self):
        """Within the block, a TensorFlow error that `explain_data_error` explains becomes that error."""
        try:
            yield
        except tf.errors.OpError as error:
            explained = self.explain_data_error(error)
            if explained is None:
                raise
            raise explained from error

    def say(self, message):
        """Prints `message` (unless verbose=0) and, during a fit, keeps it in the run's log."""
        if self.verbose:
            print(message, flush=True)
        if getattr(self, "_log", None) is not None:
            self._log.write(message)

    # ------------------------------------------------------------ helpers
    def _split_options(self):
        """Keyword arguments of `toolkit.splits_lib.holdout` that the task's arguments (and fit's groups) set."""
        return dict(
            test_split=self.test_split,
            validation_split=self.validation_split,
            seed=self.seed,
            method=self.split,
            groups=getattr(self, "_groups", None),
            floor=self.floors_validation,
        )

    def _new_model(self):
        """`build_model()` at the chosen precision, with float32 outputs and the L1/L2 penalties."""
        with recipe.precision(self.precision):
            model = self.build_model()
        if self.precision != "float32":
            model = recipe.float32_outputs(model)
        pretrained = self._pretrained_backbone()
        groups = self.trainable_groups(model)
        recipe.regularize(
            [layer for name, layers in groups.items() if not (pretrained and name == "backbone") for layer in layers],
            l1=self.l1,
            l2=self.l2,
        )
        return model

    def _size_probe(self):
        """The model this fit builds (for the space a run needs), or None when it cannot be built now."""
        try:
            return self._new_model()
        except Exception:  # only for an estimate in an error message; the message says when it is unknown
            return None

    def _inference_function(self, model):
        """The one inference path for `model` (`toolkit.inference.Inference`: traced once, kept for the last
        few models a task calls, such as a GAN's discriminator and feature classifier; a tuning trial's
        model is let go when later ones are called)."""
        cache = self.__dict__.setdefault("_inference_functions", {})
        if id(model) not in cache:
            while len(cache) >= 4:
                cache.pop(next(iter(cache)))
            cache[id(model)] = inference.Inference(model)
        return cache[id(model)]

    def _infer(self, x, model=None):
        """`model` (default the fitted one)'s outputs, as NumPy, for inputs in memory or a batched dataset."""
        return self._inference_function(self.model_ if model is None else model).predict(x, self._batch_size())

    def _keras_verbose(self):
        if self.verbose == "auto":
            return 1 if sys.stdout.isatty() else 2
        return int(self.verbose)

    def _judged_part(self):
        """("test", its scores) when the run has a test part, else ("validation", its scores): the part a run
        is compared with its trivial baseline on (validation chose the checkpoint, so it flatters the run)."""
        return metrics_lib.judged_part(self.metrics_)

    def _summary(self):
        """The scores a run ends with: the test part first, then validation, flagged when too small to trust."""

        def short(metrics):
            return ", ".join(f"{k}={v:.4f}" for k, v in (metrics or {}).items() if isinstance(v, float))

        lines = [f"Test:       {short(self.metrics_['test'])}"] if self.metrics_["test"] else []
        lines.append(f"Validation: {short(self.metrics_['validation'])}")
        flag = splits_lib.small_validation(self.metrics_)
        if flag:
            lines.append(f"Note:       {flag}")
        lines.append(f"Saved to {self.run_dir}")
        return "\n".join(lines)
