"""The from-scratch detector: a convolutional backbone (the built-in "centernet" one, any named image
backbone of the toolkit, or a KerasHub image backbone's feature pyramid), a feature pyramid back up to
1/4 resolution, and CenterNet's three heads (`centers`), sized to train on a CPU."""

import math

import keras

from tasks.image_segmentation import model as segmentation_models
from tasks.object_detection import centers
from toolkit import backbones as backbones_lib
from toolkit.backbones import BACKBONES
from toolkit.errors import ToolkitError


def _block(x, filters, stride, name):
    """Conv-BN-ReLU twice (the first may stride): a ResNet-style basic block without the shortcut's cost."""
    x = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv1")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn1")(x)
    x = keras.layers.ReLU(name=f"{name}_relu1")(x)
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn2")(x)
    return keras.layers.ReLU(name=f"{name}_relu2")(x)


@BACKBONES.register(
    "centernet",
    modality="detection",
    description="CenterNet-style: five strided conv stages giving feature maps at 1/4 to 1/32 (detection)",
)
def centernet(input_shape, width=16):
    """Five strided stages of two 3x3 convs (filters `width` doubling to 8x`width`); the model named
    "backbone" outputs the maps at 1/4, 1/8, 1/16 and 1/32 of the input, finest first.

    Examples:
        >>> [tuple(shape[1:]) for shape in centernet((64, 64, 3), width=8).output_shape]
        [(16, 16, 16), (8, 8, 32), (4, 4, 64), (2, 2, 64)]
    """
    inputs = keras.Input(input_shape)
    x = _block(inputs, width, 2, "stem")  # 1/2
    features = []
    for k in range(4):  # 1/4, 1/8, 1/16, 1/32
        x = _block(x, width * 2 ** min(k + 1, 3), 2, f"stage{k + 1}")
        features.append(x)
    return keras.Model(inputs, features, name="backbone")


def pyramid_levels(features, image_size):
    """The feature maps a center head is built on: those at 1/4 of the input or coarser, finest first
    (a backbone's full- and half-resolution maps would cost much and add little)."""
    grid = image_size // centers.STRIDE
    kept = [f for f in features if f.shape[1] is not None and f.shape[1] <= grid]
    return kept or [features[-1]]


def center_detector(image_size, num_classes, width=16, prior=0.1, backbone=None, scaling=None):
    """Images (batch, size, size, 3), pixels 0-255 -> {"heatmap" logits (batch, g, g, classes), "size",
    "offset" (batch, g, g, 2)}, g = size // 4.

    Args:
        image_size: the input side (a multiple of 32).
        num_classes: heatmap channels.
        width: filters of the built-in backbone's first stage, and the neck and heads have 2x`width`.
        prior: the heatmap's starting probability everywhere (RetinaNet's prior-probability bias), so
            the focal loss does not begin swamped by background.
        backbone: a model named "backbone" giving feature maps, finest first (see
            `tasks.image_segmentation.model.feature_pyramid`); None: `centernet`.
        scaling: the layer that scales 0-255 pixels for the backbone; None: to [0, 1].

    Examples:
        >>> model = center_detector(64, 3, width=8)
        >>> import numpy as np
        >>> out = model(np.zeros((1, 64, 64, 3), "float32"))
        >>> sorted((name, tuple(value.shape)) for name, value in out.items())
        [('heatmap', (1, 16, 16, 3)), ('offset', (1, 16, 16, 2)), ('size', (1, 16, 16, 2))]
    """
    inputs = keras.Input((image_size, image_size, 3), name="images")
    x = (scaling or keras.layers.Rescaling(1.0 / 255.0, name="rescale"))(inputs)
    if backbone is None:
        backbone = centernet((image_size, image_size, 3), width=width)
    features = keras.tree.flatten(backbone(x))
    features = pyramid_levels(sorted(features, key=lambda f: -(f.shape[1] or 0)), image_size)
    # Top-down: each level upsampled and added to the finer one (a feature pyramid), to the finest kept.
    neck = width * 2
    x = keras.layers.Conv2D(neck, 1, name=f"lateral{len(features)}")(features[-1])
    for k in reversed(range(len(features) - 1)):
        factor = features[k].shape[1] // x.shape[1]
        if factor * x.shape[1] == features[k].shape[1]:
            x = keras.layers.UpSampling2D(factor, interpolation="bilinear", name=f"up{k + 1}")(x)
        else:
            x = keras.layers.Resizing(*features[k].shape[1:3], name=f"up{k + 1}")(x)
        lateral = keras.layers.Conv2D(neck, 1, name=f"lateral{k + 1}")(features[k])
        x = keras.layers.Add(name=f"merge{k + 1}")([x, lateral])
        x = keras.layers.Conv2D(neck, 3, padding="same", activation="relu", name=f"smooth{k + 1}")(x)
    grid = image_size // centers.STRIDE
    if x.shape[1] != grid:  # a backbone whose finest kept map is coarser than 1/4
        x = keras.layers.Resizing(grid, grid, interpolation="bilinear", name="to_grid")(x)
        x = keras.layers.Conv2D(neck, 3, padding="same", activation="relu", name="smooth_grid")(x)

    def head(name, channels, bias=0.0, activation=None):
        h = keras.layers.Conv2D(neck, 3, padding="same", activation="relu", name=f"{name}_hidden")(x)
        return keras.layers.Conv2D(
            channels, 1, activation=activation, bias_initializer=keras.initializers.Constant(bias), name=name,
            dtype="float32",
        )(h)  # fmt: skip

    outputs = {
        "heatmap": head("heatmap", num_classes, bias=-math.log((1 - prior) / prior)),
        "size": head("size", 2, activation="softplus"),  # positive, and never stuck at 0 as a ReLU can be
        "offset": head("offset", 2),
    }
    return keras.Model(inputs, outputs, name="center_detector")


@keras.saving.register_keras_serializable(package="toolkit")
class CenterLoss(keras.losses.Loss):
    """One of `center_detector`'s losses: "heatmap" (CenterNet's focal loss), or "size" / "offset" (L1 at
    the centre cells, whose mask the target carries as its last channel; see `with_masks`), times `weight`.
    A registered class, not a closure, so a saved model loads with its compile state in safe mode."""

    def __init__(self, part="heatmap", weight=1.0, name=None, **kwargs):
        super().__init__(name=name or f"{part}_loss", **kwargs)
        self.part, self.weight = part, float(weight)

    def call(self, y_true, y_pred):
        if self.part == "heatmap":
            return self.weight * centers.heatmap_loss(y_true, y_pred)
        return self.weight * centers.masked_l1(y_true[..., :2], y_pred, y_true[..., 2:])

    def get_config(self):
        return {**super().get_config(), "part": self.part, "weight": self.weight}


def losses(size_weight=0.1):
    """Keras losses for `center_detector`'s outputs; "size" and "offset" targets carry the centre mask as
    their last channel (see `with_masks`). Sizes are in cells (up to 1/4 of the image side), so their L1
    is down-weighted as in CenterNet."""
    return {
        "heatmap": CenterLoss("heatmap"),
        "size": CenterLoss("size", size_weight),
        "offset": CenterLoss("offset"),
    }


def with_masks(targets):
    """`centers.encode`'s targets -> the model's: the mask appended to "size" and "offset"."""
    import tensorflow as tf

    return {
        "heatmap": targets["heatmap"],
        "size": tf.concat([targets["size"], targets["mask"]], axis=-1),
        "offset": tf.concat([targets["offset"], targets["mask"]], axis=-1),
    }


def build(backbone, image_size, num_classes, width, preset=False):
    """The detector on `backbone`: "centernet" (its own), a from-scratch image backbone name, a KerasHub
    preset with a feature pyramid (its own pixel scaling at this size), or a `keras.Model` of feature maps."""
    scaling, pyramid = None, None
    shape = (image_size, image_size, 3)
    if isinstance(backbone, keras.Model):
        pyramid = segmentation_models.feature_pyramid(backbones_lib.copy_model(backbone))
    elif backbone != "centernet" and backbone in backbones_lib.BACKBONES:
        encoder = backbones_lib.BACKBONES.get(backbone)(shape, width=width)
        pyramid = segmentation_models.feature_pyramid(encoder)
    elif preset:
        encoder = backbones_lib.load_preset(backbone, "backbone")
        if not getattr(encoder, "pyramid_outputs", None):
            raise ToolkitError(
                f"The preset {backbone!r} gives a {type(encoder).__name__}, which has no feature pyramid "
                "for the detection head.",
                expected="a KerasHub image backbone with pyramid outputs (ResNet, CSPDarkNet, MobileNet, ...) "
                "or a RetinaNet detector preset",
                fix="choose one of those presets (`toolkit list backbones --task object-detection`); D-FINE "
                "presets are whole transformer detectors whose own head this task does not train",
            )
        converter = backbones_lib.load_preset(backbone, "ImageConverter")
        if converter is not None:  # the preset's own pixel scaling, at this task's size
            scaling = type(converter).from_config({**converter.get_config(), "image_size": shape[:2]})
        pyramid = segmentation_models.feature_pyramid(encoder)
    return center_detector(image_size, num_classes, width, backbone=pyramid, scaling=scaling)


def pyramid_presets():
    """KerasHub presets whose backbone is a feature pyramid (a `FeaturePyramidBackbone`): RetinaNet
    detectors and the image backbones of those families (ResNet, CSPNet, DenseNet, EfficientNet, ...).
    D-FINE's are left out (its backbone is the whole transformer detector), as are ViT-like ones."""
    import keras_hub

    def families(kind):
        found = set()
        for sub in kind.__subclasses__():
            found.add(sub.__module__.split(".")[3])  # keras_hub.src.models.<family>.<file>
            found |= families(sub)
        return found

    pyramids = families(keras_hub.models.FeaturePyramidBackbone)
    presets = {**keras_hub.models.ObjectDetector.presets, **keras_hub.models.ImageClassifier.presets}
    return sorted(name for name, info in presets.items() if info["metadata"].get("path") in pyramids)
