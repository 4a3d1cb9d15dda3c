"""Keras toolkit: train, fine-tune and tune deep-learning models for real tasks in one line.

Examples:
    >>> from tasks import train_image_classifier  # doctest: +SKIP
    >>> clf = train_image_classifier("digits", epochs=5)  # doctest: +SKIP
    >>> import toolkit
    >>> same = toolkit.load(clf.run_dir)  # doctest: +SKIP
"""

from toolkit import _quiet  # must run before anything imports TensorFlow
from toolkit.errors import ToolkitError
from toolkit.registry import Registry

if not _quiet.answering_from_catalog():  # `toolkit --help` and `toolkit list` need none of this (cli_catalog.py)
    from toolkit import image_backbones, text_backbones  # noqa: F401  (register the image and text backbones)
    from toolkit.backbones import BACKBONES
    from toolkit.data import DATASETS
    from toolkit.finetune import STRATEGIES
    from toolkit.saving import TASKS, load
    from toolkit.task import Task

__version__ = "0.1.0"

__all__ = [
    "BACKBONES",
    "DATASETS",
    "STRATEGIES",
    "TASKS",
    "Registry",
    "Task",
    "ToolkitError",
    "load",
    "__version__",
]
