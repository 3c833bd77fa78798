"""Build checks for the documentation site: an mkdocs hook (see ``mkdocs.yml``).

* Every public object has a docstring: each name in ``steer_trio.__all__`` and
  ``steer_trio.testing.__all__`` that is a class or a function, and each public method
  and property a public class defines. A missing one is a warning, so the strict build
  (``nox -s docs``) fails. ``tests/test_docs.py`` runs the same check.
* Pages another part of the project writes (``batch-jobs.md``, ``stream-contract.md``)
  are in the navigation; until a page exists, a short placeholder stands in for it,
  generated here and never written to disk, so the real page replaces it untouched.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from typing import Any

log = logging.getLogger("mkdocs.hooks.steer_trio")

PUBLIC_MODULES = ("steer_trio", "steer_trio.testing")

PENDING_PAGES = {
    "batch-jobs.md": (
        "Batch jobs",
        "Running thousands of prompts with bounded concurrency, budgets and partial "
        "results: this page is being written. Until then, see the batch section of the "
        "[streaming guide](guide.md#thousands-of-prompts-a-budget-and-nothing-lost).",
    ),
    "stream-contract.md": (
        "Stream contract",
        "What a stream promises (what `async with client.stream(...)` yields, when the "
        "connection is released, what an error carries): this page is being written. "
        "Until then, see [timeouts and cancellation](timeouts-and-cancellation.md) and "
        "[errors](errors.md).",
    ),
}


def _documented(obj: Any) -> bool:
    doc = obj.__doc__ if inspect.isclass(obj) else inspect.getdoc(obj)
    return bool(doc and doc.strip())


def missing_docstrings() -> list[str]:
    """The dotted names of public classes, functions, methods and properties that have
    no docstring of their own."""
    missing = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue  # constants and type aliases: documented by a #: comment
            dotted = f"{module_name}.{name}"
            if not _documented(obj):
                missing.append(dotted)
            if not inspect.isclass(obj):
                continue
            for member_name, member in vars(obj).items():
                if member_name.startswith("_"):
                    continue
                if isinstance(member, staticmethod | classmethod):
                    member = member.__func__
                if isinstance(member, property):
                    member = member.fget
                if inspect.isfunction(member) and not _documented(member):
                    missing.append(f"{dotted}.{member_name}")
    return missing


def on_pre_build(config: Any) -> None:
    for name in missing_docstrings():
        log.warning("public object without a docstring: %s", name)


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    for path, (title, text) in PENDING_PAGES.items():
        if files.get_file_from_path(path) is None:
            log.info("%s does not exist yet: a placeholder page stands in for it", path)
            content = f"# {title}\n\n{text}\n"
            files.append(File.generated(config, path, content=content))
    return files
