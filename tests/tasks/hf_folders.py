"""Tiny Hugging Face model folders written from random weights (no download): config.json, tokenizer
files and model.safetensors in the layout `transformers` saves, with or without a pooler and with a
task head (`qa_outputs`, a sequence-classification head).

The tensor names and shapes come from KerasHub's own converter: it is run against a recorder that
notes each tensor it asks for, so the folder holds exactly what a real checkpoint of that family holds.
"""

import importlib
import json

import numpy as np

HIDDEN, LAYERS, HEADS, INTERMEDIATE, POSITIONS = 16, 1, 2, 32, 64
WORDS = ["the", "a", "of", "who", "what", "led", "rollo", "normans", "france", "year", "in", "was", "born",
         "paris", "city", "good", "bad", "film", "plot", "great", "dull", "?", "."]  # fmt: skip
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

CONFIGS = {
    "bert": {"model_type": "bert", "vocab_size": len(SPECIAL) + len(WORDS), "hidden_size": HIDDEN,
             "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "intermediate_size": INTERMEDIATE,
             "max_position_embeddings": POSITIONS, "type_vocab_size": 2, "hidden_act": "gelu",
             "layer_norm_eps": 1e-12},
    "roberta": {"model_type": "roberta", "vocab_size": 5 + 28, "hidden_size": HIDDEN, "num_hidden_layers": LAYERS,
                "num_attention_heads": HEADS, "intermediate_size": INTERMEDIATE, "hidden_dropout_prob": 0.1,
                "max_position_embeddings": POSITIONS + 2, "type_vocab_size": 1, "pad_token_id": 1},
    "distilbert": {"model_type": "distilbert", "vocab_size": len(SPECIAL) + len(WORDS), "dim": HIDDEN,
                   "n_layers": LAYERS, "n_heads": HEADS, "hidden_dim": INTERMEDIATE, "dropout": 0.1,
                   "max_position_embeddings": POSITIONS, "activation": "gelu"},
    "albert": {"model_type": "albert", "vocab_size": None, "embedding_size": 8, "hidden_size": HIDDEN,
               "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "intermediate_size": INTERMEDIATE,
               "num_hidden_groups": 1, "inner_group_num": 1, "attention_probs_dropout_prob": 0.0,
               "max_position_embeddings": POSITIONS, "type_vocab_size": 2},
}  # fmt: skip
PREFIX = {"bert": "bert."}  # BERT's converter asks for names without the prefix a task checkpoint adds
ARCHITECTURE = {"bert": "Bert", "distilbert": "DistilBert", "roberta": "Roberta", "albert": "Albert"}
# RoBERTa's byte-level BPE: its special tokens, "Ġ" (a space) and the letters, no merges beyond one.
BPE = ["<s>", "<pad>", "</s>", "<unk>", "<mask>", "\u0120", "\u0120t"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]


def _sentencepiece_model():
    """A SentencePiece model (the bytes of spiece.model) with ALBERT's special pieces, trained on the words."""
    import io

    import sentencepiece

    sentences = [" ".join(WORDS[k:] + WORDS[:k]) for k in range(len(WORDS))]
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=model, vocab_size=len(WORDS) + 8, model_type="word",
        pad_id=0, unk_id=1, bos_id=2, eos_id=3, pad_piece="<pad>", unk_piece="<unk>", bos_piece="[CLS]",
        eos_piece="[SEP]", user_defined_symbols="[MASK]", hard_vocab_limit=False,
    )  # fmt: skip
    proto = model.getvalue()
    return proto, sentencepiece.SentencePieceProcessor(model_proto=proto).get_piece_size()


class _Recorder:
    """Stands in for KerasHub's SafetensorLoader: records each tensor the converter reads, at its shape in
    Hugging Face's layout (a linear layer's weight is (out, in), attention projections unflattened)."""

    def __init__(self, prefix, rng):
        self.prefix, self.rng, self.tensors = prefix, rng, {}

    def get_tensor(self, name):
        raise KeyError(name)  # BERT's converter probes "LayerNorm.gamma" first: the file uses weight / bias

    def port_weight(self, keras_variable, hf_weight_key, hook_fn=None):
        wanted = list(keras_variable.shape)
        shape = list(wanted)
        name = self.prefix + hf_weight_key if not hf_weight_key.startswith(self.prefix) else hf_weight_key
        if len(shape) == 3:  # (hidden, heads, size) for q/k/v, (heads, size, hidden) for the output
            shape = [shape[1] * shape[2], shape[0]] if shape[0] == HIDDEN else [shape[2], shape[0] * shape[1]]
        elif len(shape) == 2 and hf_weight_key.endswith(".bias"):  # (heads, size)
            shape = [shape[0] * shape[1]]
        elif len(shape) == 2 and "embeddings" not in hf_weight_key:  # a Dense kernel (in, out)
            shape = shape[::-1]
        tensor = self.rng.normal(0.0, 0.2, shape).astype(np.float32)
        if hook_fn is not None and list(np.shape(hook_fn(tensor, wanted))) != wanted:  # RoBERTa's 2 extra rows
            tensor = self.rng.normal(0.0, 0.2, [shape[0] + 2, *shape[1:]]).astype(np.float32)
        self.tensors[name] = tensor


def write_folder(folder, model_type="bert", head=None, pooler=True, labels=None, seed=0):
    """Writes a Hugging Face folder of `model_type` ("bert", "distilbert", "roberta", "albert").

    Args:
        head: None (the bare encoder), "qa" (a *ForQuestionAnswering checkpoint: `qa_outputs`), or
            "classes" (a *ForSequenceClassification checkpoint of `labels`).
        pooler: keep BERT's pooler (a question-answering checkpoint has none).
        labels: the id2label names of a classification head.

    Returns:
        (folder, {head tensor name: array}).
    """
    import keras
    from safetensors.numpy import save_file

    converter = importlib.import_module(f"keras_hub.src.utils.transformers.convert_{model_type}")
    config = dict(CONFIGS[model_type])
    if model_type == "albert":
        spiece, config["vocab_size"] = _sentencepiece_model()
    keras.utils.set_random_seed(seed)
    backbone = converter.backbone_cls(**converter.convert_backbone_config(config))
    recorder = _Recorder(PREFIX.get(model_type, ""), np.random.default_rng(seed))
    converter.convert_weights(backbone, recorder, config)
    tensors = {k: v for k, v in recorder.tensors.items() if pooler or "pooler" not in k}
    rng = np.random.default_rng(seed + 1)
    heads = {}
    if head == "qa":
        heads = {"qa_outputs.weight": rng.normal(0, 1, (2, HIDDEN)), "qa_outputs.bias": rng.normal(0, 1, 2)}
        config["architectures"] = [f"{ARCHITECTURE[model_type]}ForQuestionAnswering"]
    elif head == "classes":
        count = len(labels)
        if model_type == "distilbert":
            heads["pre_classifier.weight"] = rng.normal(0, 0.2, (HIDDEN, HIDDEN))
            heads["pre_classifier.bias"] = rng.normal(0, 0.2, HIDDEN)
        if model_type == "roberta":  # RobertaClassificationHead: dense (tanh), then out_proj
            heads["classifier.dense.weight"] = rng.normal(0, 0.2, (HIDDEN, HIDDEN))
            heads["classifier.dense.bias"] = rng.normal(0, 0.2, HIDDEN)
            heads["classifier.out_proj.weight"] = rng.normal(0, 1, (count, HIDDEN))
            heads["classifier.out_proj.bias"] = rng.normal(0, 1, count)
        else:
            heads["classifier.weight"] = rng.normal(0, 1, (count, HIDDEN))
            heads["classifier.bias"] = rng.normal(0, 1, count)
        config["architectures"] = [f"{ARCHITECTURE[model_type]}ForSequenceClassification"]
        config["id2label"] = {str(k): name for k, name in enumerate(labels)}
        config["label2id"] = {name: k for k, name in enumerate(labels)}
    else:
        config["architectures"] = [f"{ARCHITECTURE[model_type]}Model"]
    heads = {k: np.asarray(v, np.float32) for k, v in heads.items()}
    folder.mkdir(parents=True, exist_ok=True)
    save_file({**tensors, **heads}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(config))
    if model_type == "albert":
        (folder / "spiece.model").write_bytes(spiece)
    elif model_type == "roberta":
        (folder / "vocab.json").write_text(json.dumps({token: k for k, token in enumerate(BPE)}))
        (folder / "merges.txt").write_text("#version: 0.2\n\u0120 t\n")
    else:
        (folder / "vocab.txt").write_text("\n".join(SPECIAL + WORDS) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    return folder, heads
