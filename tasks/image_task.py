"""What the image families share: learned size, channels and classes kept by their preprocessor, the
check of `input_scaling`, a preset's image size, and naming the file behind a decoding error."""

from toolkit import backbones as backbones_lib
from toolkit import image_files, preprocessing
from toolkit import images as images_lib
from toolkit.task import Task


class ImageTask(Task):
    """A `Task` whose preprocessor learns `classes`, `image_size` and `channels` and lists the `files` it reads."""

    # What was learned lives in the preprocessor; these are its scikit-learn-style names (a run saved
    # before the preprocessor existed sets them when it loads).
    classes_ = preprocessing.learned("classes")
    image_size_ = preprocessing.learned("image_size", tuple)
    channels_ = preprocessing.learned("channels")

    def _check_combinations(self):
        super()._check_combinations()
        if hasattr(self, "input_scaling"):  # the families that scale pixels before a backbone
            images_lib.check_image_params(self)

    def preset_image_size(self):
        """The image size a pretrained preset's image converter asks for, or None (no preset, or no size)."""
        if not self._uses_preset():
            return None
        converter = backbones_lib.load_preset(self.backbone, "ImageConverter")
        return tuple(converter.image_size) if converter is not None and converter.image_size else None

    def decode_upload(self, name, data):
        """An uploaded image -> uint8 pixels at its own size, with the model's channels, as its file decodes."""
        return image_files.decode_bytes(data, name, self.channels_)

    def explain_data_error(self, error):
        return image_files.explain_decode_error(error, getattr(getattr(self, "preprocessor_", None), "files", None))
