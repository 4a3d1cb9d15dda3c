"""The one error type the toolkit raises for problems the user can fix."""


class ToolkitError(ValueError):
    """An error in what the user passed: what was found, what was expected, the fix.

    Follows Keras' three-part error rule. The CLI prints it as one message and
    exits non-zero instead of showing a traceback.

    Args:
        problem: what was found, naming the file, argument or value.
        expected: what the toolkit expected instead.
        fix: how the user can fix it.

    Example:
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
