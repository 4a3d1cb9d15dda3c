"""Run directories: where a run's config, model, history and metrics live.

``<save_dir>/<task_dir>/<run_name>/`` holds ``config.json``, ``model.keras``,
``history.csv``, ``metrics.json``, ``checkpoints/`` while training and
``tuner/`` when tuning. Every file the toolkit writes here is written to a
temporary name and renamed, so a killed run never leaves half a file.
"""

import datetime
import json
import os
import pathlib
import shutil
import socket
import tempfile

from toolkit import files
from toolkit.errors import ToolkitError

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
CHECKPOINT_DIR = "checkpoints"
# Written last by fit, after the model, metrics and history: a run is finished only when it exists.
FINISHED_FILE = "finished.json"
LOG_FILE = "log.txt"  # what the run said (data, phases, estimates, scores), with times; appended on resume


def task_dir_name(task_name):
    """`image-classification` -> `image_classification`.

    Examples:
        >>> task_dir_name("image-classification")
        'image_classification'
    """
    return task_name.replace("-", "_")


def check_save_dir(save_dir):
    """Raises a clear error, before any data is read, when runs cannot be written under `save_dir`.

    The folder need not exist yet: its nearest existing parent must be a folder this
    process may write in.

    Examples:
        >>> import tempfile
        >>> check_save_dir(pathlib.Path(tempfile.mkdtemp()) / "new" / "runs")
        >>> a_file = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
        >>> _ = a_file.write_text("x")
        >>> check_save_dir(a_file / "runs")
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: save_dir '.../notes.txt/runs' cannot hold runs: '.../notes.txt' is a file, not a folder.
        ...
    """
    path = pathlib.Path(save_dir)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    problem = None
    if not existing.is_dir():
        problem = f"'{existing}' is a file, not a folder"
    else:
        try:  # a real write, not os.access: that says yes to root on a read-only file system
            with tempfile.TemporaryFile(dir=existing):
                pass
        except OSError as error:
            problem = f"a file could not be written in '{existing}' ({error.strerror or error})"
    if problem:
        raise ToolkitError(
            f"save_dir '{path}' cannot hold runs: {problem}.",
            expected="a folder you can write in (it is created if missing)",
            fix="pass another save_dir (CLI: --save-dir), e.g. one under your home folder",
        )


def prepare_run_dir(save_dir, task_name, run_name=None, overwrite=False):
    """Creates (or reopens, to resume) the run directory and returns its path.

    A directory that already holds a finished run (`is_finished`) is the
    user's result: it is only replaced when `overwrite` is true. Any other
    is an interrupted run, reopened so training and tuning resume.

    Examples:
        >>> import tempfile
        >>> root = tempfile.mkdtemp()
        >>> prepare_run_dir(root, "image-classification", "first").name
        'first'
        >>> run_dir = prepare_run_dir(root, "image-classification", "first")  # unfinished: reopened to resume
        >>> (run_dir / MODEL_FILE).touch()  # killed while saving: still unfinished
        >>> prepare_run_dir(root, "image-classification", "first").name
        'first'
        >>> files.write_json(run_dir / FINISHED_FILE, {})  # now it holds a finished run
        >>> prepare_run_dir(root, "image-classification", "first")
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: Run directory '...first' already holds a finished run.
        ...
    """
    root = pathlib.Path(save_dir) / task_dir_name(task_name)
    if run_name is None:
        return _new_timestamped_dir(root)
    run_dir = root / run_name
    if is_finished(run_dir) and not overwrite:
        raise ToolkitError(
            f"Run directory '{run_dir}' already holds a finished run.",
            expected="a new run name, or the name of an interrupted run to resume",
            fix="pass another run_name (CLI: --run-name), or overwrite=True (CLI: --overwrite) to replace it",
        )
    if overwrite and is_finished(run_dir):
        for name in (FINISHED_FILE, MODEL_FILE, METRICS_FILE, HISTORY_FILE):
            if (run_dir / name).exists():
                (run_dir / name).unlink()
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def run_folder(save_dir, task_name, run_name):
    """`<save_dir>/<task>/<run_name>`, made if missing (a distributed search's worker writes its trials there)."""
    folder = pathlib.Path(save_dir) / task_dir_name(task_name) / run_name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def remove_checkpoints(run_dir):
    """Removes a finished run's `checkpoints/` (the best weights are in model.keras by then)."""
    shutil.rmtree(pathlib.Path(run_dir) / CHECKPOINT_DIR, ignore_errors=True)


def is_finished(run_dir):
    """True when fit finished this run: its final marker exists.

    A run written before the marker existed counts as finished when it holds its
    model and metrics and no checkpoints (fit removed them as its last step then).
    Anything less is a run that was interrupted, which fit resumes or completes.

    Examples:
        >>> import tempfile
        >>> run = pathlib.Path(tempfile.mkdtemp())
        >>> (run / MODEL_FILE).touch(); (run / CHECKPOINT_DIR).mkdir()
        >>> is_finished(run)  # killed after writing the model, before the metrics
        False
        >>> files.write_json(run / FINISHED_FILE, {}); is_finished(run)
        True
    """
    run_dir = pathlib.Path(run_dir)
    if (run_dir / FINISHED_FILE).exists():
        return True
    return (
        (run_dir / MODEL_FILE).exists()
        and (run_dir / METRICS_FILE).exists()
        and not (run_dir / CHECKPOINT_DIR).exists()
    )


def _new_timestamped_dir(root):
    """A new folder named by the time; `mkdir` without `exist_ok` is atomic, so two runs started in the
    same second never share one (the second gets a suffix) and never resume each other's backups."""
    root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    for suffix in range(1, 10_000):
        run_dir = root / (stamp if suffix == 1 else f"{stamp}-{suffix}")
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue
    raise ToolkitError(
        f"Could not create a new run folder under '{root}' for {stamp}.",
        expected="a free run name",
        fix="pass run_name=",
    )


LOCK_FILE = "run.lock"


class RunLock:
    """An exclusive claim on a run folder while one process trains in it.

    `acquire` creates `run.lock` atomically (O_EXCL) with the owner's pid and host. A second
    process gets a clear error naming the owner; a lock left by a process of this host that
    is no longer running (killed) is reclaimed. `release` removes the file (safe to call twice).
    Written by hand: the standard library's `fcntl.flock` does not say who holds a lock, and a
    file-based claim also holds across the network file systems that runs are often saved to.

    Examples:
        >>> import tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> lock = RunLock(folder).acquire()
        >>> RunLock(folder).acquire()
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: Run folder '...' is in use by another training process (pid ...).
        ...
        >>> lock.release(); (folder / LOCK_FILE).exists()
        False
    """

    def __init__(self, folder):
        self.path = pathlib.Path(folder) / LOCK_FILE
        self.held = False

    def acquire(self):
        owner = {"pid": os.getpid(), "host": socket.gethostname()}
        for _ in range(2):  # a second try after reclaiming a dead owner's lock
            try:
                handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                holder = self._holder()
                if (
                    holder is not None
                    and holder.get("host") == owner["host"]
                    and not files._alive(holder.get("pid", -1))
                ):
                    self.path.unlink(missing_ok=True)  # stale: its process was killed
                    continue
                if holder is None:  # being written this instant, or unreadable: treat as held
                    holder = {}
                raise ToolkitError(
                    f"Run folder '{self.path.parent}' is in use by another training process "
                    f"(pid {holder.get('pid', '?')} on {holder.get('host', '?')}).",
                    expected="one process per run folder",
                    fix="wait for that run to finish, or pass another run_name (CLI: --run-name); if that process "
                    f"is gone (another machine), delete '{self.path}'",
                ) from None
            with os.fdopen(handle, "w") as f:
                json.dump(owner, f)
            self.held = True
            return self
        raise ToolkitError(f"Could not claim run folder '{self.path.parent}'.", fix="try again")

    def _holder(self):
        try:
            holder = json.loads(self.path.read_text())
            return holder if isinstance(holder, dict) else None
        except (OSError, ValueError):
            return None

    def release(self):
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


def remove_if_empty(folder):
    """Removes `folder` when it holds no file at all (only empty sub-folders): what a run that failed
    before writing anything leaves behind. A folder holding anything (checkpoints to resume from) stays.

    Examples:
        >>> import tempfile
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> (root / "run" / "checkpoints").mkdir(parents=True)
        >>> remove_if_empty(root / "run"); (root / "run").exists()
        False
    """
    folder = pathlib.Path(folder)
    if folder.is_dir() and not any(path.is_file() and path != folder / LOG_FILE for path in folder.rglob("*")):
        shutil.rmtree(folder, ignore_errors=True)


class Run:
    """One training run's folder, held for the length of a `with` block: the run's life cycle in one place.

    Entering makes (or reopens, to resume) `<save_dir>/<task>/<run_name>/`, takes its lock, attaches the
    run's log and removes temporary files a killed process left. Leaving on an error removes what this
    process half-wrote, and the folder itself (and an empty task folder) when the run wrote nothing to
    resume from; a full disk becomes an error that says where and how much room the run needs
    (`size_probe()`, the model, when it can be built). `finish()` writes the finished marker.

    Examples:
        >>> import tempfile
        >>> root = tempfile.mkdtemp()
        >>> with Run(root, "toy", "first") as run:
        ...     _ = files.write_json(run.dir / METRICS_FILE, {"test": {"accuracy": 1.0}})
        ...     run.finish()
        >>> is_finished(run.dir), (run.dir / LOCK_FILE).exists()
        (True, False)
        >>> with Run(root, "toy", "second") as run:
        ...     raise ValueError("stopped before writing anything")
        Traceback (most recent call last):
        ...
        ValueError: stopped before writing anything
        >>> run.dir.exists()
        False
    """

    def __init__(self, save_dir, task_name, run_name=None, overwrite=False, log=None, size_probe=None):
        self.save_dir, self.task_name, self.run_name, self.overwrite = save_dir, task_name, run_name, overwrite
        self.log, self.size_probe = log, size_probe
        self.dir, self.lock = None, None

    def __enter__(self):
        self.dir = prepare_run_dir(self.save_dir, self.task_name, self.run_name, self.overwrite)
        self.lock = RunLock(self.dir).acquire()  # one process per run folder
        if self.log is not None:
            self.log.attach(self.dir)
        files.remove_dead_temporaries(self.dir)
        return self

    def finish(self):
        """Marks the run finished (what `is_finished` and `toolkit.load` look for)."""
        files.write_json(self.dir / FINISHED_FILE, {"finished": datetime.datetime.now().isoformat(timespec="seconds")})

    def discard(self):
        """Removes the folder (a multi-worker run's other worker: the chief's folder holds the run)."""
        self.lock.release()
        shutil.rmtree(self.dir, ignore_errors=True)
        remove_if_empty(self.dir.parent)

    def __exit__(self, kind, error, traceback):
        self.lock.release()  # first: the lock file would keep an otherwise empty folder from being removed
        if error is None:
            return False
        files.remove_dead_temporaries(self.dir, including_mine=True)  # half-written files of a failed write
        remove_if_empty(self.dir)  # a run that failed before writing anything leaves no folder,
        remove_if_empty(self.dir.parent)  # nor an empty task folder it made in save_dir
        if files.is_disk_full(error):
            model = self.size_probe() if self.size_probe is not None else None
            raise files.disk_full_error(self.dir, model) from None
        return False


class RunLog:
    """The lines a run says, kept in its folder's `LOG_FILE` with the time of each. Lines said before the
    folder exists (the data summary) are held and written when it is attached; each line is appended and
    closed at once, so a killed run keeps what it said.

    Examples:
        >>> import tempfile
        >>> log = RunLog()
        >>> log.write("Training on 100 images.")
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> log.attach(folder); log.write("Estimated: about 2 min for up to 30 epochs.")
        >>> [line[20:] for line in (folder / LOG_FILE).read_text().splitlines()]
        ['Training on 100 images.', 'Estimated: about 2 min for up to 30 epochs.']
    """

    def __init__(self):
        self.path, self.held = None, []

    def write(self, message):
        stamp = datetime.datetime.now().isoformat(sep=" ", timespec="seconds")
        self.held.extend(f"{stamp} {line}" for line in str(message).splitlines() or [""])
        if self.path is not None:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write("\n".join(self.held) + "\n")
            self.held = []

    def attach(self, folder):
        self.path = pathlib.Path(folder) / LOG_FILE
        if self.held:
            self.held, lines = [], self.held
            with open(self.path, "a", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
