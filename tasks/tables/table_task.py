"""What the table classifier and regressor share: reading the table, the column plan, the model over raw
columns, the gradient-boosting reference and the trivial answer beside every run, permutation importance."""

import os
import warnings

import keras
import numpy as np
import pandas as pd

from tasks.tables import columns as columns_lib
from tasks.tables import data as table_data
from tasks.tables import figures as table_figures
from tasks.tables import model as model_lib
from tasks.tables import reference, streaming
from tasks.tables.data import Rows
from tasks.tables.preprocessor import TablePreprocessor, part_sample
from toolkit import estimator, preprocessing
from toolkit.errors import ToolkitError
from toolkit.preprocessing import Index
from toolkit.task import Task

# Permutation importance predicts each column's shuffle five times: on at most this many held-out rows.
IMPORTANCE_ROWS = 5000


class TableTask(Task):
    """Base of `TabularClassifier` and `TabularRegressor`: the arguments they share.

    Args:
        target: the column to predict.
        backbone: "mlp" (default), "resmlp" (residual MLP) or "ft_transformer" (FT-Transformer), or a
            `keras.Model` over (numbers, category indices).
        width: units of the hidden layers (FT-Transformer: the feed-forward size).
        depth: hidden layers or blocks (default 1: over penguins, breast_cancer, wine and diabetes, 3 seeds
            each, one layer of 128 matched or beat two everywhere but penguins species, 0.976 against 0.990,
            and penguins body mass needed it to come within 5% of gradient boosting: benchmarks/RESULTS.md).
        dropout: dropout rate in the backbone.
        columns: the feature columns to use (default: every column but the target and `drop`).
        drop: columns to leave out.
        column_types: {column: type} overriding the inferred types ("numeric", "categorical",
            "boolean", "text", "date", "id"; "id" leaves a column out).
        data_dir: TFDS data folder for "tfds:NAME" data.
        stream: read a CSV / Parquet / JSON Lines file in chunks instead of whole (a table too big for
            memory: the column plan is learned on a sample of 100,000 training rows, each epoch reads the
            file again); None: stream files over 256 MB.
        epochs: most epochs (early stopping may stop sooner); None: 30, raised on a small table until the
            network gets about 1,000 optimizer steps.
        **kwargs: the arguments every task shares (batch_size, learning_rate, tune, save_dir, ...).
    """

    kind = None  # "classification" or "regression"
    serving_input = "rows"
    default_data = None
    data_forms = table_data.FORMS + "; target= names the column to predict"
    backbone_filters = ({"modality": "table"},)
    preprocessor_class = TablePreprocessor
    budget_epochs = 30
    _parameter_constraints = {
        "width": estimator.POSITIVE,
        "depth": estimator.POSITIVE,
        "dropout": estimator.DROPOUT,
    }

    def __init__(
        self,
        *,
        target: str | None = None,
        backbone: str | keras.Model = "mlp",
        width: int = 128,
        depth: int = 1,
        dropout: float = 0.1,
        columns: tuple[str, ...] | None = None,
        drop: tuple[str, ...] | None = None,
        column_types: dict[str, str] | None = None,
        data_dir: str | os.PathLike | None = None,
        stream: bool | None = None,
        epochs: int | None = None,
        **kwargs,
    ):
        super().__init__(epochs=epochs, **kwargs)
        self.target = target
        self.backbone = backbone
        self.width = width
        self.depth = depth
        self.dropout = dropout
        self.columns = columns
        self.drop = drop
        self.column_types = column_types
        self.data_dir = data_dir
        self.stream = stream

    # ------------------------------------------------------------------- data
    def read_data(self, data, say=True):
        if self._streams(data):
            return self._read_stream(data, say)
        frame = table_data.read_table(data, self.data_dir)
        features, targets, note = table_data.split_target(frame, self.target, self.task_name)
        if note and say:
            self.say(note)
        targets, labels = self.check_targets(targets)
        return Index(Rows(features), targets, labels, frame.attrs.get("about", ""))

    def _streams(self, data):
        """Whether `data` is read in chunks: `stream`, or for None a CSV / Parquet / JSON Lines file over
        `streaming.STREAM_BYTES`."""
        if self.stream is None:
            return streaming.too_big(data)
        if self.stream and not streaming.streamable(data):
            raise ToolkitError(
                f"stream=True reads files in chunks; got {table_data.describe_path(data)!r}.",
                expected="a CSV / TSV, Parquet or JSON Lines file with stream=True",
                fix="pass the file's path, or stream=None to read a table in memory",
            )
        return bool(self.stream)

    def _read_stream(self, path, say):
        table = streaming.TableFile(path)
        head = table_data.read_file(path, rows=5)
        head.attrs["about"] = str(path)
        table_data.split_target(head, self.target, self.task_name)  # the target's errors, before a pass
        values = table.column(self.target)
        missing = columns_lib.missing(values)
        targets, labels = self.check_targets(values[~missing].reset_index(drop=True))
        if say:
            self.say(
                f"Streaming {str(path)!r} ({os.path.getsize(path) / 2**20:,.0f} MB, {len(values):,} rows) in chunks "
                f"of {table.chunk_rows:,} rows; {int(missing.sum()):,} rows without a {self.target!r} value left out."
            )
        return Index(
            streaming.StreamRows(table, np.flatnonzero(~missing), drop=[self.target]), targets, labels, str(path)
        )

    def check_targets(self, targets):
        """(targets as the task keeps them, a class index per row for stratified splits, or None)."""
        raise NotImplementedError(f"{type(self).__name__} must implement check_targets(targets)")

    def _preprocessor_options(self):
        return {}

    def make_preprocessor(self):
        return TablePreprocessor(
            kind=self.kind, columns=self.columns, drop=self.drop, column_types=self.column_types, seed=self.seed,
            **self._preprocessor_options(),
        )  # fmt: skip

    def prepare_data(self, data, validation_data):
        self._check_backbone()
        splits = super().prepare_data(data, validation_data)
        kinds = {}
        for column in self.preprocessor_.plan:
            kinds.setdefault(column["type"], []).append(column["name"])
        described = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in kinds.items())
        self.say(
            f"Table {self.kind}: {described}; "
            f"{splits.info['train_examples']} train / {splits.info['validation_examples']} validation / "
            f"{splits.info['test_examples']} test rows."
        )
        return splits

    def evaluation_data(self, data):
        return self.preprocessor_.dataset(self.read_data(data, say=False), batch_size=self._global_batch_size())

    plan_ = preprocessing.learned("plan")
    column_types_ = property(
        lambda self: {c["name"]: c["type"] for c in self.preprocessor_.plan},
        doc="{column: type} of the features the model reads (inferred on the training part, or as overridden).",
    )

    # ------------------------------------------------------------------ model
    def _head(self):
        """(outputs, target_scale) of `model.build`."""
        raise NotImplementedError

    def build_model(self):
        outputs, scale = self._head()
        return model_lib.build(
            self.plan_, self.backbone, outputs, width=self.width, depth=self.depth, dropout=self.dropout,
            target_scale=scale,
        )  # fmt: skip

    def search_space(self, hp):
        space = super().search_space(hp)
        space["dropout"] = hp.Float("dropout", 0.0, 0.4, step=0.1)
        space["width"] = hp.Choice("width", [64, 128, 256])
        space["depth"] = hp.Int("depth", 1, 4)
        if isinstance(self.backbone, str):
            space["backbone"] = hp.Choice("backbone", self.accepted_backbones())
        return space

    def export_form(self, format):
        """SavedModel takes raw rows (the encoder inside); ONNX and LiteRT carry no string operations and
        get the model from the encoder's outputs on (see `model.encoded_form`)."""
        if format == "savedmodel":
            return super().export_form(format)
        return model_lib.encoded_form(self.model_, format, self.plan_)

    # ------------------------------------------------------------- inference
    def predict(self, inputs):
        """Answers for rows: a table file, a DataFrame, a dict of columns, one row dict or a list of them.

        Columns the model does not read (the target among them) are ignored; a missing cell is filled
        in as in training; a category never seen in training goes to the unseen bucket.
        """
        self.check_fitted()
        if streaming.streamable(inputs) and self._streams(inputs):  # a big file: chunk by chunk
            chunks = streaming.TableFile(inputs).chunks()
            return [a for chunk in chunks for a in self._answers(self._infer(self.preprocessor_.inputs(chunk)))]
        return self._answers(self._infer(self.preprocessor_.inputs(inputs)))

    def read_inputs(self, paths):
        """(a name per row, the rows) of table files given to `toolkit predict` ("penguins.csv:3": its third row)."""
        frames = [table_data.read_table(path) for path in paths]
        sources = [f"{path}:{i + 1}" for path, frame in zip(paths, frames) for i in range(len(frame))]
        return sources, pd.concat(frames, ignore_index=True)

    # ------------------------------------------------------- reference, report
    def compare_with_baseline(self):
        """Beside the network's scores: HistGradientBoosting's and the trivial answer's on the same parts
        (metrics_["reference"], metrics_["trivial"]), and permutation importance on the judged part."""
        parts = self.preprocessor_.parts
        config = self.preprocessor_.config
        self.metrics_["reference"], self.metrics_["trivial"] = reference.fit_reference(
            parts, self.plan_, self.kind, self.preprocessor_.classes, config.get("log_target"), self.seed
        )
        part_name, _ = self._judged_part()
        part = parts.get(part_name)
        if part is not None and len(part.targets):
            frame, targets = part_sample(part, IMPORTANCE_ROWS, self.seed)
            importance = reference.permutation_importance(self, frame, targets, seed=self.seed)
            self.metrics_["feature_importance"] = {"part": part_name, **importance}
        self.compare_with_trivial()
        self._warn_behind_reference(part_name)

    def compare_with_trivial(self):
        """Records metrics_["baseline"]: the run against the trivial answer."""

    def _warn_behind_reference(self, part_name):
        name, better = self.headline
        ours = (self.metrics_.get(part_name) or {}).get(name)
        theirs = (self.metrics_["reference"].get(part_name) or {}).get(name)
        if ours is None or theirs is None:
            return
        behind = ours < theirs if better == "max" else ours > theirs
        if behind:
            warnings.warn(
                f"Gradient boosting scores better on this split: {part_name} {name} {ours:.4f} for the network against "
                f"{theirs:.4f} ({self.metrics_['reference']['name']}). Small tables often favour it; try tune=True, "
                "backbone='resmlp' or 'ft_transformer', or use gradient boosting. Recorded in metrics.json under "
                '"reference".',
                stacklevel=3,
            )

    def outcome_figures(self):
        """[(title, figure)] of the run's answers against the truth (a confusion matrix, predicted vs true)."""
        return []

    def report_figures(self):
        drawn = list(self.outcome_figures())
        drawn.append(("Against gradient boosting and the trivial answer", table_figures.reference_table(self.metrics_)))
        importance = (self.metrics_ or {}).get("feature_importance")
        if importance:
            drawn.append(
                (f"Permutation importance ({importance['part']})", table_figures.importance_figure(importance))
            )
        return drawn

    def _check_combinations(self):
        super()._check_combinations()
        if self.target is not None and not isinstance(self.target, str):
            raise ToolkitError(
                f"target={self.target!r} is not valid.", expected="a column name", fix="pass target='name'"
            )
