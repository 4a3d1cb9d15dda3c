"""Constructor arguments: their declared types, checked in one place and parsed from command-line text.

Every task constructor annotates its keyword arguments (`width: int = 32`,
`image_size: int | tuple[int, int] | None = None`). The annotations are the
one source of truth for three things: `Task.fit` checks the values a user
passed before anything is built (a clear error instead of a TypeError deep
in Keras), the `toolkit` command parses each option's text with its type
(so `--run-name 2024` stays the string "2024"), and a misspelt argument
gets the list of valid ones with the closest match.
"""

import difflib
import os
import types
import typing

import numpy as np

from toolkit.errors import ToolkitError

_NONE_WORDS = ("none", "null")


def _arms(annotation):
    """The alternatives of a union annotation (a single type is its own only arm)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return typing.get_args(annotation)
    return (annotation,)


def matches(value, annotation):
    """True when `value` fits the annotation (unions, None, bool, int, float, str, tuple[...], Literal, classes).

    Examples:
        >>> matches(3, int), matches(True, int), matches(2, float), matches("x", float)
        (True, False, True, False)
        >>> matches(("flip",), tuple[str, ...]), matches(None, int | None), matches((64, "a"), tuple[int, int])
        (True, True, False)
    """
    if annotation is typing.Any:
        return True
    arms = _arms(annotation)
    if len(arms) > 1:
        return any(matches(value, arm) for arm in arms)
    if annotation is type(None) or annotation is None:
        return value is None
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    if origin in (tuple, list):
        if not isinstance(value, (tuple, list)):
            return False
        args = typing.get_args(annotation)
        if not args:
            return True
        if len(args) == 2 and args[1] is Ellipsis:
            return all(matches(item, args[0]) for item in value)
        return len(value) == len(args) and all(matches(item, arm) for item, arm in zip(value, args))
    if annotation is bool:
        return isinstance(value, (bool, np.bool_))
    if annotation is int:
        return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if annotation is float:
        return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True  # an annotation this checker does not know: accept


def describe(annotation):
    """Plain words for an annotation, for error messages and `--help`.

    Examples:
        >>> describe(int | tuple[int, int] | None)
        'an integer, or a pair of integers, or None'
        >>> describe(tuple[str, ...])
        'a comma-separated list of strings'
    """
    arms = _arms(annotation)
    if len(arms) > 1:
        return ", or ".join(describe(arm) for arm in arms)
    if annotation is type(None) or annotation is None:
        return "None"
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " or ".join(repr(v) for v in typing.get_args(annotation))
    if origin is dict:
        return "comma-separated NAME=VALUE pairs"
    if origin in (tuple, list):
        args = typing.get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a comma-separated list of {_plural(args[0])}"
        if len(args) == 2 and args[0] == args[1]:
            return f"a pair of {_plural(args[0])}"
        return f"a list of {len(args)} values" if args else "a list"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if annotation in names:
        return names[annotation]
    if annotation is os.PathLike:
        return "a path"
    return f"a {getattr(annotation, '__name__', str(annotation))}"


def _plural(annotation):
    words = {int: "integers", float: "numbers", str: "strings"}
    if annotation in words:
        return words[annotation]
    return " or ".join(_plural(arm) for arm in _arms(annotation)) if len(_arms(annotation)) > 1 else "values"


def parse(text, annotation):
    """Command-line text -> a value of the annotated type; raises ValueError when no alternative fits.

    Alternatives are tried in the order they are written, so `int | tuple[int, int]`
    reads "64" as 64 and "64,48" as (64, 48); a plain `str` takes the text as it is.

    Examples:
        >>> parse("2024", str | None), parse("none", str | None), parse("64,48", int | tuple[int, int] | None)
        ('2024', None, (64, 48))
        >>> parse("flip", tuple[str, ...]), parse(r"\\d{1,2}", str | None)
        (('flip',), '\\\\d{1,2}')
        >>> parse("question=q, context=passage", dict[str, str] | None)
        {'question': 'q', 'context': 'passage'}
        >>> parse("fast", float)
        Traceback (most recent call last):
        ...
        ValueError: 'fast' is not a number
    """
    arms = _arms(annotation)
    if text.strip().lower() in _NONE_WORDS and any(arm is type(None) or arm is None for arm in arms):
        return None
    for arm in arms:
        try:
            return _parse_one(text, arm)
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not {describe(annotation)}")


def _parse_one(text, annotation):
    if len(_arms(annotation)) > 1:
        return parse(text, annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        for option in typing.get_args(annotation):
            if text == str(option):
                return option
        raise ValueError(text)
    if origin is dict:  # "question=q,context=passage": string names and values
        pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
        if not pairs or any(len(pair) != 2 or not pair[0].strip() for pair in pairs):
            raise ValueError(text)
        return {name.strip(): value.strip() for name, value in pairs}
    if origin in (tuple, list):
        args = typing.get_args(annotation)
        parts = [part.strip() for part in text.split(",")]
        parts = parts[:-1] if parts and parts[-1] == "" else parts  # "flip," is a list of one
        parts = [] if parts == [""] else parts
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_parse_one(part, args[0]) for part in parts)
        if len(parts) != len(args):
            raise ValueError(text)
        return tuple(_parse_one(part, arm) for part, arm in zip(parts, args))
    if annotation is bool:
        if text.strip().lower() in ("true", "yes", "1"):
            return True
        if text.strip().lower() in ("false", "no", "0"):
            return False
        raise ValueError(text)
    if annotation is int:
        return int(text)
    if annotation is float:
        return float(text)
    if annotation is str:
        return text
    if annotation is os.PathLike:
        return text
    raise ValueError(f"{annotation} cannot be given as text")


def check(owner, values, annotations):
    """Raises a three-part ToolkitError for the first value that does not fit its annotation.

    Args:
        owner: the class name, for the message.
        values: {argument: value}.
        annotations: {argument: annotation}; arguments without one are not checked.

    Examples:
        >>> check("ImageClassifier", {"learning_rate": "x"}, {"learning_rate": float | None})
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: ImageClassifier got learning_rate='x' (a str).
        Expected: learning_rate is a number, or None
        Fix: pass learning_rate=<a number, or None>
    """
    for name, value in values.items():
        annotation = annotations.get(name)
        if annotation is None or matches(value, annotation):
            continue
        raise ToolkitError(
            f"{owner} got {name}={value!r} ({_article(type(value).__name__)}).",
            expected=f"{name} is {describe(annotation)}",
            fix=f"pass {name}=<{describe(annotation)}>",
        )


def _article(word):
    return f"an {word}" if word[:1].lower() in "aeiou" else f"a {word}"


def unknown_arguments_error(owner, unknown, valid):
    """The error for keyword arguments a constructor does not take, naming the closest valid ones.

    Examples:
        >>> print(unknown_arguments_error("ImageClassifier", ["epoch"], ["epochs", "batch_size"]))
        ImageClassifier got an unknown argument 'epoch' (did you mean 'epochs'?).
        Expected: arguments among: batch_size, epochs
        Fix: rename 'epoch' to 'epochs'
    """
    hints = {name: difflib.get_close_matches(name, valid, n=1) for name in unknown}
    described = ", ".join(
        f"{name!r}" + (f" (did you mean {hints[name][0]!r}?)" if hints[name] else "") for name in unknown
    )
    fixes = [f"rename {name!r} to {hints[name][0]!r}" for name in unknown if hints[name]]
    plural = "s" if len(unknown) > 1 else ""
    return ToolkitError(
        f"{owner} got {'an ' if not plural else ''}unknown argument{plural} {described}.",
        expected=f"arguments among: {', '.join(sorted(valid))}",
        fix="; ".join(fixes) or "check the spelling against that list",
    )
