"""Series classification: `SeriesClassifier` and `train_series_classifier`."""

import keras
import numpy as np

from tasks.series import data as series_data
from tasks.series import model as model_lib
from tasks.series.preprocessor import SeriesPreprocessor
from toolkit import data as data_lib
from toolkit import estimator, preprocessing
from toolkit.classification import ClassifierMixin
from toolkit.preprocessing import Index
from toolkit.saving import register_task
from toolkit.task import Task


@register_task
class SeriesClassifier(ClassifierMixin, Task):
    """Classifies series (sensor traces, motions, spectra) of one or several channels into named classes.

    The saved model takes raw series of any length (NaN where a value is missing): the per-channel
    standardisation is inside it, and it averages over the steps a series has, so padding never counts.
    Every run also scores 1-nearest-neighbour (Euclidean) on the same split, the archives' reference.

    Args:
        backbone: "fcn" (default), "resnet1d", "inceptiontime" or "lstm", or a `keras.Model` from
            (batch, time, channels) to (batch, time, features).
        width: filters / units of the backbone; None: the backbone's own (fcn 128, resnet1d 64,
            inceptiontime 32, lstm 64).
        dropout: dropout rate before the classification layer.
        label_column: the label column of a table of series (one series a row).
        validation_split: share of `data` held out for early stopping when no validation_data is given:
            0.2 here, not 0.1 (an archive's train file is small: GunPoint's 50 left 5 series to stop on,
            and one seed of three stopped early at 0.88 test accuracy; with 10: 0.987, 0.993, 0.98).
        epochs: most epochs (early stopping may stop sooner); None: 30, raised on a small set until the
            network gets about 1,000 optimizer steps (at most 200 epochs).
        **kwargs: the arguments every task shares (batch_size, learning_rate, tune, save_dir, ...).

    Examples:
        >>> clf = SeriesClassifier().fit("GunPoint_TRAIN.ts", "GunPoint_TEST.ts")  # doctest: +SKIP
        >>> clf.predict([[0.1, 0.3, 0.2, ...]])  # doctest: +SKIP
        [{'label': '2', 'probability': 0.97, 'probabilities': {'1': 0.03, '2': 0.97}}]
    """

    task_name = "time-series-classification"
    description = "classify series (one or several channels) into named classes"
    serving_input = "series"
    data_forms = series_data.FORMS
    backbone_filters = ({"modality": "series"},)
    preprocessor_class = SeriesPreprocessor
    _parameter_constraints = {"width": estimator.POSITIVE_OR_NONE, "dropout": estimator.DROPOUT}

    def __init__(self, *, backbone: str | keras.Model = "fcn", width: int | None = None, dropout: float = 0.0,
                 label_column: str = "label", validation_split: float = 0.2, epochs: int | None = None,
                 **kwargs):  # fmt: skip
        super().__init__(epochs=epochs, validation_split=validation_split, **kwargs)
        self.backbone = backbone
        self.width = width
        self.dropout = dropout
        self.label_column = label_column

    def read_data(self, data):
        series, labels, about, classes = series_data.read_series(data, self.label_column)
        y, found = data_lib.encode_labels(labels, classes)
        return Index(series, np.array(labels, dtype=object), y, about, classes or found)

    def make_preprocessor(self):
        return SeriesPreprocessor()

    classes_ = preprocessing.learned("classes")

    def prepare_data(self, data, validation_data):
        self._check_backbone()
        splits = super().prepare_data(data, validation_data)
        p = self.preprocessor_
        self.say(
            f"Series classification: {len(p.classes)} classes, {p.channels} channel(s), {p.length} steps; "
            f"{splits.info['train_examples']} train / {splits.info['validation_examples']} validation / "
            f"{splits.info['test_examples']} test series."
        )
        return splits

    def build_model(self):
        p = self.preprocessor_
        return model_lib.build(self.backbone, p.channels, len(p.classes), p.mean, p.std, self.width, self.dropout)

    def predict(self, inputs):
        """Classifies series: one (length,) / (length, channels) series, or a list or array of them.

        Returns:
            One dict per series: {"label", "probability", "probabilities": {class: p}}.
        """
        self.check_fitted()
        return self._answers(self._infer(self.preprocessor_.inputs(inputs)))

    def read_inputs(self, paths):
        """(a name per series, the series) of the files given to `toolkit predict` ("x.ts:3": its third case)."""
        names, cases = [], []
        for path in paths:
            series = series_data.read_series(path, self.label_column)[0]
            names += [f"{path}:{i + 1}" for i in range(len(series))]
            cases += list(series)
        return names, series_data.pad(cases)

    def compare_with_baseline(self):
        """The majority class (metrics_["baseline"]) and 1-nearest-neighbour on the same split
        (metrics_["reference"])."""
        super().compare_with_baseline()
        parts = getattr(self.preprocessor_, "parts", None)
        if parts is None:
            return
        length = parts["train"].inputs.shape[1]
        held_out = {name: (_fit(parts[name].inputs, length), parts[name].targets) for name in ("validation", "test")
                    if parts.get(name) is not None and len(parts[name].targets)}  # fmt: skip
        scores = model_lib.nearest_neighbour(parts["train"].inputs, parts["train"].targets, held_out)
        self.metrics_["reference"] = {"name": "1-nearest-neighbour, Euclidean distance",
                                      **{name: {"accuracy": value} for name, value in scores.items()}}  # fmt: skip

    def search_space(self, hp):
        space = super().search_space(hp)
        space["dropout"] = hp.Float("dropout", 0.0, 0.5, step=0.1)
        if isinstance(self.backbone, str):
            space["backbone"] = hp.Choice("backbone", self.accepted_backbones())
        return space


def _fit(series, length):
    """Series cut or padded (NaN) to `length` steps."""
    if series.shape[1] >= length:
        return series[:, :length]
    return np.concatenate([series, np.full((len(series), length - series.shape[1], series.shape[2]), np.nan)], 1)


def train_series_classifier(data=None, validation_data=None, **kwargs):
    """Trains a series classifier in one line and returns the fitted `SeriesClassifier`.

    Args:
        data: a UCR / UEA .ts file, a table of one series a row with a label column, or (series, labels).
        validation_data: same forms; default a seeded stratified split of `data`.
        **kwargs: `SeriesClassifier` arguments (backbone, epochs, tune, ...).

    Returns:
        The fitted `SeriesClassifier`; its run is in `clf.run_dir`.

    Examples:
        >>> import tempfile
        >>> t = np.linspace(0, 6.28, 40)
        >>> series = [np.sin(t * (1 + i % 2)) + 0.1 * np.cos(t * i) for i in range(40)]
        >>> labels = ["slow", "fast"] * 20
        >>> clf = train_series_classifier((series, labels), epochs=20, width=8, save_dir=tempfile.mkdtemp(), verbose=0)
        >>> clf.predict(np.sin(t * 2))[0]["label"]
        'fast'
    """
    return SeriesClassifier(**kwargs).fit(data, validation_data)
