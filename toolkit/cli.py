"""The `toolkit` command: train, evaluate, predict and list.

    toolkit train image-classification --data photos/ --epochs 10
    toolkit evaluate saved_models/image_classification/<run> --data photos_test/
    toolkit predict saved_models/image_classification/<run> cat.jpg
    toolkit serve saved_models/image_classification/<run> --port 8000
    toolkit export saved_models/image_classification/<run> --format onnx
    toolkit report saved_models/image_classification/<run>
    toolkit list backbones --task image-classification
    toolkit lr-find image-classification --data photos/ --backbone resnet
    toolkit train image-classification --data photos/ --tune --run-name s --chief 0.0.0.0:8000
    toolkit tune-worker image-classification --data photos/ --tune --run-name s --oracle chief-host:8000

`train` options come from the task's constructor arguments (`--batch-size`
for `batch_size`), so every argument a task takes is reachable here.
"""

import argparse
import inspect
import json
import os
import pathlib
import sys

from toolkit import cli_catalog, params
from toolkit.errors import ToolkitError


def _data_help(entry):
    """--data's help: the task's data forms and default from its catalog entry (escaped for argparse)."""
    return entry.get("data", "training data (default: the task's built-in dataset)").replace("%", "%%")


def _add_task_options(parser, entry):
    """One option per constructor argument of a task, from its catalog entry (`toolkit.cli_catalog`)."""
    for option in entry["options"]:
        help_text = option["help"].replace("%", "%%")  # argparse formats help with %
        if option["switch"]:
            parser.add_argument(
                option["flag"],
                dest=option["name"],
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        else:
            # Kept as text here and parsed with the argument's declared type in `task_options`, so a bad
            # value is one three-part error like every other (argparse's own would be a usage line).
            parser.add_argument(
                option["flag"], dest=option["name"], default=argparse.SUPPRESS, metavar="VALUE", help=help_text
            )


def task_options(task_class, options):
    """Parses `train` option texts with each constructor argument's declared type (see `toolkit.params`).

    Examples:
        >>> from tasks import SpeechClassifier
        >>> task_options(SpeechClassifier, {"run_name": "2024", "label_pattern": "^([0-9]{1,2})_", "augment": "noise"})
        {'run_name': '2024', 'label_pattern': '^([0-9]{1,2})_', 'augment': ('noise',)}
        >>> task_options(SpeechClassifier, {"sample_rate": "8k"})
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: --sample-rate '8k' is not valid.
        Expected: an integer, or None
        Fix: pass --sample-rate <an integer, or None>
    """
    annotations = task_class.param_annotations()
    parsed = {}
    for name, value in options.items():
        if not isinstance(value, str) or name not in annotations:
            parsed[name] = value
            continue
        flag = "--" + name.replace("_", "-")
        try:
            parsed[name] = params.parse(value, annotations[name])
        except ValueError:
            kind = params.describe(annotations[name])
            raise ToolkitError(f"{flag} {value!r} is not valid.", expected=kind, fix=f"pass {flag} <{kind}>") from None
    return parsed


def build_parser(catalog=None):
    """The argument parser of the `toolkit` command; `train` and `lr-find` get one sub-command per task.

    Args:
        catalog: {task: help entry} from `toolkit.cli_catalog`; default: read from the code.

    Examples:
        >>> args = build_parser().parse_args(["predict", "runs/pets", "cat.jpg"])
        >>> args.command, args.run_dir, args.inputs
        ('predict', 'runs/pets', ['cat.jpg'])
    """
    if catalog is None:
        catalog = cli_catalog.live()
    parser = argparse.ArgumentParser(prog="toolkit", description="Train, evaluate and use deep-learning models.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a task and save the run")
    task_parsers = train.add_subparsers(dest="task", required=True, metavar="TASK")
    for name, entry in catalog.items():
        task_parser = task_parsers.add_parser(name, help=entry["description"], description=entry["description"])
        task_parser.add_argument("--data", default=None, help=_data_help(entry))
        task_parser.add_argument("--validation-data", default=None, help="validation data (default: a seeded split)")
        task_parser.add_argument(
            "--chief",
            default=None,
            metavar="HOST:PORT",
            help="with --tune: serve the search to `toolkit tune-worker` processes at HOST:PORT (0.0.0.0:PORT "
            "listens on every interface), wait for their trials, then train the winner here",
        )
        _add_task_options(task_parser, entry)

    worker = commands.add_parser("tune-worker", help="run trials for the chief of a distributed search")
    worker_tasks = worker.add_subparsers(dest="task", required=True, metavar="TASK")
    for name, entry in catalog.items():
        task_parser = worker_tasks.add_parser(name, help=entry["description"], description=entry["description"])
        task_parser.add_argument("--oracle", required=True, metavar="HOST:PORT", help="the chief's --chief address")
        task_parser.add_argument("--worker-id", default=None, help="this worker's name (default: host and pid)")
        task_parser.add_argument("--data", default=None, help="the chief's training data")
        task_parser.add_argument("--validation-data", default=None, help="the chief's validation data")
        _add_task_options(task_parser, entry)

    finder = commands.add_parser("lr-find", help="learning-rate range test: suggest a learning rate, plot the curve")
    finder_tasks = finder.add_subparsers(dest="task", required=True, metavar="TASK")
    for name, entry in catalog.items():
        task_parser = finder_tasks.add_parser(name, help=entry["description"], description=entry["description"])
        task_parser.add_argument("--data", default=None, help=_data_help(entry))
        task_parser.add_argument("--min-rate", type=float, default=1e-7, help="lowest rate swept (default 1e-7)")
        task_parser.add_argument("--max-rate", type=float, default=1.0, help="highest rate swept (default 1)")
        task_parser.add_argument("--steps", type=int, default=100, help="training steps in the sweep (default 100)")
        _add_task_options(task_parser, entry)

    evaluate = commands.add_parser("evaluate", help="score a saved run on data")
    evaluate.add_argument("run_dir")
    evaluate.add_argument("--data", required=True)

    predict = commands.add_parser("predict", help="predict with a saved run (or sample from a generative one)")
    predict.add_argument("run_dir")
    predict.add_argument("inputs", nargs="*", help="input files (or text, for text tasks)")
    predict.add_argument("--num-samples", type=int, default=None, help="image generation: draw this many new images")
    predict.add_argument("--label", default=None, help="image generation: the class to draw (conditional GANs)")
    predict.add_argument("--seed", type=int, default=0, help="image generation: seed of the samples (default 0)")
    predict.add_argument(
        "--output",
        default=None,
        help="image generation: the PNG grid to write (default samples.png); image segmentation: a folder "
        "for the masks as PNG files. Existing files are never overwritten",
    )
    predict.add_argument(
        "--overlays",
        action="store_true",
        help="image segmentation: also write each image with its mask coloured on top and a legend of the "
        "classes (into --output, default <run>/predictions)",
    )
    predict.add_argument(
        "--draw",
        default=None,
        metavar="DIR",
        help="object detection: also write each image with its labelled boxes into DIR (existing files are "
        "never overwritten)",
    )

    exporter = commands.add_parser(
        "export", help="write a saved run as SavedModel, LiteRT or ONNX, checked against the Keras model"
    )
    exporter.add_argument("run_dir")
    exporter.add_argument("--format", choices=("savedmodel", "litert", "onnx"), default="savedmodel")
    exporter.add_argument(
        "--quantize", choices=("int8",), default=None, help="LiteRT int8 post-training quantisation (reports accuracy)"
    )
    exporter.add_argument(
        "--output", default=None, help="where to write (default: RUN_DIR/exports/model, plus .tflite / .onnx)"
    )

    reporter = commands.add_parser("report", help="write a run's report.html (and its plots as PNG files) again")
    reporter.add_argument("run_dir")
    comparer = commands.add_parser("compare", help="one HTML page with several runs' scores and curves")
    comparer.add_argument("run_dirs", nargs="+")
    comparer.add_argument("--output", default="comparison.html", help="the page to write (default comparison.html)")

    server = commands.add_parser(
        "serve", help="serve a saved run over HTTP (POST /predict, GET /health, /metadata, /metrics)"
    )
    server.add_argument("run_dir")
    server.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    server.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    server.add_argument(
        "--max-upload-mb", type=float, default=20, help="largest request accepted, in MB (default 20; larger: 413)"
    )
    server.add_argument(
        "--workers", type=int, default=1, help="server processes, each with its own copy of the model (default 1)"
    )
    server.add_argument(
        "--max-batch", type=int, default=64, help="most inputs one prediction takes from concurrent requests (64)"
    )
    server.add_argument(
        "--batch-wait-ms",
        type=float,
        default=0.0,
        help="how long a batch waits for more requests (default 0: it takes those already waiting, so a lone "
        "request never waits)",
    )
    server.add_argument(
        "--max-queue", type=int, default=256, help="most requests waiting for the model; more get a 503 (256)"
    )

    listing = commands.add_parser("list", help="list tasks, backbones, datasets or fine-tuning strategies")
    listing.add_argument("what", nargs="?", choices=cli_catalog.LISTABLE, help="what to list (default: all)")
    listing.add_argument("--task", default=None, help="only what fits this task")
    return parser


def main(argv=None):
    """Entry point of the `toolkit` console script. Returns the exit status.

    Examples:
        >>> main(["list", "strategies"])
        freeze                   backbone frozen; only the head trains
        freeze_then_unfreeze     head first with the backbone frozen, then all layers at a tenth of the rate, backbone slower
        full                     train every layer from the start
        0
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if "-h" in argv or "--help" in argv:
        # Answered from the shipped catalog, without importing TensorFlow; argparse prints and exits.
        build_parser(cli_catalog.for_help()).parse_args(argv)
    if argv[:1] == ["list"]:  # answered from the catalog too
        catalog = cli_catalog.shipped()
        args = build_parser(catalog["tasks"]).parse_args(argv)
        try:
            for i, what in enumerate([args.what] if args.what else cli_catalog.LISTABLE):
                if not args.what:
                    print(("\n" if i else "") + what.capitalize() + ":")
                cli_catalog.print_listing(what, args.task, catalog)
        except ToolkitError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        return 0
    from toolkit import _quiet

    _quiet.import_tensorflow_quietly()
    from toolkit.saving import TASKS, load

    try:
        args = build_parser().parse_args(argv)
        if args.command == "tune-worker":
            from toolkit import tuning

            os.environ.update(tuning.distributed_variables("worker", args.oracle, args.worker_id))
            skip = ("command", "task", "data", "validation_data", "oracle", "worker_id")
            options = {k: v for k, v in vars(args).items() if k not in skip}
            task_class = TASKS.get(args.task)
            ran = task_class(**task_options(task_class, options)).tune_worker(args.data, args.validation_data)
            print(json.dumps({"trials": ran}))
        elif args.command == "train":
            skip = ("command", "task", "data", "validation_data", "chief")
            options = {k: v for k, v in vars(args).items() if k not in skip}
            task_class = TASKS.get(args.task)
            if args.chief:
                from toolkit import tuning

                if not options.get("tune"):
                    raise ToolkitError(
                        "--chief serves a hyperparameter search, and this run has none.",
                        expected="--tune with --chief",
                        fix="add --tune (and start workers with `toolkit tune-worker`)",
                    )
                os.environ.update(tuning.distributed_variables("chief", args.chief))
            task = task_class(**task_options(task_class, options)).fit(args.data, args.validation_data)
            found = {
                "run_dir": task.run_dir,
                "test": _headline(task.metrics_["test"]),
                "validation": _headline(task.metrics_["validation"]),
            }
            if task.best_hyperparameters_ is not None:
                found["best_hyperparameters"] = task.best_hyperparameters_
            print(json.dumps(found))
        elif args.command == "lr-find":
            sweep = ("min_rate", "max_rate", "steps")
            options = {k: v for k, v in vars(args).items() if k not in ("command", "task", "data", *sweep)}
            task_class = TASKS.get(args.task)
            task = task_class(**task_options(task_class, options))
            finding = task.find_learning_rate(args.data, **{k: getattr(args, k) for k in sweep})
            print(
                json.dumps(
                    {
                        "suggested_learning_rate": finding.suggested,
                        "steepest": finding.steepest,
                        "plot": finding.plot,
                        "csv": finding.csv,
                    }
                )
            )
        elif args.command == "report":
            from toolkit import report

            contents = load(args.run_dir).report_contents()
            print(json.dumps({"report": str(report.write_report(args.run_dir, **contents))}))
        elif args.command == "compare":
            from toolkit import report

            records = [(d, t.task_name, t.metrics_, t.monitor) for d, t in ((d, load(d)) for d in args.run_dirs)]
            print(json.dumps({"comparison": str(report.compare(records, args.output))}))
        elif args.command == "export":
            output = args.output or str(pathlib.Path(args.run_dir) / "exports" / "model")
            pathlib.Path(output).parent.mkdir(parents=True, exist_ok=True)
            print(json.dumps(load(args.run_dir).export(output, args.format, quantize=args.quantize), indent=2))
        elif args.command == "serve":
            from toolkit import serve

            serve.serve(
                load(args.run_dir), host=args.host, port=args.port, max_upload_mb=args.max_upload_mb,
                workers=args.workers, max_batch=args.max_batch, wait_ms=args.batch_wait_ms, max_queue=args.max_queue,
            )  # fmt: skip
        elif args.command == "evaluate":
            print(json.dumps(load(args.run_dir).evaluate(args.data), indent=2))
        elif args.command == "predict":
            task = load(args.run_dir)
            if args.num_samples is not None:
                path = task.write_samples(
                    args.output or "samples.png", args.num_samples, seed=args.seed, label=args.label
                )
                print(json.dumps({"samples": str(path), "count": args.num_samples, "seed": args.seed}))
                return 0
            if not args.inputs:
                raise ToolkitError(
                    "predict got no inputs.",
                    expected="input files (or texts) after the run folder, or --num-samples N for a generative run",
                    fix=f"toolkit predict {args.run_dir} photo.jpg",
                )
            classes = getattr(task, "classes_", None)
            if args.output is not None or args.overlays:
                if not hasattr(task, "write_predictions"):
                    raise ToolkitError(
                        f"--output / --overlays do not apply to {task.task_name} predictions.",
                        expected="a segmentation run (mask files), or --num-samples N for a generative run",
                        fix="drop --output / --overlays; predictions are printed",
                    )
                folder = args.output or str(pathlib.Path(args.run_dir) / "predictions")
                for source, (mask, files) in zip(
                    args.inputs, task.write_predictions(args.inputs, folder, args.overlays)
                ):
                    print(f"{source}\t{json.dumps({**_printable(mask, classes), **files})}")
                return 0
            sources, inputs = args.inputs, args.inputs
            options = {}
            if args.draw is not None:
                if "draw" not in inspect.signature(task.predict).parameters:
                    raise ToolkitError(
                        f"--draw does not apply to {task.task_name} predictions.",
                        expected="an object-detection run",
                        fix="drop --draw; predictions are printed",
                    )
                options["draw"] = args.draw
            if hasattr(task, "read_inputs"):  # tasks whose inputs are records in files (question answering)
                sources, inputs = task.read_inputs(args.inputs)
            for source, answer in zip(sources, task.predict(inputs, **options)):
                print(f"{source}\t{json.dumps(_printable(answer, classes))}")
        return 0
    except ToolkitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command with the same --run-name to resume", file=sys.stderr)
        return 130


def _printable(answer, classes):
    """A prediction as JSON-ready data: dicts lose their tables; masks become their shape and pixel counts."""
    if isinstance(answer, dict):
        return _headline(answer)
    if hasattr(answer, "shape"):  # a segmentation mask
        import numpy as np

        values, counts = np.unique(answer, return_counts=True)
        name = lambda v: classes[int(v)] if classes else int(v)  # noqa: E731
        return {"shape": list(answer.shape), "pixels": {str(name(v)): int(c) for v, c in zip(values, counts)}}
    return answer


def _headline(metrics):
    """The scalar entries of a metrics or prediction dict (drops per-class tables)."""
    if metrics is None:
        return None
    return {k: v for k, v in metrics.items() if not isinstance(v, (dict, list)) and not hasattr(v, "shape")}


if __name__ == "__main__":
    sys.exit(main())
