"""Named backbones: from-scratch architectures and KerasHub presets.

A from-scratch builder returns a `keras.Model` named "backbone" that maps inputs to features (a feature
map or a vector); the task adds its head. Builders of one modality share one call signature
(`SIGNATURES`: what they take first, then their own sizes by keyword), checked as each registers, so a
task calls any backbone of its modality the same way. Pretrained backbones are KerasHub presets, loaded
with the real `from_preset`: a built-in preset name, a Kaggle / Hugging Face handle, or a local preset folder.
"""

import inspect
import os

import keras

from toolkit import hf_checkpoints
from toolkit.errors import ToolkitError
from toolkit.registry import Registry

# Per modality: the arguments every builder takes first, in this order (a tuple of names), or, for image
# generation's pairs of networks, the attributes every entry has.
SIGNATURES = {
    "image": ("input_shape", "width"),
    "segmentation": ("input_shape", "width"),
    "detection": ("input_shape", "width"),
    "audio": ("input_shape", "width"),
    "speech-recognition": ("input_shape", "width"),
    "text": ("vocabulary_size", "sequence_length", "width"),
    "text-generation": ("vocabulary_size", "sequence_length", "width"),
    "text-to-text": ("vocabulary_size", "sequence_length", "width"),
    "table": ("num_numeric", "cardinalities", "width"),
    "series": ("input_shape", "width"),
    "forecast": ("input_shape", "width"),
    "generative": {"features", "image", "divisor"},
}


def check_signature(name, builder, metadata):
    """Raises a ValueError unless `builder` takes its modality's arguments first (`SIGNATURES`).

    Examples:
        >>> def wide(input_shape, width=8): ...
        >>> check_signature("wide", wide, {"modality": "image"})
        >>> def odd(width, input_shape): ...
        >>> check_signature("odd", odd, {"modality": "image"})
        Traceback (most recent call last):
        ...
        ValueError: backbone 'odd' (modality 'image') must take (input_shape, width, ...); it takes (width, input_shape)
    """
    modality = metadata.get("modality")
    if modality not in SIGNATURES:
        raise ValueError(f"backbone {name!r} names modality {modality!r}; declared: {', '.join(SIGNATURES)}")
    wanted = SIGNATURES[modality]
    if isinstance(wanted, set):
        missing = sorted(a for a in wanted if not hasattr(builder, a))
        if missing:
            raise ValueError(f"backbone {name!r} (modality {modality!r}) lacks {', '.join(missing)}")
        return
    takes = tuple(inspect.signature(builder).parameters)
    if takes[: len(wanted)] != wanted:
        raise ValueError(
            f"backbone {name!r} (modality {modality!r}) must take ({', '.join(wanted)}, ...); "
            f"it takes ({', '.join(takes)})"
        )


BACKBONES = Registry("backbone", check=check_signature)

# Keras' default BatchNorm momentum (0.99) needs thousands of steps before the
# moving statistics used at inference are right; small datasets train for a
# few hundred, so validation scores stay at chance. 0.9 converges in ~50 steps.
BATCH_NORM_MOMENTUM = 0.9


def is_preset(name):
    """True for a KerasHub preset name, a hub handle (kaggle://, hf://) or a local preset folder.

    Examples:
        >>> is_preset("resnet_18_imagenet"), is_preset("hf://google/vit-base"), is_preset("vgg")
        (True, True, False)
    """
    if not isinstance(name, str):
        return False
    if "://" in name or os.path.isdir(name):
        return True
    import keras_hub

    return name in keras_hub.models.Backbone.presets


def keras_hub_presets(task_class_name):
    """Built-in KerasHub preset names for a KerasHub task class ("ImageClassifier").

    Examples:
        >>> "resnet_18_imagenet" in keras_hub_presets("ImageClassifier")
        True
    """
    import keras_hub

    return sorted(getattr(keras_hub.models, task_class_name).presets)


def load_preset(preset, component="backbone", **kwargs):
    """Loads a KerasHub backbone (or preprocessing layer) through `from_preset`.

    Args:
        preset: built-in preset name, hub handle or local preset folder.
        component: "backbone", or a `keras_hub.models` or `keras_hub.layers`
            class name such as "TextClassifierPreprocessor" or "ImageConverter".
            A preset folder that lacks the component's file returns None for
            it, so the task can use its own preprocessing.
        **kwargs: passed to `from_preset` (e.g. `name=`, `sequence_length=`).

    Returns:
        The loaded object, or None for a missing optional component.

    Examples:
        >>> load_preset("resnet_18_imagenet")  # doctest: +SKIP
        <ResNetBackbone name=res_net_backbone, built=True>
        >>> import tempfile
        >>> load_preset(tempfile.mkstemp(suffix=".weights.h5")[1])
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: Preset path '...weights.h5' is a file.
        ...
    """
    import keras_hub

    if os.path.exists(str(preset)) and not os.path.isdir(preset):
        raise ToolkitError(
            f"Preset path '{preset}' is a file.",
            expected="a preset folder holding config.json (written by save_to_preset, or a Hugging Face model folder)",
            fix="pass the folder that contains config.json",
        )
    if component == "backbone":
        loader = keras_hub.models.Backbone
    else:
        loader = getattr(keras_hub.models, component, None) or getattr(keras_hub.layers, component)
    _check_hub_reachable(preset)
    try:
        if component == "backbone" and hf_checkpoints.is_hf_folder(preset):  # task checkpoints too
            return hf_checkpoints.load_backbone(lambda path: loader.from_preset(path, **kwargs), preset)
        return loader.from_preset(preset, **kwargs)
    except ToolkitError:
        raise
    except FileNotFoundError:
        if component == "backbone":
            raise
        return None
    except OSError as error:  # requests' ConnectionError is an OSError
        raise _offline_error(preset, f"{type(error).__name__}: {str(error)[:300]}") from error
    except ValueError as error:
        raise ToolkitError(
            f"{preset!r} is not a loadable KerasHub preset: {str(error)[:300]}",
            expected="a KerasHub preset name, a kaggle:// or hf:// handle, or a folder with config.json",
            fix="see `toolkit list backbones` for names",
        ) from error


def _offline_error(preset, why):
    return ToolkitError(
        f"Could not download KerasHub preset {preset!r}: {why}",
        expected="network access to the model hub, or a local preset folder",
        fix=(
            "on a machine with network access load it once (KerasHub caches it) or save it with "
            "`keras_hub.models.Backbone.from_preset(name).save_to_preset(folder)`; for an hf:// handle, "
            "`huggingface-cli download <repo> --local-dir <folder>` gives a Hugging Face folder; "
            "then pass backbone=<that folder>"
        ),
    )


def _check_hub_reachable(preset):
    """A clear offline error at once for an hf:// handle whose hub cannot be reached and which is not cached.

    Written by hand: KerasHub retries such a download for about 25 seconds and then reports the handle as
    having "no config.json", which reads like a wrong name; a name lookup of the hub's host says in
    milliseconds whether there is a network at all.
    """
    if not (isinstance(preset, str) and preset.startswith("hf://")):
        return
    from huggingface_hub import try_to_load_from_cache

    repo = preset[len("hf://") :].strip("/")
    if isinstance(try_to_load_from_cache(repo, "config.json"), str):
        return  # cached: the hub library reads it from there
    import socket

    try:
        socket.getaddrinfo("huggingface.co", 443)
    except OSError as error:
        raise _offline_error(preset, f"huggingface.co cannot be reached ({error}); nothing is cached.") from None


def unknown_backbone_error(name, accepted, task_name, presets=True):
    """The error for a backbone this task does not take; `accepted` lists its from-scratch names.

    Examples:
        >>> print(unknown_backbone_error("vgg99", ["lenet", "vgg"], "image-classification"))
        Unknown backbone 'vgg99'.
        Expected: a from-scratch backbone (lenet, vgg), a KerasHub preset name, a local preset folder, or a keras.Model
        Fix: run `toolkit list backbones --task image-classification` to see the names
    """
    pretrained = "a KerasHub preset name, a local preset folder, or a keras.Model" if presets else "or a keras.Model"
    return ToolkitError(
        f"Unknown backbone {name!r}.",
        expected=f"a from-scratch backbone ({', '.join(accepted)}), {pretrained}",
        fix=f"run `toolkit list backbones --task {task_name}` to see the names",
    )


def copy_model(model):
    """A copy of a user's `keras.Model` with the same architecture and weights.

    A task trains the copy, never the user's object (scikit-learn's `clone`
    rule): fitting twice, or two tuning trials, start from the same weights,
    and one task's training never changes another's model.

    Examples:
        >>> user = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        >>> copy = copy_model(user)
        >>> copy is user, all((a == b).all() for a, b in zip(copy.get_weights(), user.get_weights()))
        (False, True)
    """
    try:
        copy = keras.models.clone_model(model)
    except Exception as error:  # subclassed models without get_config / from_config cannot be rebuilt
        raise ToolkitError(
            f"The backbone model {model.name!r} cannot be copied: {type(error).__name__}: {str(error)[:200]}",
            expected="a functional or Sequential keras.Model, or a subclassed one with get_config / from_config",
            fix="build the backbone with the functional API, or implement get_config on your model class",
        ) from error
    copy.set_weights(model.get_weights())
    return copy


class BackboneChoice:
    """What a task's `backbone` argument names: a from-scratch architecture this task takes (its
    `backbone_filters`), a KerasHub preset (`keras_hub_task`), or a `keras.Model`. Mixed into `Task`."""

    backbone_filters = ()
    keras_hub_task = None

    @classmethod
    def accepted_backbones(cls):
        """Names of the registered from-scratch backbones this task takes.

        Examples:
            >>> from tasks import ImageSegmenter
            >>> "unet" in ImageSegmenter.accepted_backbones(), "mlp" in ImageSegmenter.accepted_backbones()
            (True, False)
        """
        from toolkit.backbones import BACKBONES

        return sorted({name for filters in cls.backbone_filters for name in BACKBONES.available(**filters)})

    @classmethod
    def keras_hub_presets(cls):
        """Names of built-in KerasHub presets this task can fine-tune."""
        from toolkit.backbones import keras_hub_presets

        return keras_hub_presets(cls.keras_hub_task) if cls.keras_hub_task else []

    def _check_backbone(self):
        """A `keras.Model`, a from-scratch name this task takes, or (tasks with KerasHub presets) a preset."""
        from toolkit import backbones

        backbone = self._chosen_backbone()
        if isinstance(backbone, keras.Model) or backbone in self.accepted_backbones():
            return
        if self.keras_hub_task and backbones.is_preset(backbone):
            return
        raise backbones.unknown_backbone_error(
            backbone, self.accepted_backbones(), self.task_name, presets=bool(self.keras_hub_task)
        )

    def _chosen_backbone(self):
        """The backbone this fit uses: `backbone`, or what a task resolves a default "auto" to."""
        return getattr(self, "backbone", None)

    def _uses_preset(self):
        """True when the backbone names a KerasHub preset (a name, hub handle or folder)."""
        from toolkit import backbones

        backbone = self._chosen_backbone()
        return isinstance(backbone, str) and backbone not in backbones.BACKBONES and backbones.is_preset(backbone)

    def _pretrained_backbone(self):
        """True when the backbone starts from trained weights: a KerasHub preset or a user's `keras.Model`."""
        return self._uses_preset() or isinstance(self._chosen_backbone(), keras.Model)
