"""Public objects say where users import them from.

A class defined in ``steer_trio._errors`` but imported as ``steer_trio.RateLimitError``
should print, pickle and document as the latter: tracebacks show
``steer_trio.RateLimitError``, ``repr(type(x))`` names the public path. Applied once,
at import, to what a package's ``__all__`` lists.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

__all__ = ["publish"]


def publish(namespace: MutableMapping[str, Any], names: Iterable[str], module: str) -> None:
    """Set ``__module__`` to ``module`` on the classes and functions named."""
    prefix = module + "._"
    for name in names:
        obj = namespace[name]
        own = getattr(obj, "__module__", None)
        if not isinstance(obj, type) and not callable(obj):
            continue
        if isinstance(own, str) and own.startswith(prefix):
            try:
                obj.__module__ = module
            except (AttributeError, TypeError):  # builtins and such refuse: leave them
                continue
