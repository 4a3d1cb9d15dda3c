"""From-scratch image backbones: an image (height, width, channels) -> a feature map or a vector.

Each builder takes the input shape and a width (the image modality's signature, `toolkit.backbones`)
and returns a `keras.Model` named "backbone"; the task adds its head.
"""

import math

import keras

from toolkit.backbones import BACKBONES, BATCH_NORM_MOMENTUM


def _downsamples(input_shape, wanted):
    """How many 2x poolings fit before the feature map drops below 4 pixels."""
    smallest = min(input_shape[0], input_shape[1])
    return max(0, min(wanted, int(math.log2(max(smallest, 1) / 4)) if smallest >= 8 else 0))


def _conv_bn(x, filters, kernel=3, strides=1, activation="relu"):
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM)(x)
    return keras.layers.Activation(activation)(x) if activation else x


@BACKBONES.register("mlp", modality="image", output="vector", description="multilayer perceptron on flattened pixels")
def mlp(input_shape, width=32):
    """Two dense layers of 8*width and 4*width units on the flattened image.

    Examples:
        >>> mlp((8, 8, 1), width=16).output_shape
        (None, 64)
    """
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(width * 8, activation="relu")(x)
    x = keras.layers.Dense(width * 4, activation="relu")(x)
    return keras.Model(inputs, x, name="backbone")


@BACKBONES.register(
    "lenet",
    modality="image",
    output="vector",
    convolutional=True,
    description="LeNet-5: two conv + pool stages, two dense layers",
)
def lenet(input_shape, width=32):
    """LeNet-5 (LeCun et al. 1998) with ReLU and same padding so small images fit.

    `width` scales the conv filters (16 gives the original 6 and 16).

    Examples:
        >>> lenet((28, 28, 1)).output_shape
        (None, 84)
    """
    inputs = keras.Input(input_shape)
    pools = _downsamples(input_shape, 2)
    x = inputs
    for stage, filters in enumerate((max(6 * width // 16, 4), max(width, 8))):
        x = keras.layers.Conv2D(filters, 5, padding="same", activation="relu")(x)
        if stage < pools:
            x = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(120, activation="relu")(x)
    x = keras.layers.Dense(84, activation="relu")(x)
    return keras.Model(inputs, x, name="backbone")


@BACKBONES.register(
    "vgg",
    modality="image",
    output="feature_map",
    convolutional=True,
    description="VGG-style: stages of two 3x3 convs and max pooling",
)
def vgg(input_shape, width=32, stages=3):
    """VGG-style stages (two 3x3 conv + BN + ReLU, then 2x max pool), doubling filters per stage.

    Examples:
        >>> vgg((32, 32, 3), width=8).output_shape
        (None, 4, 4, 32)
    """
    inputs = keras.Input(input_shape)
    pools = _downsamples(input_shape, stages)
    x = inputs
    for stage in range(stages):
        x = _conv_bn(x, width * 2**stage)
        x = _conv_bn(x, width * 2**stage)
        if stage < pools:
            x = keras.layers.MaxPooling2D()(x)
    return keras.Model(inputs, x, name="backbone")


@BACKBONES.register(
    "resnet",
    modality="image",
    output="feature_map",
    convolutional=True,
    description="ResNet-style: residual basic blocks, sized for small images",
)
def resnet(input_shape, width=32, stages=3, blocks_per_stage=2):
    """ResNet-style network (He et al. 2016) of basic residual blocks, CIFAR-sized stem.

    Examples:
        >>> resnet((32, 32, 3), width=8).output_shape
        (None, 8, 8, 32)
    """
    inputs = keras.Input(input_shape)
    downsamples = _downsamples(input_shape, stages - 1)
    x = _conv_bn(inputs, width)
    for stage in range(stages):
        filters = width * 2**stage
        for block in range(blocks_per_stage):
            strides = 2 if block == 0 and 0 < stage <= downsamples else 1
            shortcut = x
            y = _conv_bn(x, filters, strides=strides)
            y = _conv_bn(y, filters, activation=None)
            if strides != 1 or shortcut.shape[-1] != filters:
                if strides != 1:
                    # Subsample, then a 1x1 conv: the same function as a strided 1x1 conv, which TF 2.21's
                    # oneDNN CPU kernels crash on when training on inputs from 48 px (oneDNN issue 6035).
                    shortcut = keras.layers.MaxPooling2D(pool_size=1, strides=strides, padding="same")(shortcut)
                shortcut = _conv_bn(shortcut, filters, kernel=1, activation=None)
            x = keras.layers.Activation("relu")(keras.layers.Add()([shortcut, y]))
    return keras.Model(inputs, x, name="backbone")


@BACKBONES.register(
    "mobilenet",
    modality="image",
    output="feature_map",
    convolutional=True,
    description="MobileNetV2-style: inverted residuals with depthwise convs",
)
def mobilenet(input_shape, width=32, stages=3, expansion=4):
    """MobileNetV2-style network (Sandler et al. 2018): inverted residual blocks.

    Examples:
        >>> mobilenet((32, 32, 3), width=8).output_shape
        (None, 8, 8, 32)
    """
    inputs = keras.Input(input_shape)
    downsamples = _downsamples(input_shape, stages - 1)
    x = _conv_bn(inputs, width, activation="relu6")
    for stage in range(stages):
        filters = width * 2**stage
        for block in range(2):
            strides = 2 if block == 0 and 0 < stage <= downsamples else 1
            y = _conv_bn(x, x.shape[-1] * expansion, kernel=1, activation="relu6")
            y = keras.layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False)(y)
            y = keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM)(y)
            y = keras.layers.Activation("relu6")(y)
            y = _conv_bn(y, filters, kernel=1, activation=None)
            x = keras.layers.Add()([x, y]) if strides == 1 and x.shape[-1] == filters else y
    return keras.Model(inputs, x, name="backbone")
