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
        """Decorator that registers an object under `name` with `metadata`.

        A name is one owner's, except across modalities: an image "mlp" and a table "mlp" are two entries,
        told apart by `get(name, modality=...)` (each family names its own modality).
        """

        def decorator(obj):
            held = self._entries.setdefault(name, [])
            for i, (other, other_metadata) in enumerate(held):
                if _origin(other) == _origin(obj):  # the same object registered again (a module reloaded)
                    held.pop(i)
                    break
                if other_metadata.get("modality") is None or other_metadata.get("modality") == metadata.get("modality"):
                    # One namespace for every task's names: a second owner would silently replace the first.
                    raise ValueError(f"{self.kind} {name!r} is already registered by {_origin(other)}")
            if self.check is not None:
                self.check(name, obj, metadata)
            held.append((obj, metadata))
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

    def get(self, name, **filters):
        """Returns the object registered as `name` (of the modality `filters` name, where the name has several),
        or raises a ToolkitError listing the valid names."""
        return self._entry(name, filters)[0]

    def metadata(self, name, **filters):
        """Returns the metadata dict `name` was registered with."""
        return dict(self._entry(name, filters)[1])

    def _entry(self, name, filters):
        self._load_entry_points(name)
        held = [entry for entry in self._entries.get(name, []) if _matches(entry[1], filters)]
        if not held:
            raise ToolkitError(
                f"Unknown {self.kind} {name!r}" + (f" ({_said(filters)})." if filters else "."),
                expected=f"one of: {', '.join(self.available(**filters)) or '(none registered)'}",
                fix=f"pass one of those {self.kind} names",
            )
        if len(held) > 1:
            modalities = sorted(str(metadata.get("modality")) for _, metadata in held)
            raise ToolkitError(
                f"{self.kind} {name!r} is registered for several modalities ({', '.join(modalities)}).",
                expected="a lookup that names the modality",
                fix=f"call get({name!r}, modality=...)",
            )
        return held[0]

    def available(self, **filters):
        """Names with an entry whose metadata matches every filter (equal, or contained in a tuple value)."""
        self._load_entry_points()
        return sorted(name for name, held in self._entries.items() if any(_matches(m, filters) for _, m in held))

    def descriptions(self):
        """{name: description} of every entry; a name registered for several modalities gets each one's,
        prefixed by its modality, in the modalities' order ("image: ...; table: ..."), whatever the order
        the families were imported in."""
        self._load_entry_points()
        described = {}
        for name in sorted(self._entries):
            held = self._entries[name]
            if len(held) == 1:
                described[name] = held[0][1].get("description", "")
            else:
                ordered = sorted(held, key=lambda entry: str(entry[1].get("modality")))
                described[name] = "; ".join(f"{m.get('modality')}: {m.get('description', '')}" for _, m in ordered)
        return described


def _matches(metadata, filters):
    for key, wanted in filters.items():
        value = metadata.get(key)
        if isinstance(value, (tuple, list, set)):
            if wanted not in value:
                return False
        elif value != wanted:
            return False
    return True


def _said(filters):
    return ", ".join(f"{key}={value!r}" for key, value in filters.items())


def _origin(obj):
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"
