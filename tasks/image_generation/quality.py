"""Sample-quality measures (KID, FID), the callbacks that follow them in training, and sample grids.

KID and FID are hand-written: the maintained implementations (torchmetrics,
torch-fidelity, clean-fid) need PyTorch and an Inception network downloaded
at run time. Both are short, and tested against cases computed by hand.
They are measured in the feature space of a classifier the task trains on the
same data, so they are comparable between runs on the same data and feature
classifier, not with Inception-based numbers in papers.
"""

import os
import pathlib
import warnings

import keras
import numpy as np

from toolkit.errors import ToolkitError


def kid(real, fake):
    """Kernel Inception Distance (Binkowski et al. 2018): the unbiased MMD^2 with the cubic polynomial kernel.

    Args:
        real, fake: feature arrays (n, d) and (m, d).

    Returns:
        A float; 0 in expectation when both come from one distribution (it can dip below 0).

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> same = kid(rng.normal(size=(500, 8)), rng.normal(size=(500, 8)))
        >>> shifted = kid(rng.normal(size=(500, 8)), rng.normal(1.0, size=(500, 8)))
        >>> abs(same) < 0.02 < shifted
        True
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    d = real.shape[1]

    def kernel(a, b):
        return (a @ b.T / d + 1.0) ** 3

    k_rr, k_ff, k_rf = kernel(real, real), kernel(fake, fake), kernel(real, fake)
    n, m = len(real), len(fake)
    return float(
        (k_rr.sum() - np.trace(k_rr)) / (n * (n - 1))
        + (k_ff.sum() - np.trace(k_ff)) / (m * (m - 1))
        - 2.0 * k_rf.mean()
    )


def fid(real, fake):
    """Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017).

    ||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2)).

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> a = rng.normal(size=(4000, 2))
        >>> round(fid(a, a + [3.0, 4.0]), 3)  # same covariance, means 5 apart: 5^2
        25.0
    """
    from scipy import linalg

    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    mu_r, mu_f = real.mean(0), fake.mean(0)
    cov_r, cov_f = np.atleast_2d(np.cov(real, rowvar=False)), np.atleast_2d(np.cov(fake, rowvar=False))
    with warnings.catch_warnings():
        # Features with dead units (a ReLU layer) make singular covariances; sqrtm's result is still right.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(cov_r @ cov_f)
    root = root.real if np.iscomplexobj(root) else root  # tiny imaginary parts from round-off
    return float(np.sum((mu_r - mu_f) ** 2) + np.trace(cov_r + cov_f - 2.0 * root))


def independent_pixels(images, likelihood="bernoulli"):
    """The trivial generative model's scores on `images` (0..255, (n, h, w, c)): every pixel on its own, with
    its mean over these very images (and, Gaussian, one shared scale fitted to them), no latent code.

    Scored on the images it was fitted to, so it is a slightly flattering baseline: a VAE or autoencoder that
    does not beat it has learned nothing about how pixels go together. Returns its negative ELBO in nats per
    image (a model without a latent has no KL term: its bound is its exact log-likelihood) and its
    reconstruction MSE on [0, 1] pixels (the mean image answered for every image).

    Examples:
        >>> flat = np.full((4, 2, 2, 1), 255.0)
        >>> independent_pixels(flat)["reconstruction_mse"], round(independent_pixels(flat)["negative_elbo"], 4)
        (0.0, 0.0)
    """
    x = np.asarray(images, np.float64) / 255.0
    mean = x.mean(axis=0)
    per_pixel = x[0].size
    if likelihood == "bernoulli":
        p = np.clip(mean, 1e-7, 1 - 1e-7)  # the same cross-entropy as the VAE's, on a fixed probability
        nll = -(x * np.log(p) + (1 - x) * np.log(1 - p)).reshape(len(x), -1).sum(axis=1)
    else:
        scale = max(float(np.sqrt(np.mean(np.square(x - mean)))), 1e-3)
        nll = np.full(len(x), per_pixel * (0.5 + np.log(scale) + 0.5 * np.log(2 * np.pi)))
    return {"negative_elbo": float(np.mean(nll)), "reconstruction_mse": float(np.mean(np.square(x - mean)))}


def shuffled_pixels(images, seed=0):
    """Samples of the same trivial model for KID / FID: each pixel drawn from its own values over `images`
    (every pixel position shuffled across the images on its own), so each pixel's distribution is right and
    how pixels go together is lost."""
    x = np.asarray(images)
    rng = np.random.default_rng(seed)
    flat = x.reshape(len(x), -1).copy()
    for j in range(flat.shape[1]):
        flat[:, j] = flat[rng.permutation(len(x)), j]
    return flat.reshape(x.shape)


def feature_model(classifier):
    """The classifier's penultimate layer ("features") as a model of images in [0, 1]."""
    return keras.Model(classifier.input, classifier.get_layer("features").output)


def write_grid(images, path, columns=None):
    """Writes uint8 images (N, H, W, C) as one PNG grid, each image enlarged to at least 32 px; returns the path.

    Examples:
        >>> import tempfile
        >>> path = write_grid(np.zeros((6, 8, 8, 1), np.uint8), pathlib.Path(tempfile.mkdtemp()) / "g.png", columns=3)
        >>> from PIL import Image
        >>> Image.open(path).size
        (104, 70)
    """
    from PIL import Image

    images = np.asarray(images)
    count, height, width, channels = images.shape
    columns = columns or int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    zoom = max(1, int(np.ceil(32 / max(height, width))))
    height, width = height * zoom, width * zoom
    gap = 2
    canvas = np.full((rows * (height + gap) + gap, columns * (width + gap) + gap, channels), 255, np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        big = np.kron(image, np.ones((zoom, zoom, 1), np.uint8))
        canvas[gap + r * (height + gap) : gap + r * (height + gap) + height, gap + c * (width + gap) :][:, :width] = big
    path = pathlib.Path(path)
    Image.fromarray(canvas[..., 0] if channels == 1 else canvas).save(path)
    return path


class KIDMonitor(keras.callbacks.Callback):
    """Adds `val_kid` to each epoch's logs: KID between the validation images and as many samples from fixed noise.

    It runs before the default callbacks, so early stopping, checkpoints and the
    tuner follow it like any validation metric.

    Args:
        measure: a function (model) -> KID of the model's samples now (from the task's fixed noise).
    """

    def __init__(self, measure):
        super().__init__()
        self.measure = measure

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["val_kid"] = self.measure(self.model)


class KLWarmup(keras.callbacks.Callback):
    """Raises the VAE's KL weight linearly to `beta` over `epochs` epochs (Bowman et al. 2016), from the epoch
    number, so a resumed run continues the ramp where it was.

    Examples:
        >>> class Fake: kl_weight = keras.Variable(1.0)
        >>> warmup = KLWarmup(beta=1.0, epochs=4); warmup._model = Fake()
        >>> warmup.on_epoch_begin(1); float(Fake.kl_weight.numpy())
        0.5
    """

    def __init__(self, beta, epochs):
        super().__init__()
        self.beta = beta
        self.epochs = epochs

    def on_epoch_begin(self, epoch, logs=None):
        ramp = min(1.0, (epoch + 1) / self.epochs) if self.epochs else 1.0
        self.model.kl_weight.assign(self.beta * ramp)


def collect(dataset, limit):
    """Up to `limit` images (float32) and their labels from a batched dataset."""
    images, labels, count = [], [], 0
    for x, y in dataset:
        images.append(x.numpy())
        labels.append(y.numpy())
        count += len(images[-1])
        if count >= limit:
            break
    return np.concatenate(images)[:limit], np.concatenate(labels)[:limit]


def call(model, inputs, batch_size=256):
    """`model` on `inputs` (an array, or a list of arrays) in batches, eagerly: called with new shapes and
    models every epoch, `predict` would retrace its function each time."""
    parts = inputs if isinstance(inputs, list) else [inputs]
    outputs = [
        keras.ops.convert_to_numpy(
            model(
                [p[i : i + batch_size] for p in parts] if len(parts) > 1 else parts[0][i : i + batch_size],
                training=False,
            )
        )
        for i in range(0, len(parts[0]), batch_size)
    ]
    return np.concatenate(outputs)


def reconstruction_mse(model, images):
    """Each image's mean squared error (pixels in [0, 1]) between it and the model's reconstruction."""
    x = images / 255.0
    return np.mean(np.square(model(images).numpy() / 255.0 - x.numpy()), axis=(1, 2, 3))


def to_uint8(images):
    """Pixels rounded and clipped to 0..255, as uint8."""
    return np.clip(np.round(np.asarray(images)), 0, 255).astype(np.uint8)


def compare_with_independent_pixels(part, scores, metric, task_name):
    """How a part's score (lower is better) compares with the independent-pixels model's on the same images
    (None without both); warns, with what to try, when the run did no better."""
    trivial = scores.get("independent_pixels_baseline") or {}
    if metric is None or scores.get(metric) is None or trivial.get(metric) is None:
        return None
    compared = {
        "part": part,
        "metric": metric,
        "value": scores[metric],
        "independent_pixels": trivial[metric],
        "better_than_baseline": bool(scores[metric] < trivial[metric]),
    }
    if compared["better_than_baseline"]:
        return compared
    compared["what_to_try"] = [
        "more epochs (--epochs) and more patience (--patience, --warmup-epochs)",
        f"the learning-rate finder (toolkit lr-find {task_name} --data ...)",
        "more images, or a smaller --image-size",
    ]
    warnings.warn(
        f"This run is no better than a model of independent pixels: {part} {metric} {compared['value']:.4f} "
        f"against {compared['independent_pixels']:.4f} (lower is better). Try: {'; '.join(compared['what_to_try'])}. "
        'Recorded in metrics.json under "baseline".',
        stacklevel=4,
    )
    return compared


def anomaly_metrics(normal, odd, threshold):
    """How anomaly scores separate anomalies (`odd`) from normal images: `roc_auc`, and at `threshold` (if
    any) `detection_rate` (anomalies flagged) and `false_alarm_rate` (normal images flagged).

    Examples:
        >>> anomaly_metrics(np.array([0.1, 0.2, 0.9]), np.array([0.8, 1.0]), threshold=0.5)
        {'roc_auc': 0.8333333333333334, 'detection_rate': 1.0, 'false_alarm_rate': 0.3333333333333333}
    """
    from sklearn.metrics import roc_auc_score

    truth = np.r_[np.zeros(len(normal)), np.ones(len(odd))]
    metrics = {"roc_auc": float(roc_auc_score(truth, np.r_[normal, odd]))}
    if threshold is not None:
        metrics["detection_rate"] = float(np.mean(odd > threshold))
        metrics["false_alarm_rate"] = float(np.mean(normal > threshold))
    return metrics


def check_new_grid(path, n):
    """An error when `path` exists (a user's file is never written over) or `n` is below 1."""
    if os.path.exists(path):
        raise ToolkitError(
            f"'{path}' exists already; it was left as it is.",
            expected="a new file name for the samples",
            fix="pass another --output (or move the file)",
        )
    if n < 1:
        raise ToolkitError(f"num_samples={n} is not valid.", expected="an integer >= 1", fix="pass --num-samples 16")


def sample_rows(sample, classes, seed, columns=8):
    """Rows of `columns` samples: one row a class (`sample(n, seed=, label=)`), or eight rows without classes."""
    if classes is None:
        return sample(8 * columns, seed=seed)
    return np.concatenate([sample(columns, seed=seed, label=name) for name in classes])
