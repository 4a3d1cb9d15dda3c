"""Time series: classification of series of one or several channels."""

from tasks.series.classifier import SeriesClassifier, train_series_classifier

__all__ = ["SeriesClassifier", "train_series_classifier"]
