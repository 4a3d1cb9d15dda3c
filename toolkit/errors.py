"""The one error type the toolkit raises for problems the user can fix."""


class ToolkitError(ValueError):
    """An error in what the user passed: what was found, what was expected, the fix.

    Follows Keras' three-part error rule. The CLI prints it as one message and
    exits non-zero instead of showing a traceback.

    Args:
        problem: what was found, naming the file, argument or value.
        expected: what the toolkit expected instead.
        fix: how the user can fix it.

    Examples:
        >>> raise ToolkitError("Folder 'x' is empty.", expected="class subfolders",
        ...                    fix="point data= at a folder of class subfolders")
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: Folder 'x' is empty.
        Expected: class subfolders
        Fix: point data= at a folder of class subfolders
    """

    def __init__(self, problem, expected=None, fix=None):
        parts = [problem]
        if expected:
            parts.append(f"Expected: {expected}")
        if fix:
            parts.append(f"Fix: {fix}")
        super().__init__("\n".join(parts))


def require(module, extra, purpose):
    """Imports `module`, or raises a `ToolkitError` naming the package extra that installs it.

    Serving and export depend on packages training does not need; they are the `[serve]` and
    `[export]` extras, and a command that needs one says which.

    Examples:
        >>> require("json", "serve", "toolkit serve").__name__
        'json'
        >>> require("no_such_module_here", "export", "ONNX export")
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: ONNX export needs the Python package 'no_such_module_here', which is not installed.
        Expected: keras-toolkit installed with its [export] extra
        Fix: pip install "keras-toolkit[export]" (from a checkout: pip install -e ".[export]")
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name != module.split(".")[0]:
            raise
        raise ToolkitError(
            f"{purpose} needs the Python package '{error.name}', which is not installed.",
            expected=f"keras-toolkit installed with its [{extra}] extra",
            fix=f'pip install "keras-toolkit[{extra}]" (from a checkout: pip install -e ".[{extra}]")',
        ) from None
