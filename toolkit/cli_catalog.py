"""What `toolkit train <task> --help` and `toolkit list` show, built from the task classes and their docstrings.

Each task's options are its constructor arguments; each option's help is the
argument's description from the `Args:` sections of the task's docstrings,
its type in words (`toolkit.params.describe`) and its default. Reading those
means importing the tasks, and so TensorFlow (seconds); so a copy is kept in
`cli_catalog.json` beside this file, from which `--help` and `toolkit list`
(tasks, their data forms and built-in datasets, backbones, strategies) are
answered without importing TensorFlow. A test fails when the copy differs from what the code
says; regenerate it with

    python -m toolkit.cli_catalog

A task installed from another package (a "toolkit.tasks" entry point not in
the copy) is read live, at the cost of the import.
"""

import importlib.metadata
import inspect
import json
import pathlib
import re
import sys

from toolkit.errors import ToolkitError

CATALOG_FILE = pathlib.Path(__file__).with_name("cli_catalog.json")
# Constructor arguments that take Python objects only, so they have no command-line option.
NOT_ON_COMMAND_LINE = ("callbacks",)


def args_section(doc):
    """{argument: description} from the Google-style `Args:` section of a docstring.

    Written here because the standard library has no docstring parser, and the
    `docstring_parser` package would be one more dependency for twenty lines.

    Examples:
        >>> args_section('''Trains.
        ...
        ...     Args:
        ...         epochs: most epochs to train
        ...             (early stopping may stop sooner).
        ...         l1, l2: penalties.
        ...
        ...     Returns:
        ...         self.
        ...     ''')
        {'epochs': 'most epochs to train (early stopping may stop sooner).', 'l1': 'penalties.', 'l2': 'penalties.'}
    """
    described, current, indent, inside = {}, None, None, False
    for line in inspect.cleandoc(doc or "").splitlines():
        stripped = line.strip()
        if not inside:
            inside = stripped == "Args:"
            continue
        if not stripped:
            current = None
            continue
        depth = len(line) - len(line.lstrip())
        if indent is None:
            indent = depth
        if depth < indent:  # the next section ("Returns:", "Example:")
            break
        match = re.match(r"(\*{0,2}\w+(?:, \w+)*)(?: \(.*?\))?: ?(.*)", stripped) if depth == indent else None
        if match:
            current = match.group(1).split(", ")  # "l1, l2: penalties ..." describes both
            described.update(dict.fromkeys(current, match.group(2)))
        elif current is not None:
            described.update({name: f"{described[name]} {stripped}".strip() for name in current})
    return described


def task_entry(task_class, description=None):
    """One task's help: its description and, per option, the flag, whether it is a switch, and the help text."""
    from toolkit import params

    described = {}
    for cls in reversed(task_class.__mro__):  # a subclass's description of an argument wins
        described.update(args_section(cls.__doc__))
        described.update(args_section(getattr(cls.__dict__.get("__init__"), "__doc__", None)))
    annotations = task_class.param_annotations()
    options = []
    for name, default in task_class.param_defaults().items():
        if name in NOT_ON_COMMAND_LINE:
            continue
        kind = params.describe(annotations[name]) if name in annotations else "a value"
        text = described.get(name, "").rstrip(".")
        options.append(
            {
                "name": name,
                "flag": "--" + name.replace("_", "-"),
                "switch": isinstance(default, bool),
                "help": f"{text} [{kind}; default: {default!r}]".strip(),
            }
        )
    summary = (inspect.getdoc(task_class) or task_class.task_name).splitlines()[0]
    return {
        "description": description or summary,
        "data": data_help(task_class),
        "datasets": dict(task_class.built_in_data),
        "backbones": task_class.accepted_backbones(),
        "options": options,
    }


def data_help(task_class):
    """What `--data` takes for a task, in words: its data forms and its built-in default, or that it has none."""
    forms = task_class.data_forms or "any form the task's fit takes"
    if task_class.default_data:
        default = f"default: the built-in {task_class.default_data!r}"
    else:
        default = "required: this task has no built-in dataset"
    return f"training data: {forms} ({default})"


def live(names=None):
    """The catalog of the registered tasks (all, or `names`), read from the code (imports them, and TensorFlow)."""
    from toolkit import _quiet

    _quiet.import_tensorflow_quietly()  # a no-op unless the package was imported for --help
    from toolkit.saving import TASKS

    names = TASKS.available() if names is None else names
    return {name: task_entry(TASKS.get(name), TASKS.metadata(name).get("description")) for name in names}


def live_catalog():
    """Everything `--help` and `toolkit list` answer from: the installed tasks' entries (those of the
    "toolkit.tasks" entry points, not tasks a process registers for itself), the from-scratch backbones
    and the fine-tuning strategies, with their descriptions (read from the code)."""
    tasks = live(sorted({point.name for point in importlib.metadata.entry_points(group="toolkit.tasks")}))
    from toolkit.backbones import BACKBONES
    from toolkit.finetune import STRATEGIES

    return {"tasks": tasks, "backbones": BACKBONES.descriptions(), "strategies": STRATEGIES.descriptions()}


def shipped():
    """The catalog as shipped (`cli_catalog.json`), plus tasks it lacks read live (entry points of other
    packages, or tasks registered in this process)."""
    catalog = json.loads(CATALOG_FILE.read_text()) if CATALOG_FILE.exists() else {}
    catalog.setdefault("tasks", {})
    names = {point.name for point in importlib.metadata.entry_points(group="toolkit.tasks")}
    if "toolkit.saving" in sys.modules:  # tasks registered in this process, if the core is loaded already
        names |= set(sys.modules["toolkit.saving"].TASKS.available())
    missing = sorted(names - set(catalog["tasks"]))
    if missing or not catalog.get("backbones"):
        full = live_catalog()
        catalog["tasks"].update(live(missing))
        for key in ("backbones", "strategies"):
            catalog[key] = {**full[key], **catalog.get(key, {})}
    catalog["tasks"] = dict(sorted(catalog["tasks"].items()))
    return catalog


def for_help():
    """The task entries `--help` uses (see `shipped`)."""
    return shipped()["tasks"]


def write(path=CATALOG_FILE):
    """Writes the live catalog to `path` (the shipped copy by default)."""
    pathlib.Path(path).write_text(json.dumps(live_catalog(), indent=1, sort_keys=True) + "\n")
    return path


if __name__ == "__main__":
    print(f"wrote {write()}")


LISTABLE = ("tasks", "backbones", "datasets", "strategies")


def print_listing(what, task, catalog):
    """Prints one listing from the catalog (`toolkit.cli_catalog.shipped`): no TensorFlow is imported, except
    for `backbones --task T`, whose KerasHub presets come from the installed KerasHub."""
    tasks = catalog["tasks"]
    if task is not None and task not in tasks:
        raise ToolkitError(
            f"Unknown task {task!r}.", expected=f"one of {sorted(tasks)}", fix="pass --task with one of those names"
        )
    if what == "tasks":
        rows = [(name, entry["description"]) for name, entry in tasks.items() if task in (None, name)]
    elif what == "datasets":
        rows = [
            (name, f"{description} [{task_name}]")
            for task_name, entry in tasks.items()
            if task in (None, task_name)
            for name, description in entry.get("datasets", {}).items()
        ]
    elif what == "backbones":
        names = tasks[task].get("backbones", []) if task else list(catalog["backbones"])
        rows = [(name, catalog["backbones"].get(name, "")) for name in names]
    else:
        rows = list(catalog["strategies"].items())
    for name, description in rows:
        print(f"{name:24s} {description}")
    if what == "datasets" and task is None:
        print("\nAny task also reads TensorFlow Datasets by name ('tfds:NAME'); `toolkit train TASK --help` names "
              "the data forms each reads.")  # fmt: skip
    if what == "backbones" and task:
        from toolkit import _quiet

        _quiet.import_tensorflow_quietly()
        from toolkit.saving import TASKS

        presets = TASKS.get(task).keras_hub_presets()
        if presets:
            print(
                f"\nPretrained KerasHub presets ({len(presets)}; downloaded on first use, or pass a local preset folder):"
            )
            for name in presets:
                print(f"  {name}")
