"""The API reference, ``__all__`` and the docstrings agree, and every module's docstring examples run.

This is the one place doctests run: each module must have examples, and they must pass.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest

import ptm_snippets

MODULES = [
    importlib.import_module(info.name)
    for info in pkgutil.walk_packages(ptm_snippets.__path__, "ptm_snippets.")
    if not info.name.endswith("__main__")
]


def public_objects() -> list[tuple[str, object]]:
    return [(name, getattr(ptm_snippets, name)) for name in ptm_snippets.__all__]


def test_all_lists_only_what_exists_and_nothing_private() -> None:
    assert len(set(ptm_snippets.__all__)) == len(ptm_snippets.__all__)
    for name in ptm_snippets.__all__:
        assert not name.startswith("_") and hasattr(ptm_snippets, name), name


def test_reference_page_documents_every_public_object(built_site: Path) -> None:
    html = (built_site / "reference" / "ptm_snippets" / "index.html").read_text(encoding="utf-8")
    documented = set(re.findall(r'id="ptm_snippets\.(\w+)"', html))
    missing = sorted(set(ptm_snippets.__all__) - documented)
    assert not missing, f"public but not in the reference: {missing}"
    leaked = sorted(n for n in documented if n.startswith("_") and n != "__all__")
    assert not leaked, f"private names in the reference: {leaked}"


@pytest.mark.parametrize(("name", "obj"), public_objects(), ids=[n for n, _ in public_objects()])
def test_every_public_callable_has_a_docstring_with_an_example(name: str, obj: object) -> None:
    if not callable(obj) or (isinstance(obj, type) and issubclass(obj, BaseException)):
        return
    doc = inspect.getdoc(obj) or ""
    assert doc, f"{name} has no docstring"
    if inspect.isfunction(obj):
        assert ">>>" in doc, f"{name}'s docstring has no runnable Example"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples_run(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{module.__name__} has no docstring examples"
    assert result.failed == 0
