"""Keeps TensorFlow's start-up log noise out of the user's terminal.

Imported first by ``toolkit/__init__.py``, before anything imports TensorFlow,
which it imports quietly, except in a `toolkit ... --help` or `toolkit list` process: those are
answered from `toolkit/cli_catalog.json` without TensorFlow (seconds saved).
"""

import os
import sys

# Keras picks its backend at import time; the toolkit's data pipelines are
# tf.data, so TensorFlow is the backend unless the user chose otherwise.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def import_tensorflow_quietly():
    """Imports TensorFlow with file descriptor 2 pointed at /dev/null.

    TensorFlow's C++ start-up messages ("Could not find cuda drivers", CPU
    feature notes) are written straight to file descriptor 2 before
    ``TF_CPP_MIN_LOG_LEVEL`` or absl settings take effect, so no logging
    setting can hide them; redirecting the descriptor for the import is the
    only way. Python exceptions raised by the import still propagate.
    """
    if "tensorflow" in sys.modules:
        return
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (some embedded interpreters)
        import tensorflow  # noqa: F401

        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)


def answering_from_catalog(argv=None):
    """True in a `toolkit` command process that asks for --help or a listing (`toolkit list`): all it needs
    is the shipped catalog. `toolkit list backbones --task T` also lists the installed KerasHub's presets,
    which imports TensorFlow when it gets there.

    Examples:
        >>> answering_from_catalog(["/venv/bin/toolkit", "train", "image-classification", "--help"])
        True
        >>> answering_from_catalog(["/venv/bin/toolkit", "list"]), answering_from_catalog(["train.py", "--help"])
        (True, False)
        >>> answering_from_catalog(["/venv/bin/toolkit", "train", "image-classification"])
        False
    """
    argv = sys.argv if argv is None else argv
    if not argv or os.path.basename(str(argv[0])) not in ("toolkit", "toolkit.exe"):
        return False
    return argv[1:2] == ["list"] or any(arg in ("-h", "--help") for arg in argv[1:])


if not answering_from_catalog():
    import_tensorflow_quietly()
