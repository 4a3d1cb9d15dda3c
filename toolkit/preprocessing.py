"""The Preprocessor: what a family learns from the training part, and the tf.data pipeline built on it.

KerasHub's split applied to a toolkit: a family's `Preprocessor` is adapted once, on the training
part only (class names, a vocabulary, normaliser statistics, a sequence length), and then turns any
part of the data into batches for training, evaluation and prediction. Its configuration is its
constructor's arguments and its learned state is a JSON dict of plain values, so it saves with the
run (`config.json`) and loads without code from the file.

The core's one prepare path (`prepare`) uses it: read -> hold out -> adapt on train -> datasets.
"""

import collections

import numpy as np

from toolkit import data as data_lib
from toolkit import splits as splits_lib

# A family's data reader returns one: parallel `inputs` and `targets` (lists or arrays), the class
# index of each example for stratified splits (zeros where the task has no classes), what to say
# about the source, the class names the source declares (a folder's subfolders), if any, and the
# group of each example for a grouped split (all questions of one article on one side), if any.
Index = collections.namedtuple(
    "Index", ["inputs", "targets", "labels", "about", "classes", "groups"], defaults=(None, "", None, None)
)


class Preprocessor:
    """Learns from the training part (`adapt`), then makes a `tf.data.Dataset` of any part (`dataset`).

    Subclasses take their configuration as keyword arguments (stored, as a task's are), implement
    `adapt` and `dataset`, and list the learned attributes in `state_attributes`.

    Examples:
        >>> class Scale(Preprocessor):
        ...     state_attributes = ("maximum",)
        ...     def adapt(self, index):
        ...         self.maximum = float(np.max(index.inputs))
        >>> scale = Scale()
        >>> scale.adapt(Index([1.0, 4.0], [0, 1]))
        >>> again = Scale.from_saved(scale.to_saved())
        >>> again.maximum, again.get_config()
        (4.0, {})
    """

    state_attributes = ()  # names of what `adapt` learns (JSON-serialisable values)

    def __init__(self, **config):
        self.config = config
        # The files the datasets made so far read (not saved): a family's `explain_data_error` names the bad
        # one when decoding fails inside tf.data. `Task.evaluate` starts each evaluation with an empty list.
        self.files = []
        # The parts of the last split `prepare` made ({"train", "validation", "test"}: an `Index` each; not
        # saved): what a family fits its reference model on (gradient boosting, nearest neighbours).
        self.parts = None

    def say(self, message):
        """A line about what was learned; the task's prepare path sets its own `say`, which follows `verbose`."""

    def get_config(self):
        """The constructor's arguments."""
        return dict(self.config)

    def adapt(self, index):
        """Learns the state from the training part's `Index`."""
        raise NotImplementedError(f"{type(self).__name__} must implement adapt(index)")

    def dataset(self, index, *, training=False, batch_size=32, seed=0):
        """A batched `tf.data.Dataset` of (model inputs, targets) for an `Index` (shuffled when training)."""
        raise NotImplementedError(f"{type(self).__name__} must implement dataset(index, training=...)")

    def hold_out(self, index, validation_index, split_options, validation_about=None):
        """({"train", "validation", "test"}: an `Index` each (test None), the split's info): the parts the
        task's arguments ask for. By default a seeded split of the examples (stratified by `labels`, or
        grouped by `groups`; see `toolkit.splits`); a family whose data is one long text splits it by position.
        """
        labels = np.asarray(index.labels if index.labels is not None else np.zeros(len(index.targets), int))
        validation_labels = None
        if validation_index is not None:
            validation_labels = np.asarray(
                validation_index.labels
                if validation_index.labels is not None
                else np.zeros(len(validation_index.targets))
            )
        if index.groups is not None and split_options.get("method") in ("auto", "grouped"):
            split_options = {**split_options, "method": "grouped", "groups": index.groups}
        train, _, val, _, test, info = splits_lib.holdout_positions(
            labels, validation_labels, validation_about, **split_options
        )
        parts = {
            "train": _take(index, train),
            "validation": _take(validation_index if validation_index is not None else index, val),
            "test": _take(index, test[0]) if test is not None else None,
        }
        return parts, info

    def examples(self, part):
        """How many training examples `part` makes (what the default batch size and epochs are chosen
        from), once adapted; by default its count of targets."""
        return len(part.targets)

    def inputs(self, raw):
        """Model inputs for what a user holds at prediction time (a batch); by default, as they are."""
        return np.asarray(raw)

    def to_saved(self):
        """{"config", "state"}: what the run's config.json keeps of this preprocessor."""
        state = {name: getattr(self, name) for name in self.state_attributes}
        return {"config": self.get_config(), "state": state}

    @classmethod
    def from_saved(cls, saved):
        """The preprocessor `to_saved` described, learned state included."""
        preprocessor = cls(**saved["config"])
        for name, value in saved["state"].items():
            setattr(preprocessor, name, value)
        return preprocessor


def learned(name, convert=None, fresh=None):
    """A task property for what its preprocessor learned, under the scikit-learn-style name (`classes_`).

    Setting it stores the value in the preprocessor (made with `fresh(task)`, by default
    `preprocessor_class()`, when the task has none yet): a run saved before its family had a
    preprocessor keeps these names in config.json, and loading sets them.

    Examples:
        >>> class Labels(Preprocessor):
        ...     state_attributes = ("classes",)
        >>> class Toy:
        ...     preprocessor_class = Labels
        ...     classes_ = learned("classes")
        >>> toy = Toy()
        >>> toy.classes_ = ["a", "b"]
        >>> toy.preprocessor_.classes, toy.classes_
        (['a', 'b'], ['a', 'b'])
    """

    def get(task):
        value = getattr(task.preprocessor_, name)
        return value if convert is None else convert(value)

    def set(task, value):
        if getattr(task, "preprocessor_", None) is None:
            task.preprocessor_ = task.preprocessor_class() if fresh is None else fresh(task)
        setattr(task.preprocessor_, name, value if convert is None else convert(value))

    return property(get, set, doc=f"The preprocessor's learned `{name}`.")


def prepare(index, validation_index, preprocessor, *, split_options, batch_size, validation_about=None):
    """The one prepare path: hold out validation and test parts of `index` (`preprocessor.hold_out`),
    adapt `preprocessor` on the training part only, and return `toolkit.data.Splits` of datasets.

    Args:
        index: the training data's `Index` (from the family's reader).
        validation_index: the user's validation data's `Index`, or None to split some off.
        preprocessor: the family's `Preprocessor`, adapted here.
        split_options: `Task._split_options()` (fractions, seed, method, groups, floor).
        batch_size: examples per batch, or a function of the training part's size that chooses them
            (`Task._choose_batch_size`; its choice is kept as the task's `batch_size_`).
        validation_about: how to name the user's validation data in the run's info.

    Returns:
        `Splits(train, validation, test, info)`: batched datasets (test None without a test part).
    """
    parts, info = preprocessor.hold_out(index, validation_index, split_options, validation_about)
    preprocessor.parts = parts
    info = {"train_source": index.about, **info}
    preprocessor.adapt(parts["train"])
    seed = split_options.get("seed", 0)
    if callable(batch_size):
        batch_size = batch_size(preprocessor.examples(parts["train"]))

    def batches(part, training=False):
        if part is None:
            return None
        return preprocessor.dataset(part, training=training, batch_size=batch_size, seed=seed)

    return data_lib.Splits(
        batches(parts["train"], training=True), batches(parts["validation"]), batches(parts["test"]), info
    )


def _take(index, positions):
    return Index(
        data_lib.take(index.inputs, positions),
        data_lib.take(index.targets, positions),
        None if index.labels is None else np.asarray(index.labels)[positions],
        index.about,
        index.classes,
        None if index.groups is None else [index.groups[i] for i in positions],
    )
