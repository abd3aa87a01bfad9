"""Each object's internals have one owner: no module reads another's private fields.

The rule, checked on the source of every module under ``innobaro/`` with
:mod:`ast`:

- an attribute access ``x._name`` (a single leading underscore, or a
  name-mangled ``__name``; not a dunder such as ``__dict__``) whose object is
  not ``self``, ``cls`` or ``super()`` is allowed only if ``_name`` is defined
  in the same module: assigned as ``self._name``/``cls._name``, assigned in a
  class body, or defined as a function, method or class. So a module may use
  the private fields of its own classes (``new._present`` in ``design.py``),
  but ``design._w`` in ``weighting.py`` fails: it must go through a public
  (possibly advanced) property or method of the owning class. Attributes of
  third-party modules imported by name (``sys._getframe``) are not
  innobaro's and are left alone;
- no module imports a private name from another innobaro module
  (``from .design import _helper``). Private *modules* with public names
  (``from ._validate import check_columns``) are fine.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "innobaro"
MODULES = sorted(PACKAGE.rglob("*.py"))


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _defined_names(tree: ast.AST) -> set[str]:
    """Names a module defines: functions, classes, class attributes, and the
    attributes it assigns on ``self`` or ``cls``."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                targets = (item.targets if isinstance(item, ast.Assign)
                           else [item.target] if isinstance(item, ast.AnnAssign) else [])
                names.update(t.id for t in targets if isinstance(t, ast.Name))
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) \
                and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            names.add(node.attr)
    return names


def _foreign_modules(tree: ast.AST) -> set[str]:
    """Names bound by ``import x`` of modules that are not innobaro's."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not alias.name.startswith("innobaro"):
                    out.add(alias.asname or alias.name.split(".")[0])
    return out


def _owner_is_self(value: ast.expr) -> bool:
    if isinstance(value, ast.Name) and value.id in ("self", "cls"):
        return True
    return (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
            and value.func.id == "super")


def violations(source: str, filename: str = "<module>") -> list[str]:
    """Every private access and private import of ``source`` that breaks the rule."""
    tree = ast.parse(source, filename)
    own = _defined_names(tree)
    foreign = _foreign_modules(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            value = node.value
            if _owner_is_self(value) or node.attr in own:
                continue
            if isinstance(value, ast.Name) and value.id in foreign:
                continue
            found.append(f"{filename}:{node.lineno}: {ast.unparse(node)}")
        if isinstance(node, ast.ImportFrom) and (
                node.level > 0 or (node.module or "").startswith("innobaro")):
            for alias in node.names:
                if _is_private(alias.name):
                    found.append(f"{filename}:{node.lineno}: from "
                                 f"{'.' * node.level}{node.module or ''} import {alias.name}")
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_no_module_reads_another_modules_private_fields(path: Path) -> None:
    found = violations(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))
    assert not found, ("private fields of another module's objects (use or add a public "
                       "property or method on the owning class):\n  " + "\n  ".join(found))


def test_the_rule_catches_what_it_should() -> None:
    bad = """
import sys
from .design import _plain
from ._validate import check_columns

def f(design, model):
    frame = sys._getframe(1)
    return design._w, model.design._present, check_columns
"""
    assert [v.split(": ", 1)[1] for v in violations(bad)] == [
        "from .design import _plain", "design._w", "model.design._present"]
    good = """
class Box:
    _shared = None

    def __init__(self):
        self._value = 1

    def copy(self):
        new = Box()
        new._value = self._value
        return new, super()._hidden, Box._shared, self.__dict__
"""
    assert violations(good) == []


def test_every_module_is_checked() -> None:
    names = {p.name for p in MODULES}
    assert {"design.py", "estimators.py", "weighting.py", "margins.py", "models.py"} <= names
    assert any(p.parent.name == "variance" for p in MODULES)
