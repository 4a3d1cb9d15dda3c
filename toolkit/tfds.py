"""TensorFlow Datasets by name (`"tfds:NAME[:SPLIT]"`), with a clear error when the download cannot happen."""

import socket
import sys

from toolkit.errors import ToolkitError


def load_tfds(spec, data_dir=None, as_supervised=True):
    """Loads ``"tfds:NAME[:SPLIT]"`` as an (input, label) dataset (or a dataset of feature dicts).

    Args:
        spec: ``"tfds:mnist"`` (split ``train``) or ``"tfds:mnist:test"``.
        data_dir: folder TFDS reads from and downloads into.
        as_supervised: (input, label) pairs; False gives dicts of all features.

    Returns:
        (dataset, label_names): a `tf.data.Dataset` of (input, label) pairs,
        and the label names TFDS knows (or None).

    Examples:
        >>> ds, names = load_tfds("tfds:mnist")  # doctest: +SKIP
    """
    import tensorflow_datasets as tfds

    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[1]:
        raise ToolkitError(
            f"Cannot read the TFDS dataset name {spec!r}.",
            expected="'tfds:NAME' or 'tfds:NAME:SPLIT', e.g. 'tfds:mnist' or 'tfds:mnist:test'",
            fix="write the dataset name after 'tfds:'",
        )
    name = parts[1]
    split = parts[2] if len(parts) == 3 else "train"
    fix = (
        f"on a machine with network access run `tfds build {name}` (or tfds.load once) and pass "
        "data_dir= pointing at that folder; check the name at https://www.tensorflow.org/datasets/catalog"
    )
    try:
        try:
            # Already prepared under data_dir: no network needed.
            dataset, info = tfds.load(
                name, split=split, data_dir=data_dir, as_supervised=as_supervised, with_info=True, download=False
            )
        except AssertionError:  # TFDS's "dataset not found in data_dir"
            if not _download_host_resolves():
                raise ToolkitError(
                    f"TFDS dataset {name!r} is not prepared under data_dir={data_dir!r} and the network is unreachable.",
                    expected="a TFDS dataset already prepared under data_dir, or network access to download it",
                    fix=fix,
                ) from None
            print(f"Downloading and preparing TFDS dataset {name!r}...", file=sys.stderr)
            dataset, info = tfds.load(name, split=split, data_dir=data_dir, as_supervised=as_supervised, with_info=True)
    except ToolkitError:
        raise
    except Exception as error:  # TFDS raises many types: network, missing files, bad names
        raise ToolkitError(
            f"Could not load TFDS dataset {name!r} (split {split!r}): {type(error).__name__}: {error}",
            expected="a TFDS dataset already prepared under data_dir, or network access to download it",
            fix=fix,
        ) from error
    label_names = None
    label_feature = info.features[info.supervised_keys[1]] if as_supervised and info.supervised_keys else None
    if label_feature is not None and hasattr(label_feature, "names"):
        label_names = list(label_feature.names)
    return dataset, label_names


def _download_host_resolves(host="storage.googleapis.com"):
    """Quick offline check before a TFDS download.

    TFDS retries failed downloads ten times with exponential backoff, so an
    offline machine would wait about three minutes for its error; a failed
    name lookup of TFDS's storage host tells the same in milliseconds.
    """

    try:
        socket.getaddrinfo(host, 443)
        return True
    except OSError:
        return False
