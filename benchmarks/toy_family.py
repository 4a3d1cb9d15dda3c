"""The toy family (tests/toolkit/toy_family, four files on the core's hooks) on scikit-learn's wine table.

The same 30 held-out rows as `tests/toolkit/test_new_family.py`; the toy trains with its defaults on the
other 148 (its own split holds out validation and test parts), gradient boosting on all 148.

    PYTHONPATH=. python benchmarks/toy_family.py
"""

import csv
import pathlib
import tempfile

import numpy as np
from sklearn.datasets import load_wine
from sklearn.ensemble import HistGradientBoostingClassifier

from tests.toolkit.toy_family import train_table_classifier

table = load_wine()
order = np.random.default_rng(0).permutation(len(table.target))
rows, labels = table.data[order], [table.target_names[i] for i in table.target[order]]
folder = pathlib.Path(tempfile.mkdtemp())
path = folder / "wine.csv"
with open(path, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow([*table.feature_names, "label"])
    writer.writerows([*row, label] for row, label in zip(rows[30:], labels[30:]))
majority = max(labels[:30].count(name) for name in set(labels[:30])) / 30
for seed in (0, 1, 2):
    clf = train_table_classifier(str(path), verbose=0, seed=seed, save_dir=str(folder / "runs"))
    held_out = clf.evaluate((rows[:30], labels[:30]))["accuracy"]
    boosted = (
        HistGradientBoostingClassifier(random_state=seed).fit(rows[30:], labels[30:]).score(rows[:30], labels[:30])
    )
    print(f"seed {seed}: toy {held_out:.4f}, gradient boosting {boosted:.4f}, majority {majority:.4f}")
