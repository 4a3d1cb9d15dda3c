"""The learning-rate range test (Leslie Smith; fastai's `lr_find`).

Trains a fresh copy of the task's model for a short run while the learning
rate grows exponentially from `min_rate` to `max_rate`, one step per rate,
and records the loss. The loss first falls, flattens, then explodes; a good
rate sits well before the explosion. Keras has no range test, so this is
written here; it reuses the task's own data step, model and compile.
"""

import dataclasses
import math
import pathlib

import keras
import numpy as np

from toolkit import files, runs
from toolkit.errors import ToolkitError
from toolkit.finetune import Phase
from toolkit.trainer import Trainer

# Smoothing of the recorded losses (bias-corrected exponential moving average, as fastai).
_BETA = 0.9
# The test stops once the smoothed loss is this many times its minimum.
_DIVERGED = 4.0


@dataclasses.dataclass
class LearningRateFinding:
    """What `find_learning_rate` measured.

    Attributes:
        suggested: the suggested learning rate: a tenth of the rate at the smoothed
            loss's minimum (fastai's `lr_min`), a rate that still learns fast but is
            safely below where training diverges.
        steepest: the rate where the smoothed loss falls fastest (another common pick).
        learning_rates, losses: the curve (raw per-step losses; `smoothed` is what the pick uses).
        csv, plot: the files written (rate, loss, smoothed loss; the curve as a PNG).
    """

    suggested: float
    steepest: float
    learning_rates: list
    losses: list
    smoothed: list
    csv: str
    plot: str


def find_learning_rate(task, data=None, min_rate=1e-7, max_rate=1.0, steps=100):
    """Runs the range test for `task` on `data`; the task and any model it holds stay untouched.

    Args:
        task: a `toolkit.Task` (fitted or not; its arguments choose the model and recipe).
        data: training data in any form the task accepts; its built-in default when None.
        min_rate, max_rate: the range of learning rates to sweep.
        steps: training steps (one rate each); the data repeats if it has fewer batches.

    Returns:
        A `LearningRateFinding`; its files are in `<save_dir>/<task>/lr_find/<time>/`.

    Examples:
        >>> from tasks import ImageClassifier
        >>> finding = ImageClassifier(backbone="mlp", verbose=0, save_dir=tempfile.mkdtemp()).find_learning_rate()  # doctest: +SKIP
        >>> 1e-4 < finding.suggested < 1e-1  # doctest: +SKIP
        True
    """
    if not (0 < min_rate < max_rate) or steps < 5:
        raise ToolkitError(
            f"min_rate={min_rate}, max_rate={max_rate}, steps={steps} do not make a range test.",
            expected="0 < min_rate < max_rate and steps >= 5",
            fix="use the defaults (1e-7 to 1, 100 steps)",
        )
    task.check_params()
    runs.check_save_dir(task.save_dir)
    # A clone: the data step sets learned attributes (classes, sizes) that must not touch the user's task.
    probe = task.clone(learning_rate_schedule="constant", verbose=task.verbose)
    keras.utils.set_random_seed(task.seed)
    splits = probe.prepare_data(probe.default_data if data is None else data, None)
    spec = probe.training_spec(splits)
    trainer = Trainer(spec, run_dir=None)
    first = trainer.phases()[0]
    # The first phase's frozen parts stay frozen (with "freeze" the test tunes the head's rate);
    # one optimizer, so the rate can be set each step.
    trainer.prepare(Phase("range test", first.frozen, min_rate, 1, {}), steps)
    rates, losses = _sweep(spec.fit_model, spec.train, min_rate, max_rate, steps, task)
    smoothed = _smooth(losses)
    suggested, steepest = _suggest(rates, smoothed)
    folder = runs._new_timestamped_dir(pathlib.Path(task.save_dir) / runs.task_dir_name(task.task_name) / "lr_find")
    csv_path, plot_path = folder / "lr_find.csv", folder / "lr_find.png"
    files.write_csv(
        csv_path,
        [{"learning_rate": r, "loss": v, "smoothed_loss": s} for r, v, s in zip(rates, losses, smoothed)],
        ["learning_rate", "loss", "smoothed_loss"],
    )
    _plot(rates, losses, smoothed, suggested, plot_path, task.task_name)
    task.say(f"Suggested learning rate: {suggested:.2g} (curve: {plot_path})")
    return LearningRateFinding(suggested, steepest, rates, losses, smoothed, str(csv_path), str(plot_path))


def _sweep(model, dataset, min_rate, max_rate, steps, task):
    """One `train_on_batch` per rate (it returns that batch's loss, not an epoch's running mean)."""
    rates, losses = [], []
    progress = keras.utils.Progbar(steps, unit_name="step") if task.verbose else None
    best = math.inf
    while len(rates) < steps:
        batches = 0
        for batch in dataset:
            if len(rates) >= steps:
                break
            rate = min_rate * (max_rate / min_rate) ** (len(rates) / (steps - 1))
            model.optimizer.learning_rate = rate
            x, y = batch[0], batch[1] if len(batch) > 1 else None
            loss = float(model.train_on_batch(x, y, return_dict=True)["loss"])
            rates.append(rate)
            losses.append(loss)
            batches += 1
            if progress is not None:
                progress.update(len(rates), [("loss", loss)])
            smoothed = _smooth(losses)[-1]
            best = min(best, smoothed)
            if not math.isfinite(loss) or smoothed > _DIVERGED * best:
                return rates, losses
        if batches == 0:
            raise ToolkitError("The training data yielded no batches.", expected="training data", fix="check the data")
    return rates, losses


def _smooth(losses):
    average, out = 0.0, []
    for i, loss in enumerate(losses, start=1):
        loss = loss if math.isfinite(loss) else (out[-1] * 10 if out else 1e6)
        average = _BETA * average + (1 - _BETA) * loss
        out.append(average / (1 - _BETA**i))
    return out


def _suggest(rates, smoothed):
    """(a tenth of the rate at the minimum, the rate of steepest descent before the minimum).

    Examples:
        >>> rates = list(np.logspace(-5, 0, 11)); losses = [2.0, 2.0, 1.9, 1.5, 1.0, 0.6, 0.5, 0.6, 2.0, 9.0, 9.0]
        >>> [f"{r:.0e}" for r in _suggest(rates, losses)]
        ['1e-03', '3e-04']
    """
    smoothed = np.asarray(smoothed)
    lowest = int(np.argmin(smoothed))
    suggested = rates[lowest] / 10
    if lowest < 2:
        return suggested, rates[lowest]
    slopes = np.diff(smoothed[: lowest + 1]) / np.diff(np.log(rates[: lowest + 1]))
    return suggested, rates[int(np.argmin(slopes))]


def _plot(rates, losses, smoothed, suggested, path, task_name):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(rates, losses, color="0.75", linewidth=1, label="loss per step")
    axes.plot(rates, smoothed, color="C0", linewidth=2, label="smoothed")
    axes.axvline(suggested, color="C3", linestyle="--", label=f"suggested {suggested:.1e}")
    axes.set_xscale("log")
    finite = [v for v in smoothed if math.isfinite(v)]
    if finite:
        axes.set_ylim(min(finite) * 0.9, min(max(finite), min(finite) * _DIVERGED) * 1.1)
    axes.set_xlabel("learning rate")
    axes.set_ylabel("training loss")
    axes.set_title(f"Learning-rate range test: {task_name}")
    axes.legend()
    figure.tight_layout()
    tmp = files.temporary_path(path)
    figure.savefig(tmp, dpi=100, format="png")
    plt.close(figure)
    tmp.replace(path)
