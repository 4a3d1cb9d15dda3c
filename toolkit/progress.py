"""What a run says while it trains: an estimate of the whole run after its first epoch (or first steps),
and progress lines inside long epochs when the output is a log file rather than a terminal."""

import time

import keras

# Seconds between progress lines inside an epoch when the output is not a terminal.
PROGRESS_SECONDS = 30.0


ESTIMATE_STEPS = 200  # an epoch at least twice this long is estimated from its first this-many steps


def duration(seconds):
    """A duration in words, rounded as an estimate should be.

    Examples:
        >>> duration(2.4), duration(42), duration(754), duration(5400)
        ('about 2 s', 'about 40 s', 'about 13 min', 'about 1.5 h')
    """
    if seconds < 10:
        return f"about {max(1, round(seconds))} s"
    if seconds < 90:
        return f"about {round(seconds, -1):.0f} s"
    if seconds < 5400:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds / 3600:.1f} h"


class TimeEstimate(keras.callbacks.Callback):
    """Says, once, how long the run will take at most: after the first epoch, or after `ESTIMATE_STEPS` steps
    of a first epoch more than twice that long.

    The first step of a run traces the model (seconds that later steps do not pay), so steps are timed from
    the end of the first one: an epoch is estimated as its steady steps plus its validation, and the run as
    the first epoch as it went plus that for each epoch left in this phase (from the epoch it starts at,
    later on a resumed run) and in later phases. Early stopping may end the run sooner.

    Examples:
        >>> said = []
        >>> estimate = TimeEstimate(said.append, end_epoch=72)
        >>> estimate.set_params({"epochs": 72, "steps": 50})
        >>> estimate.on_epoch_begin(0)
        >>> estimate._start -= 30  # as if: 20 s to trace, 49 steady steps in 9.8 s, validation 0.2 s
        >>> estimate.on_train_batch_end(0); estimate._first -= 10; estimate._last = estimate._first + 9.8
        >>> estimate.on_epoch_end(0)
        >>> said[0][:90]
        'Estimated: about 13 min for up to 72 epochs (30 s for the first, then about 10 s each); ea'
    """

    def __init__(self, say, end_epoch, later_epochs=0, steps=ESTIMATE_STEPS):
        super().__init__()
        self.say, self.end_epoch, self.later_epochs, self.steps = say, end_epoch, later_epochs, steps
        self.epochs_left, self.done, self._first = None, False, None

    def on_epoch_begin(self, epoch, logs=None):
        if self.epochs_left is None:
            self.epochs_left = self.end_epoch - epoch + self.later_epochs
        self._start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        if self.done:
            return
        now = time.monotonic()
        if self._first is None:
            self._first, self._first_batch = now, batch
        self._last = now
        total = self.params.get("steps") or 0
        timed = batch - self._first_batch
        if timed == self.steps and total >= 2 * self.steps:
            epoch_seconds = (now - self._first) / timed * total
            self._say(self.epochs_left * epoch_seconds, f"{duration(epoch_seconds)} an epoch, from {timed} steps")

    def on_epoch_end(self, epoch, logs=None):
        if self.done or self._first is None:
            return
        seconds = time.monotonic() - self._start
        total = self.params.get("steps") or 0
        steady = seconds
        if total > 1 and self._last > self._first:  # the steady steps, scaled to the epoch, plus validation
            steady = (self._last - self._first) / (total - 1) * total + (time.monotonic() - self._last)
        basis = f"{duration(seconds).removeprefix('about ')} for the first, then {duration(steady)} each"
        self._say(seconds + (self.epochs_left - 1) * steady, basis)

    def _say(self, total_seconds, basis):
        self.done = True
        if self.epochs_left > 1:
            self.say(
                f"Estimated: {duration(total_seconds)} for up to {self.epochs_left} epochs ({basis}); early "
                "stopping may end it sooner."
            )


class ProgressLines(keras.callbacks.Callback):
    """A line every `PROGRESS_SECONDS` inside an epoch, for output that is not a terminal.

    Keras' `verbose=2` (what a log file or a pipe gets) prints one line when an epoch ends, so a long
    epoch on a big folder is minutes of silence; its progress bar (`verbose=1`) redraws one line
    with carriage returns, which a log file turns into noise. This prints plain lines between.

    Examples:
        >>> callback = ProgressLines(seconds=0)
        >>> callback.set_params({"epochs": 3, "steps": 40})
        >>> callback.on_epoch_begin(0)
        >>> callback.on_train_batch_end(9, {"loss": 0.51234, "accuracy": 0.8})
        epoch 1/3: step 10/40, loss 0.5123, accuracy 0.8000 (0 s into the epoch)
    """

    def __init__(self, seconds=None):
        super().__init__()
        self.seconds = PROGRESS_SECONDS if seconds is None else seconds

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._start = self._last = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        now = time.monotonic()
        if now - self._last < self.seconds:
            return
        self._last = now
        steps = self.params.get("steps") or "?"
        values = ", ".join(f"{k} {float(v):.4f}" for k, v in (logs or {}).items() if _is_scalar(v))
        print(
            f"epoch {self._epoch + 1}/{self.params.get('epochs', '?')}: step {batch + 1}/{steps}"
            + (f", {values}" if values else "")
            + f" ({now - self._start:.0f} s into the epoch)",
            flush=True,
        )


def _is_scalar(value):
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
