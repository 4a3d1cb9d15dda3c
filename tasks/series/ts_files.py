"""UCR / UEA `.ts` files (the sktime / aeon format of the time-series classification archives).

Written by hand: the maintained readers (sktime's and aeon's `load_from_tsfile`) come with packages of
hundreds of megabytes (numba, their estimators) for a format this small: `#` comment lines, `@` header
lines (`@problemName`, `@univariate`, `@dimensions`, `@equalLength`, `@seriesLength`, `@classLabel true
<labels>`, `@missing`, `@timeStamps`), then `@data` and one case a line: each dimension's values
comma-separated, dimensions separated by `:`, the label last; `?` is a missing value.
"""

import numpy as np

from toolkit import readers
from toolkit.errors import ToolkitError


def read_ts(path):
    """(series (cases, length, dimensions) float32 with NaN for missing values and past a shorter case's end,
    labels (strings), the header's class labels) of a `.ts` file.

    Examples:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "toy.ts"
        >>> _ = path.write_text("@problemName toy\\n@univariate false\\n@dimensions 2\\n@equalLength false\\n"
        ...                     "@classLabel true a b\\n@data\\n1,2,3:4,5,6:a\\n7,?:8,9:b\\n")
        >>> series, labels, classes = read_ts(path)
        >>> series.shape, labels, classes
        ((2, 3, 2), ['a', 'b'], ['a', 'b'])
        >>> series[1, :, 0].tolist()
        [7.0, nan, nan]
    """
    text = readers.read_text(path, ".ts files")
    header, cases, in_data = {}, [], False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise _error(path, number, f"a line before @data that is not a header: {line[:60]!r}")
            key, _, value = line[1:].partition(" ")
            key = key.lower()
            if key == "data":
                in_data = True
            else:
                header[key] = value.strip()
            continue
        cases.append((number, line))
    if not in_data:
        raise _error(path, 1, "no @data line: the file has no cases")
    classes = _class_labels(header, path)
    if not cases:
        raise _error(path, 1, "no cases after @data")
    dimensions = int(header.get("dimensions", 1) or 1)
    rows, labels = [], []
    for number, line in cases:
        parts = line.split(":")
        if classes is not None:
            labels.append(parts[-1].strip())
            parts = parts[:-1]
        if len(parts) != dimensions:
            raise _error(path, number, f"{len(parts)} dimension(s) where the header declares {dimensions}")
        try:
            rows.append([[np.nan if v.strip() == "?" else float(v) for v in part.split(",")] for part in parts])
        except ValueError as error:
            raise _error(path, number, f"a value that is not a number ({error})") from None
    if classes is not None:
        unknown = sorted(set(labels) - set(classes))
        if unknown:
            raise _error(path, cases[0][0], f"labels {unknown[:5]} that @classLabel does not declare ({classes})")
    length = max(len(values) for case in rows for values in case)
    series = np.full((len(rows), length, dimensions), np.nan, np.float32)
    for i, case in enumerate(rows):
        for d, values in enumerate(case):
            series[i, : len(values), d] = values
    return series, labels, classes


def _class_labels(header, path):
    declared = header.get("classlabel")
    if declared is None:
        raise _error(path, 1, "no @classLabel line in the header")
    words = declared.split()
    if not words or words[0].lower() not in ("true", "false"):
        raise _error(path, 1, f"@classLabel {declared!r}: it must start with true or false")
    if words[0].lower() == "false":
        return None
    if len(words) < 2:
        raise _error(path, 1, "@classLabel true names no labels")
    return words[1:]


def _error(path, line, found):
    return ToolkitError(
        f"'{path}' line {line}: {found}.",
        expected="a UCR / UEA .ts file: @ header lines (@problemName, @dimensions, @classLabel true <labels>, ...), "
        "@data, then one case a line (values comma-separated, dimensions separated by ':', the label last)",
        fix="check the file against its archive's original (timeseriesclassification.com)",
    )
