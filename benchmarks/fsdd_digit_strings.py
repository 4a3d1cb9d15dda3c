"""Speech-to-text on spoken digit strings built from FSDD (train takes 5-49, test takes 0-4).

    python benchmarks/fsdd_digit_strings.py --train 1500 --test 200
    python benchmarks/fsdd_digit_strings.py --test 200 --rescore saved_models/speech_recognition/<run>

Builds the utterances with `tasks.speech.digits.digit_strings`, trains the
from-scratch CTC recognizer, and scores CER / WER on the test utterances with
greedy and beam-search decoding. Prints one JSON line.
"""

import argparse
import json
import os
import pathlib
import resource
import tempfile
import time

DATA = pathlib.Path(os.environ.get("TOOLKIT_DATA", pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", type=int, default=1500)
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--backbone", default="ctc_gru")
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rescore", default=None, help="score a trained run again instead of training")
    args = parser.parse_args()

    from tasks import SpeechRecognizer
    from tasks.speech.digits import digit_strings

    folder = DATA / "fsdd" / "recordings"
    train = digit_strings(folder, "train", args.train, seed=args.seed)
    test = digit_strings(folder, "test", args.test, seed=args.seed + 1)
    kwargs = {"epochs": args.epochs} if args.epochs else {}
    if args.learning_rate:
        kwargs["learning_rate"] = args.learning_rate
    start = time.time()
    if args.rescore:
        import toolkit

        asr = toolkit.load(args.rescore)
    else:
        asr = SpeechRecognizer(
            backbone=args.backbone, test_split=0, seed=args.seed, save_dir=tempfile.mkdtemp(), verbose=2, **kwargs
        ).fit(train)
    seconds = time.time() - start
    greedy = asr.evaluate(test)
    asr.decoder = "beam"
    beam = asr.evaluate(test)
    print(
        json.dumps(
            {
                "backbone": args.backbone,
                "train_utterances": args.train,
                "test_utterances": args.test,
                "test_cer_greedy": round(greedy["cer"], 4),
                "test_wer_greedy": round(greedy["wer"], 4),
                "test_cer_beam": round(beam["cer"], 4),
                "test_wer_beam": round(beam["wer"], 4),
                "test_exact_match_greedy": round(greedy["exact_match"], 4),
                "examples": greedy["examples"][:3],
                "rescored": args.rescore,
                "learning_rate": asr._learning_rate(),
                "epochs_run": len(asr.history_.get("loss", [])),
                "seconds": round(seconds, 1),
                "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
