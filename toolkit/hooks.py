"""The hooks a task family declares: the contract between a family and the core.

A family implements the hooks that raise `NotImplementedError` (each names itself and what to
return) and overrides any default it needs. The core calls a task through these public hooks
only: `toolkit.task.Task` runs them, the trainer and tuner get a `TrainingSpec` built from them.
"""

import keras

from toolkit import data as data_lib
from toolkit import export as export_lib
from toolkit import metrics as metrics_lib
from toolkit import preprocessing


class TaskHooks:
    """The hooks of `toolkit.Task`, with the defaults the core provides.

    To implement (a family on the core's prepare path declares `preprocessor_class` and implements
    `read_data` and `make_preprocessor` instead of `prepare_data` and `evaluation_data`):
        `prepare_data(data, validation_data) -> toolkit.data.Splits`; `build_model() -> keras.Model`;
        `evaluation_data(data)`; `score(dataset) -> dict`; `predict(inputs)`;
        `training_loss()` (or `compile_model` for several losses or a custom `train_step`).
    With defaults: `training_metrics`, `compile_model`, `trainable_groups`, `keras_data`,
    `task_callbacks`, `training_model`, `after_training`, `after_loading`, `explain_data_error`, `report_figures`,
    `report_data_figures`, `export_examples`, `export_form`, `search_space`, `compare_with_baseline`.
    """

    preprocessor_class = None

    # ------------------------------------------------------------ hooks to implement
    def read_data(self, data):
        """The user's data (any form the family reads) -> a `toolkit.preprocessing.Index`."""
        raise NotImplementedError(f"{type(self).__name__} must implement read_data(data)")

    def make_preprocessor(self):
        """A new, unadapted `preprocessor_class` configured from this task's arguments."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_preprocessor()")

    def prepare_data(self, data, validation_data, index=None, validation_index=None):
        """Reads `data`, learns what the model needs from its training part, returns `toolkit.data.Splits`.

        The core's prepare path for a family with a `preprocessor_class`: read (unless the family read
        `data` already and passes its `index`), hold out, adapt the preprocessor (`preprocessor_`) on the
        training part, batch every part."""
        if self.preprocessor_class is None:
            raise NotImplementedError(
                f"{type(self).__name__} must implement prepare_data(data, validation_data), or declare a "
                "preprocessor_class and implement read_data(data) and make_preprocessor()"
            )
        index = self.read_data(data) if index is None else index
        validation = validation_index
        if validation is None and validation_data is not None:
            validation = self.read_data(validation_data)
        self.preprocessor_ = self.make_preprocessor()
        self.preprocessor_.say = self.say

        def batch_size(train_examples):
            self.batch_size_ = self._choose_batch_size(train_examples)
            return self._global_batch_size()  # examples per step over every replica

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
        return self.preprocessor_.dataset(self.read_data(data), batch_size=self._global_batch_size())

    def score(self, dataset):
        """{metric: value} of the fitted model on a batched dataset (a split part or `evaluation_data`'s)."""
        raise NotImplementedError(f"{type(self).__name__} must implement score(dataset)")

    def predict(self, inputs):
        """Answers in user terms (class names, masks, boxes, spans, text) for what a user holds."""
        raise NotImplementedError(f"{type(self).__name__} must implement predict(inputs)")

    def decode_upload(self, name, data):
        """One file uploaded to `toolkit serve` (its name and bytes) -> what `predict` takes in a list, decoded
        in memory as `predict` decodes the file on disk (the image and speech families; text families
        take JSON)."""
        raise NotImplementedError(f"{type(self).__name__} must implement decode_upload(name, data) to serve files")

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
            >>> {name: [layer.name for layer in layers] for name, layers in TaskHooks().trainable_groups(model).items()}
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

    def after_loading(self):
        """Brings a run saved by an older version up to date, once `toolkit.load` has set everything it saved
        (a field added since, filled in from the ones it replaced). Default: nothing."""

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
