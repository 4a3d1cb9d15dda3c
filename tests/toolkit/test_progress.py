"""A time estimate before long work, kept in the run's log (issue "Defaults and messages a new user can trust",
part 4): after the first epoch (or the first steps of a long one), and after a search's first trial."""

import pathlib
import re

from tasks import ImageClassifier
from tasks.image_classification.data import digits
from toolkit import runs
from toolkit.progress import TimeEstimate


class Search(ImageClassifier):
    def search_space(self, hp):
        return {"learning_rate": hp.Float("learning_rate", 1e-3, 1e-1, sampling="log")}


def test_a_run_says_its_estimate_and_keeps_everything_it_said_in_its_log(tmp_path, capsys):
    x, y, _ = digits()
    task = Search(backbone="mlp", tune=True, max_trials=2, epochs=3, batch_size=32, verbose=2,
                  save_dir=str(tmp_path), patience=10)  # fmt: skip
    task.fit((x[:400], y[:400]))
    printed = capsys.readouterr().out
    log = (pathlib.Path(task.run_dir) / runs.LOG_FILE).read_text()
    said = [line[20:] for line in log.splitlines()]  # after the "YYYY-MM-DD HH:MM:SS " stamp
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", line) for line in log.splitlines())
    assert any(line.startswith("Tuning with random search: up to 2 trials of up to 3 epochs each") for line in said)
    trial = next(line for line in said if line.startswith("Trial 0 took"))
    assert re.search(r"^Trial 0 took \d+ s; estimated: about \d+ (s|min) for the 1 trials left", trial), trial
    estimate = next(line for line in said if line.startswith("Estimated: "))
    assert re.match(
        r"Estimated: about \d+ (s|min) for up to 3 epochs \(\d+ s for the first, then about \d+ s each\); early",
        estimate,
    ), estimate
    assert estimate in printed and trial in printed  # the console shows what the log keeps
    assert any(line.startswith("Image classification: 10 classes; 280 train / 40 validation") for line in said[:3])
    assert [line.split(":")[0] for line in said[-3:]] == ["Test", "Validation", "Saved to " + task.run_dir]


def test_a_long_epoch_is_estimated_from_its_steady_steps_and_a_resumed_run_from_where_it_goes_on():
    said = []
    estimate = TimeEstimate(said.append, end_epoch=10, later_epochs=4, steps=200)
    estimate.set_params({"epochs": 10, "steps": 1000})
    estimate.on_epoch_begin(6)  # resumed: epochs 6 to 9 of this phase are left, and 4 of the next
    estimate.on_train_batch_end(0)  # the first step (its tracing) is not timed
    estimate._first -= 60  # as if the next 200 steps took a minute: an epoch of 1,000 steps takes five
    for batch in range(1, 201):
        estimate.on_train_batch_end(batch)
    assert said == [
        "Estimated: about 40 min for up to 8 epochs (about 5 min an epoch, from 200 steps); "
        "early stopping may end it sooner."
    ]
    estimate.on_epoch_end(6)
    assert len(said) == 1  # said once


def test_a_short_epoch_waits_for_its_end_and_a_one_epoch_run_says_nothing():
    said = []
    short = TimeEstimate(said.append, end_epoch=1)
    short.set_params({"epochs": 1, "steps": 300})  # under twice 200 steps: the epoch's end decides
    short.on_epoch_begin(0)
    for batch in range(300):
        short.on_train_batch_end(batch)
    short.on_epoch_end(0)
    assert said == []  # nothing left to estimate
