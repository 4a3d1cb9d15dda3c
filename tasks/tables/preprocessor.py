"""What a table model learns from the training part (the column plan: each column's type, statistics and
vocabulary; the classes or the target's scale) and the tf.data pipeline of (column values, target) batches."""

import collections

import numpy as np
import pandas as pd
import tensorflow as tf

from tasks.tables import columns as columns_lib
from tasks.tables import data as table_data
from tasks.tables.encoding import numeric_width
from tasks.tables.streaming import SAMPLE_ROWS, StreamRows
from toolkit import data as data_lib
from toolkit.errors import ToolkitError
from toolkit.preprocessing import Preprocessor

# The most categories a column keeps (the rest share the unseen bucket) and words a text column keeps.
MOST_CATEGORIES = 1000
MOST_WORDS = 500


class TablePreprocessor(Preprocessor):
    """Learns the column plan and the target's classes (or scale) from the training rows.

    Args:
        kind: "classification" or "regression".
        columns: feature columns to use (default: all but the target and `drop`).
        drop: columns to leave out.
        column_types: {column: type} overriding what is inferred (see `tasks.tables.columns.TYPES`).
        log_target: regression on log(1 + target) (positive, skewed targets).
        class_weight: "balanced" to weight each class's examples by its rarity (classification).

    Examples:
        >>> from toolkit.preprocessing import Index
        >>> from tasks.tables.data import Rows
        >>> rows = Rows(pd.DataFrame({"mass": [3750, 3800, None, 5000], "island": ["Biscoe", "Dream", "Dream", "x"]}))
        >>> preprocessor = TablePreprocessor(kind="classification")
        >>> preprocessor.adapt(Index(rows, np.array(["a", "b", "a", "b"], object)))
        >>> [(c["name"], c["type"]) for c in preprocessor.plan], preprocessor.classes
        ([('mass', 'numeric'), ('island', 'categorical')], ['a', 'b'])
    """

    state_attributes = ("plan", "classes", "target_mean", "target_std", "class_weights", "notes")

    def __init__(self, *, kind="classification", columns=None, drop=None, column_types=None, log_target=False,
                 class_weight=None, seed=0):  # fmt: skip
        super().__init__(kind=kind, columns=columns, drop=drop, column_types=column_types, log_target=log_target,
                         class_weight=class_weight, seed=seed)  # fmt: skip
        self.plan, self.classes, self.notes = None, None, []
        self.target_mean = self.target_std = self.class_weights = None

    # ---------------------------------------------------------------- learning
    def adapt(self, index):
        frame = training_rows(index.inputs, self.config.get("seed", 0))
        self.notes = []
        if len(frame) < len(index.inputs):
            self.notes.append(f"Column types and statistics learned on a sample of {len(frame):,} of the "
                              f"{len(index.inputs):,} training rows.")  # fmt: skip
        chosen = self._chosen_columns(frame)
        overrides = dict(self.config["column_types"] or {})
        self.plan = []
        for name in chosen:
            kind = overrides.get(name) or columns_lib.infer_type(frame[name], name)
            if kind is None:
                self.notes.append(f"{name!r} has no values in the training part: left out.")
            elif kind == "id":
                self.notes.append(
                    f"{name!r} looks like an id (every value distinct): left out (column_types= keeps it)."
                )
            else:
                self.plan.append(self._learn_column(name, kind, frame[name]))
        for column, name in zip(self.plan, columns_lib.input_names([c["name"] for c in self.plan])):
            column["input"] = name
        if not self.plan:
            raise ToolkitError(
                "No feature column is left to learn from.",
                expected="at least one column besides the target with values",
                fix="check columns= / drop=, or set column_types= for the columns left out",
            )
        self._learn_target(index.targets)
        for note in self.notes:
            self.say(note)

    def _chosen_columns(self, frame):
        names = list(frame.columns)
        wanted, drop = self.config["columns"], set(self.config["drop"] or ())
        for given, what in (
            (wanted or (), "columns="),
            (drop, "drop="),
            (self.config["column_types"] or {}, "column_types="),
        ):
            unknown = [name for name in given if name not in names]
            if unknown:
                raise ToolkitError(
                    f"{what} names column(s) the table does not have: {', '.join(map(repr, unknown))}.",
                    expected=f"feature columns of the table: {', '.join(names[:30])}",
                    fix="check the names (case-sensitive; the target is not a feature)",
                )
        bad = {n: t for n, t in (self.config["column_types"] or {}).items() if t not in columns_lib.TYPES}
        if bad:
            raise ToolkitError(
                f"column_types= has unknown types: {bad}.", expected=f"one of {columns_lib.TYPES}", fix="fix the types"
            )
        return [name for name in (wanted or names) if name not in drop]

    def _learn_column(self, name, kind, values):
        column = {"name": name, "type": kind}
        model_values = columns_lib.model_values(pd.DataFrame({name: values}), [column])[name]
        if kind == "numeric":
            present = model_values[~np.isnan(model_values)].astype(np.float64)
            std = float(present.std()) if len(present) else 1.0
            column.update(mean=float(present.mean()) if len(present) else 0.0, std=std if std > 1e-12 else 1.0,
                          indicator=bool(np.isnan(model_values).any()))  # fmt: skip
        elif kind in ("categorical", "boolean"):
            counts = collections.Counter(v for v in model_values.tolist())
            kept = [value for value, _ in counts.most_common(MOST_CATEGORIES)]
            if len(counts) > MOST_CATEGORIES:
                self.notes.append(f"{name!r}: the {MOST_CATEGORIES} commonest of {len(counts)} values kept.")
            column["vocabulary"] = sorted(kept)
        elif kind == "date":
            years = np.array([float(v[:4]) for v in model_values if v])
            column.update(year_mean=float(years.mean()), year_std=float(max(years.std(), 1.0)),
                          time=any(v[11:] not in ("", "00:00:00") for v in model_values if v))  # fmt: skip
        elif kind == "text":
            import keras

            vectorizer = keras.layers.TextVectorization(max_tokens=MOST_WORDS + 1, output_mode="multi_hot")
            vectorizer.adapt(tf.constant(model_values.tolist(), tf.string))
            column["vocabulary"] = [word for word in vectorizer.get_vocabulary() if word != "[UNK]"]
        return column

    def _learn_target(self, targets):
        if self.config["kind"] == "classification":
            self.classes = sorted(set(targets.tolist()))
            indices = self.encode(targets)
            data_lib.require_two_classes(indices, self.classes)
            if self.config["class_weight"] == "balanced":
                counts = np.bincount(indices, minlength=len(self.classes))
                self.class_weights = [float(len(indices) / (len(self.classes) * max(c, 1))) for c in counts]
            return
        values = self.transform_target(targets)
        self.target_mean, self.target_std = float(values.mean()), float(max(values.std(), 1e-12))

    def transform_target(self, targets):
        """Regression targets on the scale the network learns (log(1 + y) with log_target)."""
        values = np.asarray(targets, dtype=np.float64)
        return np.log1p(values) if self.config["log_target"] else values

    def encode(self, targets):
        """Classification labels -> class indices (an unknown label is a clear error)."""
        return data_lib.encode_labels(list(targets), self.classes)[0]

    # ------------------------------------------------------------------ batches
    def model_inputs(self, frame):
        """{column: values} the model takes for a DataFrame's rows."""
        return columns_lib.model_values(frame, self.plan)

    def dataset(self, index, *, training=False, batch_size=32, seed=0):
        """Batches of ({column: values}, target) (and class weights when training with class_weight). A table
        in memory is cached; a streamed one is read again each epoch, chunk by chunk, shuffled in a bounded
        buffer."""
        y = self.encoded_targets(index.targets)
        weights = np.asarray(self.class_weights, np.float32)[y] if training and self.class_weights is not None else None
        if isinstance(index.inputs, StreamRows):
            dataset = self._stream(index.inputs, y, weights)
        else:
            x = {name: tf.constant(v) for name, v in self.model_inputs(index.inputs.frame).items()}
            dataset = tf.data.Dataset.from_tensor_slices((x, y) if weights is None else (x, y, weights))
        cache = not isinstance(index.inputs, StreamRows)
        return data_lib.cached_batches(dataset, len(y), batch_size, cache=cache, shuffle=training, seed=seed)

    def encoded_targets(self, targets):
        """Class indices (int32) or values (float32) as the model's loss reads them."""
        if self.config["kind"] == "classification":
            return np.asarray(self.encode(targets), dtype=np.int32)
        return np.asarray(targets, dtype=np.float32)

    def _stream(self, rows, y, weights):
        """Examples of a streamed part, read chunk by chunk (a generator: pandas reads the file)."""

        def chunks():
            for frame, where in rows.chunks():
                parts = (self.model_inputs(frame), y[where])
                yield parts if weights is None else (*parts, weights[where])

        x_spec = {columns_lib.input_name(c): tf.TensorSpec((None,), "float32" if c["type"] == "numeric" else "string")
                  for c in self.plan}  # fmt: skip
        specs = (x_spec, tf.TensorSpec((None,), tf.as_dtype(y.dtype)))
        if weights is not None:
            specs = (*specs, tf.TensorSpec((None,), "float32"))
        dataset = tf.data.Dataset.from_generator(chunks, output_signature=specs).unbatch()
        return dataset.apply(tf.data.experimental.assert_cardinality(len(y)))

    def inputs(self, raw):
        """What a user holds at prediction time (a file, a DataFrame, a dict of columns, one row dict or a
        list of them) -> the model's {column: tensor} inputs."""
        if (
            isinstance(raw, dict)
            and raw
            and not any(isinstance(v, (list, tuple, np.ndarray, pd.Series)) for v in raw.values())
        ):
            raw = [raw]  # one row
        frame = table_data.read_table(raw)
        return {name: tf.constant(values) for name, values in self.model_inputs(frame).items()}

    def feature_count(self):
        """(numbers, categorical columns) the encoder gives."""
        return numeric_width(self.plan), sum(c["type"] in ("categorical", "boolean") for c in self.plan)


def training_rows(rows, seed=0):
    """The rows a plan is learned on: all of a table in memory, a bounded sample of a streamed one."""
    if isinstance(rows, StreamRows):
        return rows.sample(SAMPLE_ROWS, seed)[0]
    return rows.frame


def part_sample(part, rows=SAMPLE_ROWS, seed=0):
    """(feature DataFrame, targets) of up to `rows` rows of a part (what the reference and importance read)."""
    if isinstance(part.inputs, StreamRows):
        frame, where = part.inputs.sample(rows, seed)
        return frame, np.asarray(part.targets)[where]
    return part.inputs.frame, np.asarray(part.targets)
