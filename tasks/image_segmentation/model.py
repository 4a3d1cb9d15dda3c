"""Segmentation networks: U-Net from scratch, encoder-decoders over named image backbones, the loss."""

import keras

from toolkit import backbones as backbones_lib
from toolkit import images as images_lib
from toolkit.backbones import BACKBONES, BATCH_NORM_MOMENTUM

LOSSES = ("cross_entropy", "dice", "cross_entropy+dice")


def _conv_block(x, filters, batch_norm=True, dropout=0.0):
    for _ in range(2):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm)(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM)(x)
        x = keras.layers.Activation("relu")(x)
    return keras.layers.Dropout(dropout)(x) if dropout else x


@BACKBONES.register("unet", modality="segmentation", description="U-Net (Ronneberger et al. 2015), configurable")
def unet(input_shape, width=32, depth=4, batch_norm=True, dropout=0.0):
    """U-Net: `depth` down-sampling stages doubling `width`, then up-sampling with skip connections.

    Returns a model named "backbone" mapping images to full-resolution
    features (`width` channels); the task adds the per-pixel classifier.
    Height and width must divide by 2**depth.

    Examples:
        >>> unet((64, 64, 1), width=8, depth=3).output_shape
        (None, 64, 64, 8)
    """
    inputs = keras.Input(input_shape)
    skips, x = [], inputs
    for level in range(depth):
        x = _conv_block(x, width * 2**level, batch_norm)
        skips.append(x)
        x = keras.layers.MaxPooling2D()(x)
    x = _conv_block(x, width * 2**depth, batch_norm, dropout)
    for level in reversed(range(depth)):
        x = keras.layers.Conv2DTranspose(width * 2**level, 2, strides=2, padding="same")(x)
        x = keras.layers.Concatenate()([skips[level], x])
        x = _conv_block(x, width * 2**level, batch_norm)
    return keras.Model(inputs, x, name="backbone")


def feature_pyramid(encoder):
    """A model named "backbone" giving the encoder's feature maps at each resolution, finest first.

    KerasHub backbones list theirs (`pyramid_outputs`); for any other
    functional model the last layer output at each spatial size is taken.

    Examples:
        >>> from toolkit.image_backbones import vgg
        >>> [tuple(s[1:3]) for s in feature_pyramid(vgg((32, 32, 3), width=8)).output_shape]
        [(32, 32), (16, 16), (8, 8), (4, 4)]
    """
    if getattr(encoder, "pyramid_outputs", None):
        outputs = list(encoder.pyramid_outputs.values())
    else:
        by_size = {}
        for layer in encoder.layers[1:]:
            for node_output in keras.tree.flatten(layer.output):
                if len(node_output.shape) == 4:
                    by_size[tuple(node_output.shape[1:3])] = node_output
        outputs = list(by_size.values())
    outputs = sorted(outputs, key=lambda t: -(t.shape[1] or 0))
    return keras.Model(encoder.inputs, outputs, name="backbone")


def pyramid_decoder(features, input_size, width=32):
    """U-Net-style decoder over encoder features (finest first): upsample, join the skip, two convs.

    Examples:
        >>> from toolkit.image_backbones import vgg
        >>> pyramid = feature_pyramid(vgg((32, 32, 3), width=8))
        >>> x = keras.Input((32, 32, 3))
        >>> pyramid_decoder(pyramid(x), (32, 32), width=8).shape
        (None, 32, 32, 8)
    """
    features = list(features)
    x = features[-1]
    for level, skip in reversed(list(enumerate(features[:-1]))):
        factor = (skip.shape[1] // x.shape[1], skip.shape[2] // x.shape[2])
        x = keras.layers.UpSampling2D(factor, interpolation="bilinear")(x)
        x = keras.layers.Concatenate()([skip, x])
        x = _conv_block(x, width * 2 ** min(level, 3))
    return upsample_to(x, input_size, width)


def upsample_to(x, input_size, width):
    """Bilinear upsampling of a feature map to the input size, then a conv block to smooth it.

    Examples:
        >>> upsample_to(keras.Input((8, 8, 4)), (32, 32), width=4).shape
        (None, 32, 32, 4)
    """
    if tuple(x.shape[1:3]) != tuple(input_size):
        factor = (input_size[0] // x.shape[1], input_size[1] // x.shape[2])
        if factor[0] * x.shape[1] == input_size[0] and factor[1] * x.shape[2] == input_size[1]:
            x = keras.layers.UpSampling2D(factor, interpolation="bilinear")(x)
        else:
            x = keras.layers.Resizing(*input_size, interpolation="bilinear")(x)
        x = _conv_block(x, width)
    return x


@keras.saving.register_keras_serializable(package="toolkit")
class SegmentationLoss(keras.losses.Loss):
    """Per-pixel cross-entropy, soft Dice (averaged over classes), or their sum.

    Dice is `keras.losses.dice` on one-hot truth against predicted
    probabilities, per image and class (axes 1, 2), then averaged: each class
    counts equally, however few its pixels.

    Examples:
        >>> import numpy as np
        >>> truth = np.array([[[0, 1], [1, 1]]])
        >>> perfect = np.eye(2)[truth]
        >>> round(float(SegmentationLoss("dice")(truth, perfect)), 4)
        0.0
    """

    def __init__(self, kind="cross_entropy+dice", name="segmentation_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.kind = kind

    def call(self, y_true, y_pred):
        y_true = keras.ops.cast(y_true, "int32")
        loss = 0.0
        if "cross_entropy" in self.kind:
            per_pixel = keras.losses.sparse_categorical_crossentropy(y_true, y_pred)
            loss = loss + keras.ops.mean(per_pixel, axis=(1, 2))
        if "dice" in self.kind:
            one_hot = keras.ops.one_hot(y_true, keras.ops.shape(y_pred)[-1], dtype=y_pred.dtype)
            loss = loss + keras.ops.mean(keras.losses.dice(one_hot, y_pred, axis=(1, 2)), axis=-1)
        return loss

    def get_config(self):
        return {**super().get_config(), "kind": self.kind}


def build(backbone, image_size, channels, num_classes, *, width, depth, batch_norm, dropout, input_scaling="unit",
          converter=None):  # fmt: skip
    """The segmenter: raw images of any size -> per-pixel class probabilities at `image_size`.

    Args:
        backbone: "unet", a from-scratch image backbone name or a preset (the encoder of a pyramid
            decoder; a segmenter preset's single feature map is upsampled), or a `keras.Model` encoder.
        converter: a preset's image converter (used instead of `input_scaling`), or None.
    """
    height, width_px = image_size
    inputs = keras.Input((None, None, channels), name="image")
    x = keras.layers.Resizing(height, width_px, name="resize")(inputs)
    if converter is not None:
        x = type(converter).from_config({**converter.get_config(), "image_size": (height, width_px)})(x)
    else:
        x = images_lib.scaling_layer(input_scaling or "unit")(x)
    features = _features(backbone, x, (height, width_px, channels), width, depth, batch_norm, dropout)
    outputs = keras.layers.Conv2D(num_classes, 1, activation="softmax", name="classes", dtype="float32")(features)
    return keras.Model(inputs, outputs, name="image_segmenter")


def _features(backbone, x, input_shape, width, depth, batch_norm, dropout):
    """Full-resolution features from the chosen backbone (a sub-model named "backbone")."""
    if backbone == "unet":
        return unet(input_shape, width, depth, batch_norm, dropout)(x)
    if isinstance(backbone, keras.Model):
        encoder = backbones_lib.copy_model(backbone)
    elif backbone in BACKBONES:
        encoder = BACKBONES.get(backbone)(input_shape, width=width)
    else:
        encoder = backbones_lib.load_preset(backbone, "backbone", name="backbone")
        if not getattr(encoder, "pyramid_outputs", None):
            # A segmenter's backbone (DeepLabV3, SegFormer): one feature map, upsampled to the input.
            return upsample_to(encoder(x), input_shape[:2], width)
    return pyramid_decoder(feature_pyramid(encoder)(x), input_shape[:2], width)
