"""Hugging Face model folders as backbones, task checkpoints included.

KerasHub converts a Hugging Face folder's encoder (`from_preset(folder)`), but not every folder people
hold: a `BertForQuestionAnswering` checkpoint has no pooler, which KerasHub's BERT converter reads
(`SafetensorError: File does not contain tensor pooler.dense.weight`), and the task head a checkpoint
was fine-tuned with (`qa_outputs`, `classifier`) is dropped. This module
- gives a folder with only `pytorch_model.bin` (or TensorFlow weights) a clear error on converting it;
- loads an encoder whose pooler is missing by reading it through a temporary view of the folder (the
  user's files are linked, never changed) that adds a pooler at BERT's initialisation, with a warning;
- reads a task head's tensors so a task can start its own head from them (`qa_outputs` for spans,
  `classifier` / `pre_classifier` / `classifier.dense` + `classifier.out_proj` for text classes).
Written by hand: KerasHub converts backbones only, and `transformers` (which reads these heads) needs
PyTorch, which this toolkit does not install.
"""

import contextlib
import json
import os
import pathlib
import re
import shutil
import tempfile
import warnings

import numpy as np

from toolkit.errors import ToolkitError

WEIGHTS = "model.safetensors"
INDEX = "model.safetensors.index.json"
OTHER_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack")
POOLER = re.compile(r"pooler")  # the only tensors a missing copy of is filled in for: unused by span heads


def is_hf_folder(path):
    """True for a folder in Hugging Face's layout (config.json with "model_type"), not a KerasHub preset.

    Examples:
        >>> import tempfile
        >>> is_hf_folder(tempfile.mkdtemp())
        False
    """
    config = pathlib.Path(str(path)) / "config.json"
    if not config.is_file():
        return False
    try:
        content = json.loads(config.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(content, dict) and "model_type" in content and "registered_name" not in content


def config(folder):
    """The folder's config.json as a dict."""
    return json.loads((pathlib.Path(folder) / "config.json").read_text(encoding="utf-8"))


def check_weights(folder):
    """A three-part error when a Hugging Face folder has no safetensors weights (KerasHub reads no others)."""
    folder = pathlib.Path(folder)
    if (folder / WEIGHTS).is_file() or (folder / INDEX).is_file():
        return
    others = [name for name in OTHER_WEIGHTS if (folder / name).is_file()]
    found = f"only {', '.join(others)}" if others else "no weights file"
    raise ToolkitError(
        f"The Hugging Face folder '{folder}' has {found}; KerasHub reads model.safetensors.",
        expected="model.safetensors (or model.safetensors.index.json with its shards) beside config.json",
        fix='convert it once where PyTorch is installed: python -c "from transformers import AutoModel; '
        f"AutoModel.from_pretrained('{folder}').save_pretrained('{folder}-safetensors', safe_serialization=True)\" "
        "(then copy the tokenizer files too), or download the checkpoint's model.safetensors from the hub",
    )


def tensor_names(folder):
    """{tensor name: file name} of every weight in the folder."""
    from safetensors import safe_open

    folder = pathlib.Path(folder)
    if (folder / INDEX).is_file():
        return dict(json.loads((folder / INDEX).read_text(encoding="utf-8"))["weight_map"])
    with safe_open(str(folder / WEIGHTS), framework="np") as file:
        return {name: WEIGHTS for name in file.keys()}


def read_tensors(folder, names):
    """{name: array} of those of `names` the folder holds."""
    from safetensors import safe_open

    where = tensor_names(folder)
    found = {}
    for name in names:
        if name in where:
            with safe_open(str(pathlib.Path(folder) / where[name]), framework="np") as file:
                found[name] = file.get_tensor(name)
    return found


def load_backbone(load, folder):
    """`load(path)` (KerasHub's `from_preset`) on a Hugging Face folder; when the converter asks for a
    pooler tensor the folder lacks (a question-answering checkpoint), again on a view that adds it."""
    check_weights(folder)
    added = {}
    for _ in range(4):  # a pooler is a weight and a bias
        with _view(folder, added) as path:
            try:
                backbone = load(path)
            except Exception as error:  # safetensors' SafetensorError, KeyError: a tensor is missing
                missing = re.search(r"does not contain tensor (\S+)", str(error)) or re.search(
                    r"KeyError: '([^']+)'", f"{type(error).__name__}: {error}"
                )
                name = missing.group(1) if missing else None
                if not name or not POOLER.search(name) or name in added:
                    raise
                added[name] = _pooler_tensor(folder, name)
                continue
        if added:
            warnings.warn(
                f"The Hugging Face folder '{folder}' has no pooler ({', '.join(sorted(added))}), as a "
                "question-answering checkpoint has none: it starts at BERT's initialisation. Span heads do not "
                "use it; a text classifier's head trains it from there.",
                stacklevel=3,
            )
        return backbone
    raise ToolkitError(
        f"The Hugging Face folder '{folder}' lacks tensors KerasHub's converter reads: {sorted(added)}.",
        expected="a complete encoder checkpoint in model.safetensors",
        fix="check that the folder holds the whole model",
    )


def _pooler_tensor(folder, name):
    settings = config(folder)
    hidden = int(settings.get("hidden_size") or settings.get("dim"))
    if name.endswith("bias"):
        return np.zeros(hidden, np.float32)
    # BERT's initialisation (normal, standard deviation 0.02), seeded: the same folder gives the same start.
    return np.random.default_rng(0).normal(0.0, 0.02, (hidden, hidden)).astype(np.float32)


@contextlib.contextmanager
def _view(folder, added):
    """The folder itself, or with `added` tensors: a temporary folder of links to its files and an index
    naming the original weights and one more file with the added tensors."""
    if not added:
        yield str(folder)
        return
    from safetensors.numpy import save_file

    folder = pathlib.Path(folder).resolve()
    view = pathlib.Path(tempfile.mkdtemp(prefix="toolkit-hf-view-"))
    try:
        for item in folder.iterdir():
            if item.name != INDEX:
                os.symlink(item, view / item.name)
        save_file(added, str(view / "toolkit_added.safetensors"))
        weight_map = {**tensor_names(folder), **{name: "toolkit_added.safetensors" for name in added}}
        (view / INDEX).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}), encoding="utf-8")
        yield str(view)
    finally:
        shutil.rmtree(view, ignore_errors=True)


# ------------------------------------------------------------------------------------ task heads
def span_head(folder):
    """(kernel (hidden, 2), bias (2,)) of a question-answering checkpoint's `qa_outputs`, or None."""
    found = read_tensors(folder, ["qa_outputs.weight", "qa_outputs.bias"])
    if len(found) < 2 or found["qa_outputs.weight"].shape[0] != 2:
        return None
    return found["qa_outputs.weight"].T, found["qa_outputs.bias"]


# The classification heads of *ForSequenceClassification checkpoints: (the Hugging Face layer, the KerasHub
# TextClassifier layer it becomes), the output layer last.
CLASSIFIER_HEADS = {
    "bert": [("classifier", "output_dense")],
    "albert": [("classifier", "output_dense")],
    "distilbert": [("pre_classifier", "pooled_dense"), ("classifier", "output_dense")],
    "roberta": [("classifier.dense", "pooled_dense"), ("classifier.out_proj", "output_dense")],
}


def classifier_head(folder):
    """([(KerasHub layer name, kernel, bias), ...], class names by index) of a sequence-classification
    checkpoint, or None when the folder has no such head."""
    model_type = config(folder).get("model_type")
    layers = CLASSIFIER_HEADS.get(model_type)
    if not layers:
        return None
    names = [f"{hf}.{part}" for hf, _ in layers for part in ("weight", "bias")]
    found = read_tensors(folder, names)
    if len(found) < len(names):
        return None
    head = [(keras_name, found[f"{hf}.weight"].T, found[f"{hf}.bias"]) for hf, keras_name in layers]
    labels = config(folder).get("id2label") or {}
    count = head[-1][1].shape[1]
    classes = [str(labels.get(str(k), labels.get(k, f"LABEL_{k}"))) for k in range(count)]
    return head, classes


def start_classifier_from_checkpoint(classifier, folder, classes):
    """Sets a KerasHub TextClassifier's head from the folder's sequence-classification head when the class
    count matches (rows in the order of the data's classes when the names match); warns when it does not."""
    found = classifier_head(folder)
    if found is None:
        return False
    head, checkpoint_classes = found
    if len(checkpoint_classes) != len(classes):
        warnings.warn(
            f"The checkpoint in '{folder}' has a classification head for {len(checkpoint_classes)} classes "
            f"({checkpoint_classes[:10]}) and this data has {len(classes)}: the head starts untrained.",
            stacklevel=3,
        )
        return False
    order = list(range(len(classes)))
    if sorted(checkpoint_classes) == sorted(str(c) for c in classes):
        order = [checkpoint_classes.index(str(c)) for c in classes]
    else:
        warnings.warn(
            f"The checkpoint's classification head in '{folder}' starts the classifier: its classes "
            f"{checkpoint_classes} are taken in order as this data's {list(classes)}.",
            stacklevel=3,
        )
    for k, (layer_name, kernel, bias) in enumerate(head):
        layer = getattr(classifier, layer_name)
        if k == len(head) - 1:  # the output layer: its columns in the data's class order
            kernel, bias = kernel[:, order], bias[order]
        layer.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    return True
