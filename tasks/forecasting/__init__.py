"""Time-series forecasting: the next steps of one or many series, with prediction intervals."""

from tasks.forecasting.forecaster import TimeSeriesForecaster, train_forecaster

__all__ = ["TimeSeriesForecaster", "train_forecaster"]
