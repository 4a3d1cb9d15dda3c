"""Reading image files into arrays, with errors that name the bad file: the one image decoder.

`decode_file` (TensorFlow's decoders for their formats, PIL for the rest) is what training's tf.data
pipelines, `predict` on files and the server's uploads (`decode_bytes`) all use, so a file gives the
same pixels everywhere. Shared by the image tasks (classification, segmentation, detection, generation).
"""

import os
import pathlib

import numpy as np

from toolkit.errors import ToolkitError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "F", "P;L")
# Formats TensorFlow decodes itself; others (TIFF) go through PIL inside tf.data.
_TF_DECODABLE_PATTERN = r".*\.(png|jpe?g|bmp|gif|webp)"
_TF_SIGNATURES = (b"\x89PNG", b"GIF8", b"RIFF")  # headers of files TensorFlow decodes (and JPEG, BMP)


def is_image_file(path):
    """True when the file name has an image extension (case-insensitive).

    Examples:
        >>> is_image_file("cat.JPG"), is_image_file("notes.txt")
        (True, False)
    """
    return str(path).lower().endswith(IMAGE_EXTENSIONS)


def peek(path):
    """Returns ((height, width), channels) from the file header, without decoding pixels.

    Examples:
        >>> import tempfile
        >>> from PIL import Image
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "grey.png"
        >>> Image.new("L", (40, 30)).save(path)
        >>> peek(path)
        ((30, 40), 1)
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
            grey = image.mode in _GREY_MODES or (image.mode == "P" and _palette_is_grey(image))
    except (OSError, ValueError) as error:
        raise _unreadable(path, error) from error
    return (height, width), 1 if grey else 3


def _palette_is_grey(image):
    palette = image.getpalette() or []
    triples = [palette[i : i + 3] for i in range(0, len(palette), 3)]
    return all(r == g == b for r, g, b in triples)


def _unreadable(path, error):
    if not os.path.exists(path):
        return ToolkitError(
            f"Image file '{path}' does not exist.",
            expected="a path to an existing image file",
            fix="check the path (relative paths are read from the current folder)",
        )
    return ToolkitError(
        f"Cannot read image file '{path}': {error}",
        expected=f"a readable image ({', '.join(e.lstrip('.') for e in IMAGE_EXTENSIONS)})",
        fix="remove or replace that file; nothing in the folder was changed",
    )


def read_pixels(path, channels):
    """One file's pixels at its own size, uint8 (height, width, channels), decoded as training decodes
    them (`decode_file`); an unreadable file is a three-part error naming it.

    Examples:
        >>> import tempfile
        >>> from PIL import Image
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "grey.png"
        >>> Image.new("L", (5, 4)).save(path)
        >>> read_pixels(path, 3).shape
        (4, 5, 3)
    """
    import tensorflow as tf

    if not os.path.isfile(path):
        raise _unreadable(str(path), FileNotFoundError(path))
    try:
        return decode_file(tf.constant(str(path)), channels).numpy()
    except tf.errors.InvalidArgumentError as error:
        raise _decode_failure(error, [str(path)]) from None


def _decode_failure(error, paths):
    """The three-part error for files TensorFlow could not decode: the ones PIL cannot read either, by
    name, else (PIL reads them, TensorFlow does not) the files of the batch with TensorFlow's message."""
    explained = explain_decode_error(error, paths)
    if explained is not None:
        return explained
    named = ", ".join(f"'{p}'" for p in paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    return ToolkitError(
        f"Image file {named} could not be decoded ({error.message.splitlines()[0]}).",
        expected="readable image files (png, jpg, bmp, gif, webp, tiff)",
        fix="re-save the file as PNG or JPEG, or remove it",
    )


def decode_file(path, channels):
    """The one image decoder every image task uses, for training, evaluation, prediction, serving and
    export examples: a path (a string tensor) -> uint8 (height, width, channels) at the file's size.

    TensorFlow decodes the formats it reads (PNG of 8 or 16 bits, palette, grey, RGBA; JPEG; BMP;
    WebP; GIF's first frame), converting to `channels` (grey to RGB by copying, RGB to grey by luminance,
    alpha dropped); other formats (TIFF) go through PIL with the same conversions. Prediction reading
    a file with another library (PIL) gave up to 0.02 other probabilities on ordinary JPEGs (libjpeg's
    DCT and colour conversion differ): the pixels a file gets must be the pixels training saw.
    """
    import tensorflow as tf

    native = tf.strings.regex_full_match(tf.strings.lower(path), _TF_DECODABLE_PATTERN)

    def with_tensorflow():
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False, dtype=tf.uint8)
        return tf.ensure_shape(image, (None, None, channels))

    def with_pil():
        image = tf.numpy_function(lambda p: _pil_pixels(np.asarray(p).item().decode(), channels), [path], tf.uint8,
                                  stateful=False)  # fmt: skip
        return tf.ensure_shape(image, (None, None, channels))

    return tf.cond(native, with_tensorflow, with_pil)


def decode_bytes(data, name, channels):
    """An uploaded file's bytes -> uint8 (height, width, channels) at its own size, decoded as `decode_file`
    decodes the same file on disk (TensorFlow for its formats, PIL for the rest), so a served upload gets
    the probabilities `predict` gives the file; nothing is written to disk.

    Examples:
        >>> import io
        >>> from PIL import Image
        >>> buffer = io.BytesIO()
        >>> Image.new("RGB", (5, 4), (255, 0, 0)).save(buffer, format="PNG")
        >>> decode_bytes(buffer.getvalue(), "red.png", 1).shape
        (4, 5, 1)
    """
    import io

    import tensorflow as tf

    extension = pathlib.Path(name).suffix.lower()
    native = extension in (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp") or (
        not extension and (data[:4] in _TF_SIGNATURES or data[:2] in (b"\xff\xd8", b"BM"))
    )
    try:
        if native:
            image = tf.io.decode_image(data, channels=channels, expand_animations=False, dtype=tf.uint8)
            return image.numpy()
        return _pil_pixels(io.BytesIO(data), channels)
    except (tf.errors.InvalidArgumentError, ValueError) as error:
        reason = error.message.splitlines()[0] if hasattr(error, "message") else str(error).split(": ", 1)[-1]
        raise ToolkitError(
            f"Image file '{name}' could not be decoded ({reason}).",
            expected="readable image files (png, jpg, bmp, gif, webp, tiff)",
            fix="re-save the file as PNG or JPEG",
        ) from None


def resize_pixels(image, size):
    """uint8 pixels -> uint8 pixels at `size` (height, width): antialiased bilinear, rounded."""
    import tensorflow as tf

    image = tf.image.resize(image, size, antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def _pil_pixels(path, channels):
    """A file TensorFlow does not decode (TIFF, ...) -> uint8 (height, width, channels) through PIL."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            if image.mode.startswith("I;16") or image.mode == "I":  # 16 bits: scaled as TensorFlow scales PNGs
                array = np.asarray(image, dtype=np.float64) / 257.0
                image = Image.fromarray(np.clip(np.round(array), 0, 255).astype(np.uint8))
            converted = image.convert("L" if channels == 1 else "RGB")
            return np.asarray(converted, dtype=np.uint8).reshape(converted.size[1], converted.size[0], channels)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot decode '{path}': {error}") from None


def list_class_folders(folder):
    """Scans a folder of class subfolders. Returns (paths, labels, class_names).

    Examples:
        >>> import tempfile
        >>> from PIL import Image
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for label in ("cat", "dog"):
        ...     (root / label).mkdir()
        ...     Image.new("RGB", (8, 8)).save(root / label / "1.png")
        >>> paths, labels, classes = list_class_folders(root)
        >>> labels, classes
        (['cat', 'dog'], ['cat', 'dog'])
    """
    folder = pathlib.Path(folder)
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    paths, labels = [], []
    for subfolder in subfolders:
        for root, _, files in os.walk(subfolder):
            for name in sorted(files):
                if is_image_file(name):
                    paths.append(os.path.join(root, name))
                    labels.append(subfolder.name)
    if not paths:
        loose = [p.name for p in folder.iterdir() if p.is_file() and is_image_file(p)]
        found = f"{len(loose)} images directly inside it and no class subfolders" if loose else "no images"
        raise ToolkitError(
            f"Folder '{folder}' holds {found}.",
            expected="one subfolder per class, each holding that class's images (photos/cat/1.jpg, photos/dog/2.png)",
            fix="move the images into one subfolder per class, or pass a CSV file of path,label",
        )
    return paths, labels, [p.name for p in subfolders if p.name in set(labels)]


def find_unreadable(paths, limit=5):
    """Up to `limit` files among `paths` that PIL cannot fully decode, each with its error.

    Used after a decoding error inside tf.data, whose message does not name the file.

    Examples:
        >>> import tempfile
        >>> bad = pathlib.Path(tempfile.mkdtemp()) / "bad.jpg"
        >>> _ = bad.write_bytes(b"not an image")
        >>> [pathlib.Path(p).name for p, _ in find_unreadable([str(bad)])]
        ['bad.jpg']
    """
    from PIL import Image

    found = []
    for path in paths:
        try:
            with Image.open(path) as image:
                image.load()
        except (OSError, ValueError, SyntaxError) as error:
            found.append((str(path), str(error)))
            if len(found) >= limit:
                break
    return found


def explain_decode_error(error, files):
    """A `ToolkitError` naming the undecodable files behind a tf.data decoding error, or None.

    A decoding error inside tf.data does not name its file; this finds the unreadable ones among
    the `files` the datasets read, and turns a NaN check failure of a stream into a clear message.

    Examples:
        >>> explain_decode_error(ValueError("other"), []) is None
        True
    """
    import tensorflow as tf

    if "toolkit: an image holds NaN" in str(error):
        return ToolkitError(
            "The dataset's images hold NaN or infinite values.",
            expected="finite pixel values (0..255)",
            fix="replace or drop those images (e.g. dataset.filter on tf.reduce_all(tf.math.is_finite(x)))",
        )
    if not files or not isinstance(error, tf.errors.InvalidArgumentError):
        return None
    bad = find_unreadable(files)
    if not bad:
        return None
    listed = "; ".join(f"'{path}' ({message})" for path, message in bad)
    return ToolkitError(
        f"{len(bad)} image file(s) could not be decoded: {listed}.",
        expected="readable image files (png, jpg, bmp, gif, webp, tiff)",
        fix="remove or replace those files; nothing in the folder was changed",
    )
