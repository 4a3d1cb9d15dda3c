"""The image classifier's model: resize, augment, scale, a backbone, pooling and a softmax head.

Backbone-neutral Keras: a from-scratch backbone from the registry, a KerasHub preset (with its own
image converter) or a user's `keras.Model` (copied, never trained in place).
"""

import keras

from toolkit import backbones as backbones_lib
from toolkit import data as data_lib
from toolkit import images as images_lib

AUGMENTATIONS = {
    "flip": lambda seed: keras.layers.RandomFlip("horizontal", seed=seed, name="flip"),
    "rotation": lambda seed: keras.layers.RandomRotation(0.05, seed=seed, name="rotation"),
    "zoom": lambda seed: keras.layers.RandomZoom(0.1, seed=seed, name="zoom"),
    "translation": lambda seed: keras.layers.RandomTranslation(0.1, 0.1, seed=seed, name="translation"),
    "contrast": lambda seed: keras.layers.RandomContrast(0.2, seed=seed, name="contrast"),
}


def build(backbone, converter, image_size, channels, num_classes, augment, dropout, input_scaling, seed):
    """The classifier: raw images of any size in, class probabilities out (float32)."""
    height, width = image_size
    inputs = keras.Input((None, None, channels), name="image")
    x = keras.layers.Resizing(height, width, name="resize")(inputs)
    for name in augment:
        # One seed per layer: layers sharing a seed draw the same numbers, so their choices correlate.
        x = AUGMENTATIONS[name](data_lib.derived_seed(seed, f"augment/{name}"))(x)
    x = converter(x) if converter is not None else images_lib.scaling_layer(input_scaling)(x)
    features = backbone(x)
    if len(features.shape) == 4:
        features = keras.layers.GlobalAveragePooling2D()(features)
    elif len(features.shape) == 3:  # token sequences (ViT-style backbones)
        features = keras.layers.GlobalAveragePooling1D()(features)
    features = keras.layers.Dropout(dropout)(features)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classes", dtype="float32")(features)
    return keras.Model(inputs, outputs, name="image_classifier")


def backbone_and_converter(backbone, input_shape, width, input_scaling, say):
    """(backbone named "backbone", KerasHub image converter or None) for the `backbone` argument."""
    if isinstance(backbone, keras.Model):
        return keras.Sequential([backbones_lib.copy_model(backbone)], name="backbone"), None
    if backbone in backbones_lib.BACKBONES:
        return backbones_lib.BACKBONES.get(backbone, modality="image")(input_shape, width=width), None
    preset = backbones_lib.load_preset(backbone)
    converter = backbones_lib.load_preset(backbone, "ImageConverter")
    if converter is not None:
        # Same preprocessing as the preset, at the size this task trains at.
        converter = type(converter).from_config({**converter.get_config(), "image_size": tuple(input_shape[:2])})
    else:
        say(f"Preset {backbone!r} has no image_converter.json; scaling pixels with input_scaling={input_scaling!r}.")
    return keras.Sequential([preset], name="backbone"), converter
