"""The Task: fit, evaluate, predict and save on a Keras model, and the hooks a family declares.

A family subclasses `Task`, sets `task_name` and implements the hooks below that raise
`NotImplementedError`; everything else (splits, the budget, training, tuning, resume,
reports, export, serving) is the core's. The core reaches a task only through these
public hooks: the trainer and the tuner get a `TrainingSpec` (`training_spec`), the report
its figures (`report_figures`), export its `export_form`.
"""

import contextlib
import sys

import keras
import tensorflow as tf

from toolkit import data as data_lib
from toolkit import distribute, preprocessing, recipe, runs, saving
from toolkit import export as export_lib
from toolkit import metrics as metrics_lib
from toolkit.errors import ToolkitError
from toolkit.estimator import BaseTask
from toolkit.saving import TASKS, load  # noqa: F401  (where task packages and older code find them)
from toolkit.trainer import Trainer, TrainingSpec


class Task(recipe.DefaultBudget, BaseTask):
    """Base class of every task. Subclasses set `task_name` and implement the hooks.

    Hooks a family must implement (the base raises `NotImplementedError` naming them):
        `prepare_data(data, validation_data) -> toolkit.data.Splits` (validation may be None)
        `build_model() -> keras.Model`
        `evaluation_data(data)`: user data -> a batched dataset; `score(dataset) -> dict` of metrics
        `predict(inputs)`: answers in user terms
        `training_loss()` (and `training_metrics()`), or `compile_model` for more than one loss
    Hooks with defaults: `trainable_groups`, `compile_model`, `keras_data`, `task_callbacks`,
    `training_model`, `after_training`, `compare_with_baseline`, `report_figures`,
    `report_data_figures`, `export_examples`, `export_form`, `explain_data_error`, `search_space`.

    Examples:
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
    data_forms = ""  # the forms `fit`'s data takes, in words (what `toolkit train <task> --help` shows for --data)
    built_in_data = {}  # {name: description} of the data the task builds in (what `toolkit list datasets` shows)
    # The validation metric early stopping, checkpoints, the plateau callback and the tuner follow.
    monitor = "val_loss"
    monitor_mode = "min"  # "max" when higher is better (val_accuracy, val_map)
    # Registry metadata filters that select the from-scratch backbones this task takes, e.g.
    # ({"modality": "image"},): the one source of truth for checking `backbone` and for `toolkit list`.
    backbone_filters = ()
    keras_hub_task = None  # the KerasHub task class whose presets fit, e.g. "ImageClassifier"
    # What `toolkit serve` accepts at POST /predict: "files" (uploads passed to `predict` as paths),
    # "texts" (a JSON list of strings) or "questions" (a JSON list of {"question", "context"}).
    serving_input = "files"
    # A family on the core's one prepare path declares its `toolkit.preprocessing.Preprocessor` class and
    # implements `read_data` and `make_preprocessor`; `prepare_data` and `evaluation_data` then come free.
    preprocessor_class = None
    _strategy = None  # set by fit from `distribution`

    # ------------------------------------------------------------ hooks to implement
    def read_data(self, data):
        """The user's data (any form the family reads) -> a `toolkit.preprocessing.Index`."""
        raise NotImplementedError(f"{type(self).__name__} must implement read_data(data)")

    def make_preprocessor(self):
        """A new, unadapted `preprocessor_class` configured from this task's arguments."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_preprocessor()")

    def prepare_data(self, data, validation_data):
        """Reads `data`, learns what the model needs from its training part, returns `toolkit.data.Splits`.

        The core's prepare path for a family with a `preprocessor_class`: read, hold out, adapt the
        preprocessor (`preprocessor_`) on the training part, batch every part."""
        if self.preprocessor_class is None:
            raise NotImplementedError(
                f"{type(self).__name__} must implement prepare_data(data, validation_data), or declare a "
                "preprocessor_class and implement read_data(data) and make_preprocessor()"
            )
        index = self.read_data(data)
        validation = None if validation_data is None else self.read_data(validation_data)
        self.preprocessor_ = self.make_preprocessor()

        def batch_size(train_examples):
            self.batch_size_ = self._choose_batch_size(train_examples)
            return self.batch_size_

        return preprocessing.prepare(
            index,
            validation,
            self.preprocessor_,
            split_options=self._split_options(),
            batch_size=batch_size,
            validation_about=None if validation_data is None else data_lib.describe(validation_data),
        )

    def build_model(self):
        """The task's `keras.Model`, built from the arguments and what `prepare_data` learned."""
        raise NotImplementedError(f"{type(self).__name__} must implement build_model()")

    def evaluation_data(self, data):
        """User data (any form `fit` takes) -> the batched dataset `score` reads."""
        if self.preprocessor_class is None:
            raise NotImplementedError(f"{type(self).__name__} must implement evaluation_data(data)")
        return self.preprocessor_.dataset(self.read_data(data), batch_size=self._batch_size())

    def score(self, dataset):
        """{metric: value} of the fitted model on a batched dataset (a split part or `evaluation_data`'s)."""
        raise NotImplementedError(f"{type(self).__name__} must implement score(dataset)")

    def predict(self, inputs):
        """Answers in user terms (class names, masks, boxes, spans, text) for what a user holds."""
        raise NotImplementedError(f"{type(self).__name__} must implement predict(inputs)")

    def training_loss(self):
        """The loss `compile_model` compiles with (or implement `compile_model` for several)."""
        raise NotImplementedError(f"{type(self).__name__} must implement training_loss() or compile_model()")

    def training_metrics(self):
        """Keras metrics reported while training (none by default)."""
        return []

    # ------------------------------------------------------------ hooks with defaults
    def compile_model(self, model, make_optimizer):
        """Compiles `model` for training; `make_optimizer()` is the run's optimizer (see `toolkit.trainer`).

        Tasks with several losses pass a dict of losses and `loss_weights`; tasks whose model has its
        own `train_step` (a GAN) call `make_optimizer("generator")` and `make_optimizer("discriminator")`.
        """
        model.compile(optimizer=make_optimizer(), loss=self.training_loss(), metrics=self.training_metrics())

    def trainable_groups(self, model):
        """Named parts of `model` that fine-tuning strategies freeze and give their own learning rates.

        Default: the layer named "backbone" and the rest of the model's top-level layers ("head");
        a model without a backbone is one group, "model". A GAN names its generator and discriminator.

        Examples:
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

    def keras_data(self, part):
        """What `keras.Model.fit` gets for a split part; tasks whose parts carry more unwrap it."""
        return part

    def task_callbacks(self, validation):
        """Callbacks the task needs while training, run after the user's and before the defaults (so a
        metric they log, e.g. a GAN's `val_kid`, is seen by early stopping). `validation`: the part or None."""
        return []

    def training_model(self, model):
        """The Keras model `fit` trains; tasks that train through a wrapper (distillation) return it."""
        return model

    def after_training(self, model, splits):
        """What the task learns from the trained model before scoring (a no-answer threshold). Default: nothing."""

    def explain_data_error(self, error):
        """A `ToolkitError` naming the bad input behind a TensorFlow error raised inside tf.data, or None."""
        return None

    def report_figures(self):
        """[(title, matplotlib figure or HTML table)]: the task's own pictures for `report.html`."""
        return []

    def report_data_figures(self, part):
        """[(title, figure)] drawn from held-out data (`part`) at the end of `fit`, kept as `report/data-*.png`."""
        return []

    def export_examples(self, part):
        """(model inputs, targets or None) of `part`'s first batch: what `export` checks an export on."""
        batch = next(iter(self.keras_data(part)))
        if not isinstance(batch, (tuple, list)):
            return batch, None
        return batch[0], batch[1] if len(batch) > 1 else None

    def export_form(self, format):
        """What `export` writes in `format` (`toolkit.export.Form`): `model_` by default."""
        return export_lib.Form(self.model_)

    def search_space(self, hp):
        """Constructor overrides to try when tuning; subclasses add their own."""
        return {
            "learning_rate": hp.Float("learning_rate", 1e-4, 1e-2, sampling="log"),
            "learning_rate_schedule": hp.Choice("learning_rate_schedule", ["plateau", "cosine"]),
        }

    def compare_with_baseline(self):
        """Records in `metrics_["baseline"]` how the run compares with always answering the most common
        class (test part, else validation), and warns with causes and what to try when it does no better."""
        metrics_lib.compare_with_majority(self.metrics_, self.task_name, image_task=hasattr(self, "image_size"))

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
        position = data_lib.DataPosition(self.keras_data(splits.train))
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
            self.history_ = runs.read_history(run_dir / runs.HISTORY_FILE) or trained
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
        runs.write_json(run_dir / runs.METRICS_FILE, self.metrics_)
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
    @classmethod
    def accepted_backbones(cls):
        """Names of the registered from-scratch backbones this task takes.

        Examples:
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

    def _check_backbone(self):
        """A `keras.Model`, a from-scratch name this task takes, or (tasks with KerasHub presets) a preset."""
        from toolkit import backbones

        backbone = self._chosen_backbone()
        if isinstance(backbone, keras.Model) or backbone in self.accepted_backbones():
            return
        if self.keras_hub_task and backbones.is_preset(backbone):
            return
        raise backbones.unknown_backbone_error(
            backbone, self.accepted_backbones(), self.task_name, presets=bool(self.keras_hub_task)
        )

    def _chosen_backbone(self):
        """The backbone this fit uses: `backbone`, or what a task resolves a default "auto" to."""
        return getattr(self, "backbone", None)

    def _uses_preset(self):
        """True when the backbone names a KerasHub preset (a name, hub handle or folder)."""
        from toolkit import backbones

        backbone = self._chosen_backbone()
        return isinstance(backbone, str) and backbone not in backbones.BACKBONES and backbones.is_preset(backbone)

    def _pretrained_backbone(self):
        """True when the backbone starts from trained weights: a KerasHub preset or a user's `keras.Model`."""
        return self._uses_preset() or isinstance(self._chosen_backbone(), keras.Model)

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
        """`model(x, training=False)` as one traced function, kept per model: generation and span search
        call the model many times, where an eager call costs about ten times more."""
        cache = self.__dict__.setdefault("_inference_functions", {})
        if id(model) not in cache:
            cache.clear()
            cache[id(model)] = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        return cache[id(model)]

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
        flag = data_lib.small_validation(self.metrics_)
        if flag:
            lines.append(f"Note:       {flag}")
        lines.append(f"Saved to {self.run_dir}")
        return "\n".join(lines)
