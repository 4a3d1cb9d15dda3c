"""Text-to-text decoding speed: the toolkit's compiled, cached `generate` against the loop it replaced,
same weights, same sources, same machine, back to back.

    python benchmarks/text_to_text_decoding.py --sources 2048 --repeats 3 [--no-xla]

Trains each backbone (`gru_attention`, `transformer_seq2seq`) on the built-in "dates" pairs for 3
epochs (speed does not depend on how well it learned, the text does not either: both paths must write
the same), then writes the targets of `--sources` held-out dates and of one date alone:

- toolkit: `t2t.generate(sources, decoder=...)` (the encoder once, one target token per step, the
  sampler's loop XLA-compiled; `decoding.Writer`);
- before: the loop `generate` ran until this change (KerasHub's sampler stepping in Python around one
  traced call of the whole model per token, the source re-read each step), kept here as the reference.

Prints sources per second (median of `--repeats`, after one call that compiles), the first call's
seconds (compilation included), how many texts differ between the two paths and each one's
exact-match accuracy against the true ISO dates.
"""

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def before(t2t, sources, decoder):
    """`TextToText._write` at 388f3c9 (the uncompiled loop), for `sources`."""
    import keras
    import keras_hub
    import tensorflow as tf

    from tasks.text_to_text.preprocessor import END, START

    step = t2t._inference_function(t2t.model_)
    length = t2t.target_length_ + 1
    sampler = (
        keras_hub.samplers.GreedySampler()
        if decoder == "greedy"
        else keras_hub.samplers.BeamSampler(num_beams=t2t.beam_width)
    )

    def next_token(prompt, cache, index):
        logits = step({"source": cache, "target": prompt})
        return keras.ops.take(logits, index - 1, axis=1), None, cache

    written = []
    for first in range(0, len(sources), 256):
        batch = sources[first : first + 256]
        source = t2t.preprocessor_.char_ids(tf.constant(batch)).to_tensor().numpy()
        prompt = np.zeros((len(batch), length), np.int32)
        prompt[:, 0] = START
        out = np.asarray(sampler(next_token, prompt, cache=source, index=1, stop_token_ids=[END]))
        written += t2t._texts(out)  # ids -> text as the task reads them
    return written


def timed(function, repeats):
    start = time.perf_counter()
    function()  # compiles / traces
    first = time.perf_counter() - start
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return first, float(np.median(seconds))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sources", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--no-xla", action="store_true", help="compile the loop without XLA")
    args = parser.parse_args()
    from tasks import TextToText
    from tasks.text_to_text import data as pairs_lib

    pairs = pairs_lib.date_pairs(count=args.sources, seed=7)  # other dates than training's (seed 0)
    sources, targets = [s for s, _ in pairs], [t for _, t in pairs]
    for backbone in ("gru_attention", "transformer_seq2seq"):
        t2t = TextToText(backbone=backbone, epochs=args.epochs, verbose=0, save_dir=tempfile.mkdtemp()).fit("dates")
        if args.no_xla:
            from tasks.text_to_text import decoding

            t2t.__dict__["_writer"] = decoding.Writer(t2t.model_, jit_compile=False)
        for decoder in ("greedy", "beam"):
            row = {"backbone": backbone, "decoder": decoder, "sources": len(sources), "xla": not args.no_xla}
            mine, old = t2t.generate(sources, decoder=decoder), before(t2t, sources, decoder)
            # Float sums differ in the last bits between compiled graphs and batch shapes (the old loop
            # itself writes another text for a few dates in a batch of 208 than alone), which can flip
            # a near tie: the count of differing texts, and each path's exact-match accuracy.
            row["texts_differing_from_before"] = sum(m != o for m, o in zip(mine, old))
            row["exact_match"] = {
                "toolkit": round(float(np.mean([m == t for m, t in zip(mine, targets)])), 4),
                "before": round(float(np.mean([o == t for o, t in zip(old, targets)])), 4),
            }
            for name, texts in (("many", sources), ("one", sources[:1])):
                first, toolkit = timed(lambda s=texts, t=t2t, d=decoder: t.generate(s, decoder=d), args.repeats)
                first_before, old = timed(lambda s=texts, t=t2t, d=decoder: before(t, s, d), args.repeats)
                row[name] = {
                    "sources_per_second": {
                        "toolkit": round(len(texts) / toolkit, 1),
                        "before": round(len(texts) / old, 1),
                    },
                    "first_call_seconds": {"toolkit": round(first, 2), "before": round(first_before, 2)},
                    "toolkit_over_before": round(old / toolkit, 2),
                }
            row["load_average"] = round(os.getloadavg()[0], 2)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
