"""numpydoc validation of the public API's docstrings.

Every name of ``innobaro.__all__`` (functions, classes) and every public
method and property of those classes is run through :func:`numpydoc.validate.validate`,
and the test fails on any of the codes in ``CHECKED``:

- ``GL08`` the object has a docstring;
- ``SS01`` it starts with a one-line summary;
- ``PR01`` every parameter of the signature is documented under Parameters
  (``**kwargs`` as ``**kwargs``), and ``PR02`` no documented parameter is
  missing from the signature, so the Parameters section matches the code;
- ``RT01`` a function or method that returns something has a Returns section
  (numpydoc reads the ``return`` statements of the source);
- ``GL06`` no unknown section name and ``GL07`` sections in numpydoc's order,
  and ``PR10`` a space on both sides of the colon after a parameter name:
  otherwise numpydoc renders the section wrongly in the API reference.

Not checked, on purpose:

- ``ES01`` (extended summary) and ``SA01`` (See Also): a one-line summary is
  enough for many properties and small methods;
- ``EX01`` (Examples): ``tests/test_docs.py`` requires examples for functions
  and methods already; properties need none;
- ``PR07`` and ``RT03`` (a description under every parameter and return
  type): ``design : Design`` or ``Returns / Estimate`` says all there is;
- ``PR04`` (a type for every parameter) and the style codes ``SS02``,
  ``SS05``, ``SS06``, ``GL02``, ``GL03``: wording and layout, not content.

The result classes (``RESULT_CLASSES``) are made by innobaro, not by users:
their constructor's parameters are their fields, documented in an
``Attributes`` section instead of ``Parameters``, which is checked instead of
``PR01``/``PR02``. Exceptions and warnings are checked for ``GL08`` and
``SS01`` only. Dataclass fields (class attributes that are not callables or
properties) are documented by their class.
"""

from __future__ import annotations

import inspect

import pytest

import innobaro as ib

numpydoc_validate = pytest.importorskip("numpydoc.validate")

CHECKED = {"GL06", "GL07", "GL08", "SS01", "PR01", "PR02", "PR10", "RT01"}

#: classes innobaro returns and users do not construct: fields in Attributes
RESULT_CLASSES = {"Estimate", "GLMResult", "MLogitResult", "MarginalEffect", "Margins",
                  "OrdinalResult", "TermTest",
                  "TestContract", "TestResult",
                  "WeightsSummary"}


def _public_api() -> dict[str, tuple[str, frozenset[str]]]:
    """``{display name: (import path for numpydoc, codes to check)}``.

    A method inherited from another innobaro class is checked once, under the
    class that defines it."""
    out: dict[str, tuple[str, frozenset[str]]] = {}
    seen: set[int] = set()

    def add(display: str, path: str, codes: set[str], raw: object) -> None:
        if id(raw) in seen:
            return
        seen.add(id(raw))
        out[display] = (path, frozenset(codes))

    for name in ib.__all__:
        obj = getattr(ib, name)
        if inspect.isfunction(obj):
            add(f"innobaro.{name}", f"{obj.__module__}.{obj.__qualname__}", CHECKED, obj)
            continue
        if not inspect.isclass(obj):
            continue
        path = f"{obj.__module__}.{obj.__qualname__}"
        if issubclass(obj, (Exception, Warning)):
            add(f"innobaro.{name}", path, {"GL08", "SS01"}, obj)
            continue
        codes = CHECKED - {"PR01", "PR02"} if name in RESULT_CLASSES else CHECKED
        add(f"innobaro.{name}", path, codes, obj)
        for attr in dir(obj):
            if attr.startswith("_"):
                continue
            owner = next((k for k in obj.__mro__ if attr in vars(k)), None)
            if owner is None or not owner.__module__.startswith("innobaro"):
                continue
            raw = vars(owner)[attr]
            func = raw.__func__ if isinstance(raw, (classmethod, staticmethod)) else raw
            if not (inspect.isfunction(func) or isinstance(raw, property)):
                continue  # a dataclass field or constant
            owner_name = owner.__name__ if owner.__name__ in ib.__all__ else name
            add(f"innobaro.{owner_name}.{attr}",
                f"{owner.__module__}.{owner.__qualname__}.{attr}", CHECKED, raw)
    return out


API = _public_api()


def test_the_public_api_is_found() -> None:
    assert "innobaro.mean" in API and "innobaro.SurveyDesign.calibrate" in API
    assert "innobaro.GLMResult.wald_test" in API and "innobaro.Estimate.se" in API
    assert len(API) > 60


@pytest.mark.parametrize("display", sorted(API))
def test_numpydoc(display: str) -> None:
    path, codes = API[display]
    result = numpydoc_validate.validate(path)
    errors = [f"{code}: {message}" for code, message in result["errors"] if code in codes]
    assert not errors, f"{display} ({result['file']}:{result['file_line']}):\n  " \
        + "\n  ".join(errors)


@pytest.mark.parametrize("name", sorted(RESULT_CLASSES))
def test_result_classes_document_their_fields(name: str) -> None:
    doc = inspect.getdoc(getattr(ib, name)) or ""
    assert "\nAttributes\n----------\n" in doc, f"innobaro.{name} needs an Attributes section"
