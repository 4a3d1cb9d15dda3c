"""The forecaster's model: a window of raw values -> scaled per window (each target by its own window's mean
and spread, covariates by the training part's) -> backbone -> a linear head to (horizon, targets, quantiles)
-> back in the targets' units, quantiles in order. And the pinball loss that trains the quantiles."""

import keras
from keras import ops

from tasks.forecasting import backbones as forecast_backbones  # noqa: F401  (registers the backbones)
from toolkit.backbones import BACKBONES, copy_model


@keras.saving.register_keras_serializable(package="toolkit")
class WindowScaling(keras.layers.Layer):
    """(batch, lookback, channels) -> (scaled window, centre (batch, 1, targets), spread (batch, 1, targets)).

    The first `targets` channels are standardised by their own window's mean and spread (reversible
    instance normalisation, Kim et al. 2022: a series' level and scale never need learning, so a model of
    an early, small stretch answers for a later, larger one); the covariates after them by the training
    part's `mean` / `std`.

    Examples:
        >>> import numpy as np
        >>> scaled, centre, spread = WindowScaling(1, [], [])(np.array([[[1.0], [3.0]]], "float32"))
        >>> scaled.numpy().ravel().round(2).tolist(), float(centre[0, 0, 0]), round(float(spread[0, 0, 0]), 2)
        ([-1.0, 1.0], 2.0, 1.0)
    """

    def __init__(self, targets, mean, std, **kwargs):
        super().__init__(**kwargs)
        self.targets = int(targets)
        self.mean, self.std = [float(m) for m in mean], [float(s) for s in std]

    def call(self, window):
        values = window[..., : self.targets]
        centre = ops.mean(values, axis=1, keepdims=True)
        spread = ops.std(values, axis=1, keepdims=True) + 1e-3 * (ops.abs(centre) + 1.0)
        scaled = (values - centre) / spread
        if self.mean:
            covariates = (window[..., self.targets :] - ops.array(self.mean)) / ops.array(self.std)
            scaled = ops.concatenate([scaled, covariates], axis=-1)
        return scaled, centre, spread

    def get_config(self):
        return {**super().get_config(), "targets": self.targets, "mean": self.mean, "std": self.std}


@keras.saving.register_keras_serializable(package="toolkit")
class Standardize(keras.layers.Layer):
    """(x - mean) / std per channel, with the training part's statistics (the known covariates' future)."""

    def __init__(self, mean, std, **kwargs):
        super().__init__(**kwargs)
        self.mean, self.std = [float(m) for m in mean], [float(s) for s in std]

    def call(self, x):
        return (x - ops.array(self.mean)) / ops.array(self.std)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}


@keras.saving.register_keras_serializable(package="toolkit")
class Unscale(keras.layers.Layer):
    """(batch, horizon * targets * quantiles) in window units -> (batch, horizon, targets, quantiles) in the
    targets' units, each step's quantiles sorted (so lower <= value <= upper)."""

    def __init__(self, horizon, targets, quantiles, **kwargs):
        super().__init__(**kwargs)
        self.horizon, self.targets, self.quantiles = int(horizon), int(targets), int(quantiles)

    def call(self, flat, centre, spread):
        out = ops.reshape(flat, (-1, self.horizon, self.targets, self.quantiles))
        out = out * spread[..., None] + centre[..., None]
        return ops.sort(out, axis=-1)

    def get_config(self):
        return {**super().get_config(), "horizon": self.horizon, "targets": self.targets, "quantiles": self.quantiles}


@keras.saving.register_keras_serializable(package="toolkit")
class PinballLoss(keras.losses.Loss):
    """The mean pinball (quantile) loss over the scored steps: targets (batch, horizon, targets) with NaN
    where not scored, forecasts (batch, horizon, targets, quantiles) in the same units.

    Examples:
        >>> import numpy as np
        >>> loss = PinballLoss([0.1, 0.5, 0.9])
        >>> round(float(loss(np.array([[[1.0], [np.nan]]]), np.zeros((1, 2, 1, 3)))), 4)
        0.5
    """

    def __init__(self, quantiles, name="pinball", **kwargs):
        super().__init__(name=name, **kwargs)
        self.quantiles = [float(q) for q in quantiles]

    def call(self, y_true, y_pred):
        seen = ops.logical_not(ops.isnan(y_true))
        truth = ops.where(seen, y_true, 0.0)[..., None]
        if len(y_pred.shape) == len(y_true.shape) + 2:  # an ensemble's members: (batch, members, ...)
            truth, seen = truth[:, None], seen[:, None]
        error = truth - y_pred
        q = ops.array(self.quantiles, dtype=y_pred.dtype)
        loss = ops.maximum(q * error, (q - 1.0) * error) * ops.cast(seen, y_pred.dtype)[..., None]
        per_example = ops.sum(ops.reshape(loss, (ops.shape(loss)[0], -1)), axis=-1)
        # Each batch's total over its scored steps: windows near a part's edge score few steps.
        seen_steps = ops.cast(seen, y_pred.dtype) * ops.ones_like(loss[..., 0])  # over the members too
        count = ops.maximum(ops.sum(seen_steps) * len(self.quantiles), 1.0)
        return per_example * ops.cast(ops.shape(loss)[0], y_pred.dtype) / count

    def get_config(self):
        return {"name": self.name, "quantiles": self.quantiles}


@keras.saving.register_keras_serializable(package="toolkit")
class MedianError(keras.metrics.Metric):
    """The mean absolute error of the median forecast over the scored steps (in the targets' units)."""

    def __init__(self, middle, name="mae", **kwargs):
        super().__init__(name=name, **kwargs)
        self.middle = int(middle)
        self.total = self.add_variable((), initializer="zeros", name="total")
        self.count = self.add_variable((), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        if len(y_pred.shape) == len(y_true.shape) + 2:  # an ensemble's members: their mean answer
            y_pred = ops.mean(y_pred, axis=1)
        seen = ops.logical_not(ops.isnan(y_true))
        error = ops.where(seen, ops.abs(y_pred[..., self.middle] - ops.where(seen, y_true, 0.0)), 0.0)
        self.total.assign_add(ops.sum(error))
        self.count.assign_add(ops.sum(ops.cast(seen, "float32")))

    def result(self):
        return self.total / ops.maximum(self.count, 1.0)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        return {"name": self.name, "middle": self.middle}


@keras.saving.register_keras_serializable(package="toolkit")
class Members(keras.layers.Layer):
    """The members' forecasts side by side: a list of (batch, ...) -> (batch, members, ...)."""

    def call(self, parts):
        return ops.stack(parts, axis=1)


@keras.saving.register_keras_serializable(package="toolkit")
class MembersMean(keras.layers.Layer):
    """The ensemble's answer: its members' forecasts (batch, members, ...) averaged with the shares it holds
    (equal at first; each quantile averaged, as Vincentization)."""

    def build(self, input_shape):
        count = input_shape[1]
        self.shares = self.add_weight((count,), initializer=keras.initializers.Constant(1.0 / count),
                                      trainable=False, name="shares")  # fmt: skip

    def call(self, stacked):
        shares = ops.reshape(ops.cast(self.shares, stacked.dtype), (1, -1) + (1,) * (len(stacked.shape) - 2))
        return ops.sum(stacked * shares, axis=1)


def keep_members(model, kept):
    """Makes `model` answer the mean of the members whose positions are in `kept` only."""
    layer = model.get_layer("ensemble_mean")
    count = layer.shares.shape[0]
    layer.shares.assign([1.0 / len(kept) if i in kept else 0.0 for i in range(count)])


def quantiles_for(interval):
    """(lower, 0.5, upper) quantiles of a central interval: 0.8 -> (0.1, 0.5, 0.9).

    Examples:
        >>> quantiles_for(0.8)
        [0.1, 0.5, 0.9]
    """
    tail = round((1.0 - interval) / 2, 6)
    return [tail, 0.5, round(1.0 - tail, 6)]


def build(backbones, lookback, horizon, channels, targets, known, mean, std, quantiles, width=None, members=1):
    """The forecaster: {"history": (lookback, channels)[, "future": (horizon, known)]} -> (horizon, targets,
    quantiles) in the targets' units. `mean` / `std`: the covariate channels' training statistics.

    `backbones`: a list of backbone names (or `keras.Model`s); each gets `members` networks with heads of their
    own initial weights, answering side by side ("members", (batch, members, horizon, targets, quantiles):
    what `members_model` trains, each on its own loss); the model answers their mean (`MembersMean`, whose
    shares `keep_members` can narrow to one backbone's): an ensemble, as N-BEATS' and InceptionTime's authors use.
    """
    history = keras.Input((lookback, channels), name="history")
    inputs = {"history": history}
    scaled, centre, spread = WindowScaling(targets, mean, std, name="scaling")(history)
    covariates = None
    if known:
        inputs["future"] = keras.Input((horizon, known), name="future")
        covariates = Standardize(mean[-known:], std[-known:], name="future_scaling")(inputs["future"])
    answers = []
    for number, backbone in enumerate(b for b in backbones for _ in range(members)):
        suffix = "" if len(backbones) * members == 1 else f"_{number}"
        if isinstance(backbone, keras.Model):
            network = copy_model(backbone)
        else:
            sizes = {} if width is None else {"width": width}
            network = BACKBONES.get(backbone, modality="forecast")((lookback, channels), **sizes)
        if suffix:  # layer names are unique in a model: each member's backbone is named for it
            network = keras.Model(network.input, network.output, name=f"backbone{suffix}")
        features = network(scaled)
        if known:
            features = keras.layers.Concatenate()([features, keras.layers.Flatten()(covariates)])
        flat = keras.layers.Dense(horizon * targets * len(quantiles), name=f"forecast{suffix}")(features)
        if known:
            # Each step's covariates also move that step's forecast by one weight shared over the steps: learned
            # from every step at once (through the flat head alone, a promotion's lift took 200 epochs to show).
            same_step = keras.layers.Dense(targets * len(quantiles), use_bias=False,
                                           name=f"covariate_effect{suffix}")(covariates)  # fmt: skip
            flat = keras.layers.Add()([flat, keras.layers.Flatten()(same_step)])
        answers.append(Unscale(horizon, targets, len(quantiles), name=f"unscale{suffix}")(flat, centre, spread))
    if len(answers) == 1:
        return keras.Model(inputs, answers[0], name="forecaster")
    stacked = Members(name="members")(answers)
    mean_answer = MembersMean(name="ensemble_mean")(stacked)
    return keras.Model(inputs, mean_answer, name="forecaster")


def members_model(model):
    """The model whose members each train on their own loss: `model`'s layers, answering every member's
    forecast (batch, members, horizon, targets, quantiles); `model` itself when it has one member."""
    names = [layer.name for layer in model.layers]
    if "members" not in names:
        return model
    return keras.Model(model.inputs, model.get_layer("members").output, name="forecaster_members")
