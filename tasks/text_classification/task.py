"""Text classification: `TextClassifier` and `train_text_classifier`."""

import math
import os

import keras
import numpy as np
import tensorflow as tf

from tasks.text_classification import data as text_data
from toolkit import backbones as backbones_lib
from toolkit import data as data_lib
from toolkit import estimator, hf_checkpoints, image_streams
from toolkit import export as export_lib
from toolkit import splits as splits_lib
from toolkit.classification import ClassifierMixin
from toolkit.errors import ToolkitError
from toolkit.saving import register_task
from toolkit.task import Task

SIDES = ("end", "start")


@keras.saving.register_keras_serializable(package="toolkit")
class PadAndTruncate(keras.layers.Layer):
    """Fits token ids (0 = padding, real tokens first) to `length`, padding and cutting at either side.

    `TextVectorization` only pads and truncates at the end; this layer adds
    the other sides (keeping the end of long texts, or left-padding for
    recurrent models), which no Keras layer offers.

    Examples:
        >>> ids = np.array([[5, 6, 7, 0], [8, 0, 0, 0]])
        >>> PadAndTruncate(3, padding="start", truncation="start")(ids).numpy().tolist()
        [[5, 6, 7], [0, 0, 8]]
        >>> PadAndTruncate(2, truncation="start")(ids).numpy().tolist()
        [[6, 7], [8, 0]]
    """

    def __init__(self, length, padding="end", truncation="end", **kwargs):
        super().__init__(**kwargs)
        self.length = length
        self.padding = padding
        self.truncation = truncation

    def call(self, ids):
        ids = keras.ops.pad(ids, [[0, 0], [0, self.length]])  # at least `length` columns
        counts = keras.ops.sum(keras.ops.cast(keras.ops.not_equal(ids, 0), "int32"), axis=1, keepdims=True)
        kept = keras.ops.minimum(counts, self.length)
        source_start = counts - kept if self.truncation == "start" else keras.ops.zeros_like(kept)
        offset = self.length - kept if self.padding == "start" else keras.ops.zeros_like(kept)
        positions = keras.ops.arange(self.length, dtype="int32")[None, :] - offset
        valid = keras.ops.logical_and(positions >= 0, positions < kept)
        source = keras.ops.clip(source_start + positions, 0, keras.ops.shape(ids)[1] - 1)
        taken = keras.ops.take_along_axis(ids, source, axis=1)
        return keras.ops.where(valid, taken, keras.ops.zeros_like(taken))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.length)

    def get_config(self):
        return {**super().get_config(), "length": self.length, "padding": self.padding, "truncation": self.truncation}


# Below this many training texts a from-scratch network is said to be a weak choice before training starts.
FEW_TEXTS = 1000


@register_task
class TextClassifier(ClassifierMixin, Task):
    """Classifies texts into named classes.

    The saved model takes raw strings: from-scratch backbones carry a
    `TextVectorization` layer fitted on the training texts; pretrained ones
    are KerasHub `TextClassifier`s whose preset preprocessor tokenises.

    Args:
        backbone: a from-scratch name ("cnn", "bilstm", "gru", "transformer"),
            a KerasHub preset name (e.g. "bert_tiny_en_uncased"), a local
            preset folder or Hugging Face model folder, or a `keras.Model`
            mapping (batch, sequence_length) token ids to features.
        sequence_length: tokens per text; default: enough for 95% of the
            training texts (at most 512, and at most the preset's limit).
        vocabulary_size: most distinct words a from-scratch model knows.
        embedding_dim: word embedding size of from-scratch backbones.
        width: units / filters of from-scratch backbones.
        dropout: dropout rate before the classification layer.
        columns: (text column, label column) of CSV / TSV / JSON Lines data,
            by name or 0-based position; default: recognised names ("text",
            "label", ...), else in a two-column file the column with the longer
            cells holds the text. A header row is found (also with other names)
            and skipped; the columns chosen are printed.
        padding: "end" or "start": where short texts get padding (from-scratch backbones).
        truncation: "end" (keep the beginning) or "start" (keep the end) of long texts (from-scratch backbones).
        data_dir: TFDS data folder for "tfds:NAME" data.
        learning_rate: the (peak) learning rate; None: 5e-5 fine-tuning a pretrained encoder (BERT's
            range), 1e-3 from scratch.
        epochs: most epochs to train (early stopping may stop sooner); None: 10, raised on a small set
            until a from-scratch network gets 1,000 optimizer steps (at most 200 epochs; 200 sentences
            of SST-2 went from chance, 0.53, to about 0.60 on its dev set, where TF-IDF with logistic
            regression scores 0.63 and a pretrained MiniLM 0.71).
        **kwargs: the arguments every task shares (epochs, batch_size, finetune, tune, save_dir,
            run_name, ...; see `toolkit.Task`).

    Examples:
        >>> clf = TextClassifier(backbone="cnn", epochs=5).fit("train.tsv", "dev.tsv")  # doctest: +SKIP
        >>> clf.predict(["a fine film"])  # doctest: +SKIP
        [{'label': '1', 'probability': 0.93, 'probabilities': {'0': 0.07, '1': 0.93}}]
    """

    task_name = "text-classification"
    description = "classify texts into named classes"
    serving_input = "texts"
    default_data = None
    data_forms = (
        "a CSV / TSV / JSON Lines file with a text and a label column (found by common names: text, sentence, "
        "review, ... and label, class, sentiment, ...; --columns to name them), a folder of class "
        "subfolders of .txt files (aclImdb's layout), a (texts, labels) tuple, a tf.data.Dataset of (text, label), "
        "or 'tfds:NAME' (e.g. tfds:imdb_reviews)"
    )
    backbone_filters = ({"modality": "text"},)
    keras_hub_task = "TextClassifier"
    budget_epochs = 10  # epochs=None on a set SST-2's size (a pretrained encoder: 2-3 suffice, pass epochs=)
    # The training texts fit the vocabulary when a model is built (also in tuning trials); not saved.
    unsaved_attributes = Task.unsaved_attributes + ("train_texts_",)

    _parameter_constraints = {
        "dropout": estimator.DROPOUT,
        "width": estimator.POSITIVE,
        "embedding_dim": estimator.POSITIVE,
        "vocabulary_size": estimator.at_least(
            3, none=True, what="an integer (two entries are padding and unknown words)"
        ),
        "sequence_length": estimator.POSITIVE_OR_NONE,
    }

    def __init__(
        self,
        *,
        backbone: str | keras.Model = "cnn",
        sequence_length: int | None = None,
        vocabulary_size: int = 20_000,
        embedding_dim: int = 128,
        width: int = 64,
        dropout: float = 0.5,
        columns: tuple[int | str, int | str] | None = None,
        padding: str = "end",
        truncation: str = "end",
        data_dir: str | os.PathLike | None = None,
        epochs: int | None = None,
        learning_rate: float | None = None,
        **kwargs,
    ):
        super().__init__(epochs=epochs, learning_rate=learning_rate, **kwargs)
        self.backbone = backbone
        self.sequence_length = sequence_length
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.width = width
        self.dropout = dropout
        self.columns = columns
        self.padding = padding
        self.truncation = truncation
        self.data_dir = data_dir

    # ------------------------------------------------------------------- data
    def prepare_data(self, data, validation_data):
        self._check_text_params()
        self._files = []
        texts, labels, class_names = text_data.load_source(data, self.columns, self.data_dir, say=self.say)
        y, self.classes_ = data_lib.encode_labels(labels, class_names)
        data_lib.require_two_classes(y, self.classes_)
        texts = _as_index(texts)
        validation = None
        if validation_data is not None:
            x_val, y_val = self._index(validation_data)
            validation = ([np.arange(len(y_val))], y_val)
        # The split acts on positions; each part is the index at its positions (strings, files or a stream).
        ((train,), y), ((val,), y_val), test, info = splits_lib.holdout(
            [np.arange(len(y))],
            y,
            validation=validation,
            validation_source=data_lib.describe(validation_data),
            **self._split_options(),
        )
        info = {"train_source": data_lib.describe(data), **info}
        x = data_lib.take(texts, train)
        x_val = x_val if validation is not None else data_lib.take(texts, val)
        self.train_texts_ = x
        # Learned from the training part only: validation and test texts never shape the model.
        self.sequence_length_ = self.sequence_length or self._choose_sequence_length(x)
        self.say(
            f"Text classification: {len(self.classes_)} classes, {self.sequence_length_} tokens per text; "
            f"{len(y)} train / {len(y_val)} validation / {info['test_examples']} test."
        )
        if len(y) < FEW_TEXTS and not self._pretrained_backbone():
            self.say(
                f"Note: a from-scratch network learns little from {len(y)} texts (200 SST-2 sentences: about 0.61 on "
                "its dev set, TF-IDF with logistic regression 0.63, majority 0.51); a pretrained encoder learns more "
                "from few (0.71): --backbone hf://sentence-transformers/all-MiniLM-L6-v2 or a local folder."
            )
        return data_lib.Splits(
            train=self._dataset(x, y, shuffle=True),
            validation=self._dataset(x_val, y_val),
            test=None if test is None else self._dataset(data_lib.take(texts, test[0][0]), test[1]),
            info=info,
        )

    def _check_text_params(self):
        self._check_backbone()
        for name in ("padding", "truncation"):
            value = getattr(self, name)
            if value not in SIDES:
                raise ToolkitError(f"{name}={value!r} is not valid.", expected=f"one of {SIDES}", fix=f"pass {name}=")
            if value != "end" and self._uses_preset():
                raise ToolkitError(
                    f"{name}={value!r} applies to from-scratch backbones only.",
                    expected=f"{name}='end' with a pretrained preset (its preprocessor pads and cuts at the end)",
                    fix=f"drop {name}= or use a from-scratch backbone",
                )
        if self.columns is not None and (not isinstance(self.columns, (list, tuple)) or len(self.columns) != 2):
            raise ToolkitError(
                f"columns={self.columns!r} is not valid.",
                expected="a (text column, label column) pair of names or 0-based positions",
                fix="e.g. columns=('sentence', 'label') or columns=(0, 1)",
            )

    def _choose_sequence_length(self, texts):
        """Covers 95% of the training texts (all of them, or a bounded sample of files), rounded up to 8."""
        words = np.percentile(text_data.word_counts(texts, self.seed), 95)
        if self._uses_preset():
            words = words * 1.3 + 2  # subword pieces per word, plus [CLS] and [SEP]
        limit = 512
        if self._uses_preset():
            self._pretrained = _load_backbone(self.backbone)  # reused by build_model
            limit = getattr(self._pretrained, "max_sequence_length", None) or limit
        return int(min(limit, max(8, 8 * math.ceil(words / 8))))

    def _index(self, data):
        """Any accepted data form -> (its index: strings, files or a stream; class indices)."""
        texts, labels, _ = text_data.load_source(data, self.columns, self.data_dir)
        y, _ = data_lib.encode_labels(labels, self.classes_)
        return _as_index(texts), y

    def _dataset(self, texts, y, shuffle=False):
        """One part of the index -> a batched dataset of (strings, labels).

        Strings the user passed or a table file held are in memory already and are cached; files
        are read inside tf.data and cached when they fit the memory budget; streams are read again
        each epoch, shuffled in a bounded buffer.
        """
        if isinstance(texts, text_data.TextFiles):
            self._files = getattr(self, "_files", []) + texts.paths.tolist()
        cache = not isinstance(texts, data_lib.Stream) and (
            not isinstance(texts, text_data.TextFiles)
            or sum(os.path.getsize(p) for p in texts.paths) <= image_streams.MEMORY_CACHE_BYTES
        )
        dataset = tf.data.Dataset.zip((text_data.texts_dataset(texts), tf.data.Dataset.from_tensor_slices(y)))
        return data_lib.cached_batches(
            dataset, len(y), self._global_batch_size(), cache=cache, shuffle=shuffle, seed=self.seed
        )

    def explain_data_error(self, error):
        if "toolkit: not UTF-8" not in str(error):
            return None
        messages = text_data.find_undecodable(getattr(self, "_files", []))
        return ToolkitError(
            " ".join(messages) or "A text file is not valid UTF-8.",
            expected="text files encoded as UTF-8",
            fix="re-save the files as UTF-8 (e.g. `iconv -f latin1 -t utf-8 in.txt > out.txt`); nothing was changed",
        )

    def evaluation_data(self, data):
        self._files = []
        return self._dataset(*self._index(data))

    # ------------------------------------------------------------------ model
    def _default_learning_rate(self):
        # Pretrained encoders forget what they know at scratch-model rates (BERT's paper uses 2e-5 to 5e-5).
        return 5e-5 if self._uses_preset() else 1e-3

    def export_form(self, format):
        """ONNX and LiteRT carry no string operations, so they get the model from token ids on, with
        its vocabulary written beside it and export.json saying how to tokenise (the caller's part);
        the parity check tokenises the kept texts with the model's own layers. SavedModel, and a
        preset's model, keep the strings in."""
        if format == "savedmodel" or self._uses_preset():
            return super().export_form(format)
        names = ("tokenize", "pad_and_truncate")
        layers = [layer for layer in self.model_.layers if not isinstance(layer, keras.layers.InputLayer)]
        tokenizers = [layer for layer in layers if layer.name in names]
        ids = keras.Input((self.sequence_length_,), dtype="int64", name="token_ids")
        x = ids
        for layer in layers:  # the layers after tokenising, a chain: backbone, dropout, classes
            if layer.name not in names:
                x = layer(x)

        def inputs(texts):
            x = tf.constant(texts)
            for layer in tokenizers:
                x = layer(x)
            return np.asarray(x, np.int64)

        def vocabulary_file(path):
            return path.with_name(path.name + ".vocabulary.txt")

        def notes(path):
            vectorize = self.model_.get_layer("tokenize")
            with open(vocabulary_file(path), "w", encoding="utf-8") as f:
                f.writelines(f"{token}\n" for token in vectorize.get_vocabulary())
            config = vectorize.get_config()
            return {
                "inputs": {"token_ids": f"int64 (batch, {self.sequence_length_})"},
                "vocabulary": str(vocabulary_file(path)),
                "tokenise": (
                    f"the caller's part ({format} carries no string operations): standardize "
                    f"{config['standardize']!r}, split {config['split']!r}, each token -> its line number in "
                    f"the vocabulary file (0: padding, 1: unknown), {self.sequence_length_} ids a text, "
                    f"padded with 0 at the {self.padding} and cut at the {self.truncation}; "
                    "or export format='savedmodel', which takes the strings"
                ),
            }

        return export_lib.Form(
            keras.Model(ids, x, name="text_classifier_from_ids"),
            inputs=inputs,
            notes=notes,
            files=lambda path: [vocabulary_file(path)],
        )

    def build_model(self):
        if self._uses_preset():
            return self._build_preset_model()
        vectorize = keras.layers.TextVectorization(
            max_tokens=self.vocabulary_size,
            output_sequence_length=self.sequence_length_ if (self.padding, self.truncation) == ("end", "end") else None,
            name="tokenize",
        )
        # One streaming pass over the training texts (strings, files or a stream).
        vectorize.adapt(text_data.texts_dataset(self.train_texts_).batch(256))
        inputs = keras.Input(shape=(), dtype="string", name="text")
        ids = vectorize(inputs)
        if (self.padding, self.truncation) != ("end", "end"):
            ids = PadAndTruncate(self.sequence_length_, self.padding, self.truncation, name="pad_and_truncate")(ids)
        if isinstance(self.backbone, keras.Model):
            backbone = keras.Sequential([backbones_lib.copy_model(self.backbone)], name="backbone")
        else:
            backbone = backbones_lib.BACKBONES.get(self.backbone)(
                self.sequence_length_, vectorize.vocabulary_size(), embedding_dim=self.embedding_dim, width=self.width
            )
        features = keras.layers.Dropout(self.dropout)(backbone(ids))
        outputs = keras.layers.Dense(len(self.classes_), activation="softmax", name="classes", dtype="float32")(
            features
        )
        return keras.Model(inputs, outputs, name="text_classifier")

    def _build_preset_model(self):
        """A KerasHub TextClassifier: its preprocessor tokenises raw strings inside fit, predict and the saved file."""
        import keras_hub

        # Each build needs the pretrained weights afresh (tuning builds several models); the first
        # reuses the backbone loaded to read its length limit.
        backbone = getattr(self, "_pretrained", None) or _load_backbone(self.backbone)
        self._pretrained = None
        preprocessor = backbones_lib.load_preset(
            self.backbone, "TextClassifierPreprocessor", sequence_length=self.sequence_length_
        )
        if preprocessor is None:
            raise ToolkitError(
                f"Preset {self.backbone!r} has no tokenizer files.",
                expected="a preset folder with the tokenizer (assets/ from save_to_preset, or vocab.txt / tokenizer.json)",
                fix="save the tokenizer with the backbone (`preprocessor.save_to_preset(folder)`)",
            )
        classifier = keras_hub.models.TextClassifier.from_preset(
            self.backbone,
            num_classes=len(self.classes_),
            backbone=backbone,
            preprocessor=preprocessor,
            activation="softmax",
            dropout=self.dropout,
        )
        if hf_checkpoints.is_hf_folder(self.backbone):  # a *ForSequenceClassification head, when it fits
            hf_checkpoints.start_classifier_from_checkpoint(classifier, self.backbone, self.classes_)
        return classifier

    # ------------------------------------------------------------- inference
    def predict(self, inputs):
        """Classifies texts.

        Args:
            inputs: one string or a list of strings.

        Returns:
            One dict per text: {"label", "probability", "probabilities": {class: p}}.
        """
        self.check_fitted()
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        bad = sorted({type(t).__name__ for t in texts if not isinstance(t, str)})
        if bad:
            raise ToolkitError(
                f"predict got values of type {bad}.", expected="a string or a list of strings", fix="pass the texts"
            )
        empty = [i for i, text in enumerate(texts) if not text.strip()]
        if empty:  # training skips such rows; a prediction for nothing would look as confident as any other
            raise ToolkitError(
                f"predict got {len(empty)} empty text(s) (at positions {empty[:10]}).",
                expected="texts with at least one non-space character",
                fix="drop the empty texts before predicting",
            )
        probabilities = self.model_.predict(
            tf.constant(texts, dtype=tf.string), batch_size=self._batch_size(), verbose=0
        )
        return self._answers(probabilities)

    def search_space(self, hp):
        space = super().search_space(hp)
        space["dropout"] = hp.Float("dropout", 0.0, 0.6, step=0.1)
        if self._uses_preset():
            space["learning_rate"] = hp.Float("learning_rate", 1e-5, 1e-4, sampling="log")
        elif isinstance(self.backbone, str):
            space["backbone"] = hp.Choice("backbone", self.accepted_backbones())
            space["embedding_dim"] = hp.Choice("embedding_dim", [64, 128, 256])
        return space


def _load_backbone(preset):
    # Named "backbone" so the fine-tuning strategies find it inside the KerasHub model.
    return backbones_lib.load_preset(preset, "backbone", name="backbone")


def _as_index(texts):
    """Strings become an object array (indexable by positions); files and streams stay as they are."""
    if isinstance(texts, (text_data.TextFiles, data_lib.Stream)):
        return texts
    return np.array(texts, dtype=object)


def train_text_classifier(data=None, validation_data=None, **kwargs):
    """Trains a text classifier in one line and returns the fitted `TextClassifier`.

    Args:
        data: a (texts, labels) tuple, a CSV / TSV / JSON Lines file, a folder
            of class subfolders of .txt files, a tf.data.Dataset or "tfds:NAME".
        validation_data: same forms; default a seeded split of `data`.
        **kwargs: `TextClassifier` arguments (backbone, epochs, columns, finetune, tune, ...).

    Returns:
        The fitted `TextClassifier`; its run is in `clf.run_dir`.

    Examples:
        >>> import tempfile
        >>> texts = ["a fine film", "loved every minute", "awful and dull", "a waste of time"] * 10
        >>> labels = ["pos", "pos", "neg", "neg"] * 10
        >>> clf = train_text_classifier((texts, labels), epochs=8, save_dir=tempfile.mkdtemp(), verbose=0)
        >>> clf.classes_, clf.predict(["loved it, a fine film"])[0]["label"]
        (['neg', 'pos'], 'pos')
    """
    return TextClassifier(**kwargs).fit(data, validation_data)
