"""The one registration mechanism: backbones, datasets, strategies and tasks."""

import importlib.metadata

from toolkit.errors import ToolkitError


class Registry:
    """A name -> object table with metadata, filled by a decorator.

    Args:
        kind: what the entries are, used in error messages ("backbone").
        entry_point_group: optional Python entry-point group whose modules
            register entries when imported. It lets the core find task
            modules without importing them by name (the core never imports
            ``tasks``).
        check: optional `check(name, obj, metadata)` run on every entry as it
            is registered; it raises when the entry breaks the registry's
            contract (a backbone's call signature).

    Examples:
        >>> SHAPES = Registry("shape")
        >>> @SHAPES.register("square", sides=4)
        ... def square():
        ...     return "[]"
        >>> SHAPES.get("square")()
        '[]'
        >>> SHAPES.available(sides=4)
        ['square']
    """

    def __init__(self, kind, entry_point_group=None, check=None):
        self.kind = kind
        self.check = check  # check(name, obj, metadata): raises when an entry breaks the registry's contract
        self.entry_point_group = entry_point_group
        self._entries = {}
        self._entry_points_loaded = False

    def register(self, name, **metadata):
        """Decorator that registers an object under `name` with `metadata`."""

        def decorator(obj):
            held = self._entries.get(name)
            if held is not None and _origin(held[0]) != _origin(obj):
                # One namespace for every task's names: a second owner would silently replace the first.
                raise ValueError(f"{self.kind} {name!r} is already registered by {_origin(held[0])}")
            if self.check is not None:
                self.check(name, obj, metadata)
            self._entries[name] = (obj, metadata)
            return obj

        return decorator

    def _load_entry_points(self, name=None):
        """Imports the modules of the group's entry points: the one named `name` first (loading one run
        imports its own task only), all of them when that does not register `name` or none is named."""
        if self.entry_point_group is None or self._entry_points_loaded or (name is not None and name in self._entries):
            return
        if name is not None:
            for entry_point in importlib.metadata.entry_points(group=self.entry_point_group, name=name):
                entry_point.load()
            if name in self._entries:
                return
        self._entry_points_loaded = True
        for entry_point in importlib.metadata.entry_points(group=self.entry_point_group):
            entry_point.load()

    def __contains__(self, name):
        self._load_entry_points(name)
        return name in self._entries

    def get(self, name):
        """Returns the object registered as `name`, or raises a ToolkitError listing the valid names."""
        self._load_entry_points(name)
        if name not in self._entries:
            raise ToolkitError(
                f"Unknown {self.kind} {name!r}.",
                expected=f"one of: {', '.join(sorted(self._entries)) or '(none registered)'}",
                fix=f"pass one of those {self.kind} names",
            )
        return self._entries[name][0]

    def metadata(self, name):
        """Returns the metadata dict `name` was registered with."""
        self.get(name)
        return dict(self._entries[name][1])

    def available(self, **filters):
        """Names whose metadata matches every filter (equal, or contained in a tuple value)."""
        self._load_entry_points()
        names = []
        for name, (_, metadata) in self._entries.items():
            ok = True
            for key, wanted in filters.items():
                value = metadata.get(key)
                if isinstance(value, (tuple, list, set)):
                    ok = ok and wanted in value
                else:
                    ok = ok and value == wanted
            if ok:
                names.append(name)
        return sorted(names)


def _origin(obj):
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"
