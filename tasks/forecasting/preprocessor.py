"""What forecasting learns from the data: the horizon, lookback and season, the covariates' statistics on the
training span, each series' MASE scale and its last steps (where `forecast` starts); and the split by time.

An `Index` of series holds the series as its inputs and, as its targets, the span of steps each part
scores (`windows.cut`): the parts are spans of time, never shuffled across a cut.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from tasks.forecasting import data as data_lib
from tasks.forecasting import windows as windows_lib
from toolkit import data as core_data
from toolkit.errors import ToolkitError
from toolkit.preprocessing import Index, Preprocessor


@dataclasses.dataclass
class Part:
    """A part's windows (`windows.Windows`), its batched `tf.data.Dataset` of (inputs, targets) and, for data
    other than the training data's series, the ids of its series (for their MASE scales)."""

    windows: object
    dataset: object
    ids: list | None = None


class ForecastPreprocessor(Preprocessor):
    """Splits series by time, learns the window sizes and statistics on the training span, cuts windows.

    Configuration: `horizon`, `lookback` and `season` (None: chosen), the panel's `frequency`.

    Examples:
        >>> panel = data_lib.read_panel(np.sin(np.arange(60) / 3) + 2)
        >>> p = ForecastPreprocessor(horizon=5)
        >>> parts, info = p.hold_out(Index(panel.series, [None]), None, {"validation_split": 0.1, "test_split": 0.2})
        >>> p.adapt(parts["train"])
        >>> p.lookback, p.season, info["train_examples"], info["test_examples"]
        (12, 1, 30, 16)
    """

    state_attributes = ("horizon", "lookback", "season", "channels", "mean", "std", "scales", "ids", "tails", "ends",
                        "chosen")  # fmt: skip

    def __init__(self, horizon=None, lookback=None, season=None, frequency=None, targets=("value",), known=(),
                 past=()):  # fmt: skip
        super().__init__(horizon=horizon, lookback=lookback, season=season, frequency=frequency,
                         targets=list(targets), known=list(known), past=list(past))  # fmt: skip
        self.horizon, self.lookback, self.season, self.frequency = horizon, lookback, season, frequency
        self.targets, self.known, self.past = list(targets), list(known), list(past)
        self.chosen = None  # the backbone "auto" kept

    # ------------------------------------------------------------------ split
    def hold_out(self, index, validation_index, split_options, validation_about=None):
        """Train, validation and test spans of each series, by time: test the last steps (`test_split` of them,
        at least a horizon), validation the steps before (with the user's validation data: those series'
        steps after the training data's end)."""
        series = index.inputs
        if split_options.get("method", "auto") != "auto" or split_options.get("groups") is not None:
            raise ToolkitError(
                f"split={split_options.get('method')!r} (or groups=) with series to forecast.",
                expected="the split by time: test the last steps of each series, validation the steps before",
                fix="leave split='auto' and groups unset; test_split= and validation_split= set the spans",
            )
        self.season = self.config["season"] or data_lib.season_of(self.frequency)
        self.horizon = self.config["horizon"] or (self.season if self.season > 1 else 10)
        lengths = [len(s.values) for s in series]
        if validation_index is not None:  # validation is the user's later steps; test still the last of these
            test_split = split_options["test_split"]
            tests = [max(self.horizon, round(test_split * n)) if test_split else 0 for n in lengths]
            cuts = [(n - t, n - t) for n, t in zip(lengths, tests)]
        else:
            cuts = [windows_lib.spans(n, self.horizon, split_options["validation_split"], split_options["test_split"])
                    for n in lengths]  # fmt: skip
        shortest = int(np.argmin([c[0] for c in cuts]))
        if cuts[shortest][0] < self.horizon + 2:
            n = lengths[shortest]
            raise ToolkitError(
                f"Series {series[shortest].id!r} has {n} steps: too few to forecast {self.horizon} steps ahead "
                f"(validation and test take {n - cuts[shortest][0]} steps, leaving {cuts[shortest][0]} to learn from).",
                expected=f"at least {self.horizon + 2} training steps besides the held-out ones",
                fix="pass a shorter horizon=, test_split=0, or a longer series",
            )
        self.lookback = self.config["lookback"] or windows_lib.choose_lookback(
            self.season, self.horizon, min(c[0] for c in cuts) - self.horizon
        )
        train = Index(series, [(0, c[0]) for c in cuts])
        if validation_index is not None:
            validation = self._after(series, validation_index.inputs)
        else:
            validation = Index(series, [(c[0], c[1]) for c in cuts])
        test = Index(series, [(c[1], n) for c, n in zip(cuts, lengths)]) if split_options["test_split"] else None
        self.ids = [s.id for s in series]
        # Where forecast() starts: each series' last steps, those of the user's validation data when it continues it.
        latest = {s.id: s for s in series}
        if validation_index is not None:
            latest.update({s.id: s for s in validation.inputs})
        ends = [latest[i] for i in self.ids]
        self.tails = [windows_lib.channels(s)[0][-self.lookback :].tolist() for s in ends]
        self.ends = [str(s.times[-1]) if s.times is not None else len(s.values) - 1 for s in ends]
        counts = {name: self.count(part) if part is not None else 0
                  for name, part in (("train", train), ("validation", validation), ("test", test))}  # fmt: skip
        info = {f"{name}_examples": count for name, count in counts.items()}
        info.update(split="by time", horizon=self.horizon, lookback=self.lookback, season=self.season)
        if validation_about:
            info["validation_source"] = validation_about
        return {"train": train, "validation": validation, "test": test}, info

    def _after(self, series, later):
        """The user's validation series: each continues the training series of its id (scored after its end)."""
        by_id = {s.id: s for s in series}
        joined, spans = [], []
        for s in later:
            if s.id not in by_id:
                raise ToolkitError(f"Validation series {s.id!r} is not in the training data.",
                                   expected="the same series ids in validation_data", fix="check the id column")  # fmt: skip
            first = by_id[s.id]
            joined.append(dataclasses.replace(
                s, values=np.concatenate([first.values, s.values]), known=np.concatenate([first.known, s.known]),
                past=np.concatenate([first.past, s.past])))  # fmt: skip
            spans.append((len(first.values), len(first.values) + len(s.values)))
        return Index(joined, spans)

    # ------------------------------------------------------------------ learn
    def adapt(self, index):
        first = index.inputs[0]
        self.mean, self.std = [], []
        train_rows = [
            np.concatenate([s.past, s.known], axis=1)[:end] for s, (_, end) in zip(index.inputs, index.targets)
        ]
        covariates = np.concatenate(train_rows)
        for j in range(covariates.shape[1]):
            column = covariates[:, j]
            self.mean.append(float(np.nanmean(column)) if (~np.isnan(column)).any() else 0.0)
            self.std.append(float(max(np.nanstd(column), 1e-6)) if (~np.isnan(column)).any() else 1.0)
        self.scales = [
            [None if np.isnan(v) else float(v) for v in windows_lib.scale_of(s.values[:end], self.season)]
            for s, (_, end) in zip(index.inputs, index.targets)
        ]
        self.channels = first.values.shape[1] + first.past.shape[1] + first.known.shape[1]

    def count(self, part):
        return len(self.cut(part))

    def examples(self, part):
        return self.count(part)

    def cut(self, part):
        """A part's `windows.Windows`."""
        return windows_lib.cut(part.inputs, self.lookback, self.horizon, part.targets, len(self.known))

    def scale(self, windows, ids=None):
        """(windows, targets) MASE scale of each window's series (NaN where unknown)."""
        ids = ids or self.ids
        by_id = dict(zip(self.ids, self.scales))
        table = np.array([[np.nan if v is None else v for v in by_id.get(i, [None] * len(self.targets))]
                          for i in ids], dtype=np.float32)  # fmt: skip
        return table[windows.series] if len(windows) else np.zeros((0, len(self.targets)), np.float32)

    def dataset(self, index, *, training=False, batch_size=32, seed=0):
        windows = self.cut(index)
        if training and not len(windows):
            raise ToolkitError(
                "No training window: every series is shorter than the lookback plus one step.",
                expected=f"series longer than {self.lookback + 1} steps before the held-out ones",
                fix="pass lookback= smaller, test_split=0, or longer series",
            )
        dataset = tf.data.Dataset.from_tensor_slices((windows.inputs(), windows.targets))
        batches = core_data.cached_batches(dataset, len(windows), batch_size, cache=True, shuffle=training, seed=seed)
        return Part(windows, batches)

    # ------------------------------------------------------------------ answer
    def history_inputs(self, histories, futures=None):
        """The last `lookback` steps of each history (filled) as model inputs; `futures`: (n, horizon, known)."""
        rows = []
        for values in histories:
            values = np.asarray(values, np.float32)
            values = values.reshape(len(values), -1)
            if values.shape[1] != self.channels:
                raise ToolkitError(
                    f"A history of {values.shape[1]} value(s) a step.",
                    expected=f"{self.channels} a step ({', '.join(self.targets + self.past + self.known)})",
                    fix="pass each step's target values (then its covariates, in the training data's order)",
                )
            if np.isinf(values).any():
                raise ToolkitError("A history holds an infinite value.", expected="finite numbers (NaN where missing)",
                                   fix="replace the infinite values (NaN marks one as missing)")  # fmt: skip
            if len(values) < self.lookback:
                raise ToolkitError(
                    f"A history of {len(values)} steps.",
                    expected=f"at least {self.lookback} steps (the lookback the model reads)",
                    fix=f"pass the last {self.lookback} steps or more",
                )
            rows.append(windows_lib.filled(values)[-self.lookback :])
        inputs = {"history": np.stack(rows).astype(np.float32)}
        if self.known:
            inputs["future"] = np.asarray(futures, np.float32)
        return inputs
