"""Text classification: `TextClassifier` and `train_text_classifier`."""

import os

import keras

from tasks.text_classification import data as text_data
from tasks.text_classification import model as model_lib
from tasks.text_classification.model import PadAndTruncate  # noqa: F401  (the layer's old import path)
from tasks.text_classification.preprocessor import TextPreprocessor, as_index
from toolkit import data as data_lib
from toolkit import estimator, preprocessing
from toolkit.classification import ClassifierMixin
from toolkit.errors import ToolkitError
from toolkit.preprocessing import Index
from toolkit.saving import register_task
from toolkit.task import Task

SIDES = ("end", "start")


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
    preprocessor_class = TextPreprocessor

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
    def _check_combinations(self):
        super()._check_combinations()
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

    def read_data(self, data, say=True):
        say = self.say if say else None  # which columns were chosen: said while fitting, not when scoring
        texts, labels, class_names = text_data.load_source(data, self.columns, self.data_dir, say=say)
        y, classes = data_lib.encode_labels(labels, class_names)  # the whole source's classes, for stratifying
        return Index(as_index(texts), labels, y, data_lib.describe(data), class_names or classes)

    def make_preprocessor(self):
        limit = 512
        if self._uses_preset():
            self._pretrained = model_lib.load_backbone(self.backbone)  # reused by build_model
            limit = getattr(self._pretrained, "max_sequence_length", None) or limit
        return TextPreprocessor(
            sequence_length=self.sequence_length, subwords=self._uses_preset(), limit=limit, seed=self.seed
        )

    def prepare_data(self, data, validation_data):
        self._check_backbone()
        splits = super().prepare_data(data, validation_data)
        train = splits.info["train_examples"]
        self.say(
            f"Text classification: {len(self.classes_)} classes, {self.sequence_length_} tokens per text; "
            f"{train} train / {splits.info['validation_examples']} validation / {splits.info['test_examples']} test."
        )
        if train < FEW_TEXTS and not self._pretrained_backbone():
            self.say(
                f"Note: a from-scratch network learns little from {train} texts (200 SST-2 sentences: about 0.61 on "
                "its dev set, TF-IDF with logistic regression 0.63, majority 0.51); a pretrained encoder learns more "
                "from few (0.71): --backbone hf://sentence-transformers/all-MiniLM-L6-v2 or a local folder."
            )
        return splits

    # What was learned lives in the preprocessor; these are its scikit-learn-style names.
    classes_ = preprocessing.learned("classes")
    sequence_length_ = preprocessing.learned("sequence_length")
    train_texts_ = property(lambda self: self.preprocessor_.train_texts, doc="The training part's texts (not saved).")

    def explain_data_error(self, error):
        if "toolkit: not UTF-8" not in str(error):
            return None
        messages = text_data.find_undecodable(getattr(getattr(self, "preprocessor_", None), "files", []))
        return ToolkitError(
            " ".join(messages) or "A text file is not valid UTF-8.",
            expected="text files encoded as UTF-8",
            fix="re-save the files as UTF-8 (e.g. `iconv -f latin1 -t utf-8 in.txt > out.txt`); nothing was changed",
        )

    def evaluation_data(self, data):
        return self.preprocessor_.dataset(self.read_data(data, say=False), batch_size=self._global_batch_size())

    # ------------------------------------------------------------------ model
    def _default_learning_rate(self):
        # Pretrained encoders forget what they know at scratch-model rates (BERT's paper uses 2e-5 to 5e-5).
        return 5e-5 if self._uses_preset() else 1e-3

    def export_form(self, format):
        """ONNX and LiteRT carry no string operations: they get the model from token ids on (see
        `model.ids_form`). SavedModel, and a preset's model, keep the strings in."""
        if format == "savedmodel" or self._uses_preset():
            return super().export_form(format)
        return model_lib.ids_form(self.model_, format, self.sequence_length_, self.padding, self.truncation)

    def build_model(self):
        if self._uses_preset():
            # Each build needs the pretrained weights afresh (tuning builds several models); the first
            # reuses the backbone loaded to read its length limit.
            backbone = getattr(self, "_pretrained", None) or model_lib.load_backbone(self.backbone)
            self._pretrained = None
            return model_lib.build_preset(self.backbone, backbone, self.classes_, self.sequence_length_, self.dropout)
        return model_lib.build(
            self.backbone, self.train_texts_, len(self.classes_), self.sequence_length_,
            vocabulary_size=self.vocabulary_size, embedding_dim=self.embedding_dim, width=self.width,
            dropout=self.dropout, padding=self.padding, truncation=self.truncation,
        )  # fmt: skip

    # ------------------------------------------------------------- inference
    def predict(self, inputs):
        """Classifies texts.

        Args:
            inputs: one string or a list of strings.

        Returns:
            One dict per text: {"label", "probability", "probabilities": {class: p}}.
        """
        self.check_fitted()
        x = self.preprocessor_.inputs(inputs)
        return self._answers(self._infer(x))

    def search_space(self, hp):
        space = super().search_space(hp)
        space["dropout"] = hp.Float("dropout", 0.0, 0.6, step=0.1)
        if self._uses_preset():
            space["learning_rate"] = hp.Float("learning_rate", 1e-5, 1e-4, sampling="log")
        elif isinstance(self.backbone, str):
            space["backbone"] = hp.Choice("backbone", self.accepted_backbones())
            space["embedding_dim"] = hp.Choice("embedding_dim", [64, 128, 256])
        return space


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
