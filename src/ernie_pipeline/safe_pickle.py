"""Read pickles that may only contain plain built-in data (dict, list, tuple, str, int, ...).

``pickle.load`` runs arbitrary code from a crafted file; this unpickler refuses every global except
a short allow-list of harmless built-in container types, so a malicious file raises
:class:`UnsafePickleError` instead of executing anything.
"""

from __future__ import annotations

import io
import pickle
from os import PathLike

# Globals a plain-data pickle may reference. collections.defaultdict/OrderedDict appear in
# upstream's char_dict.pickle; `int` is the defaultdict factory there.
_ALLOWED = {
    ("builtins", "dict"),
    ("builtins", "list"),
    ("builtins", "tuple"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "int"),
    ("builtins", "str"),
    ("collections", "defaultdict"),
    ("collections", "OrderedDict"),
}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle references something other than plain built-in data."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str):
        super().__init__(file)
        self._source = source

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"{self._source}: refusing to load global '{module}.{name}'; only plain built-in data "
            "(dict, list, tuple, str, int, ...) is allowed"
        )


def load_plain(path: str | PathLike) -> object:
    """Load a pickle file that must hold plain built-in data only."""
    with open(path, "rb") as handle:
        return _RestrictedUnpickler(handle, str(path)).load()


def loads_plain(data: bytes, source: str = "<bytes>") -> object:
    return _RestrictedUnpickler(io.BytesIO(data), source).load()
