import importlib
import pathlib
import pkgutil

import pytest

import kayou_dispatch


def _walk():
    """Every module of the package (walked, so a new module cannot be left out)."""
    names = ["kayou_dispatch"]
    prefix = kayou_dispatch.__name__ + "."
    for info in pkgutil.walk_packages(kayou_dispatch.__path__, prefix):
        names.append(info.name)
    return sorted(names)


MODULES = _walk()


def test_the_walk_finds_every_module_file():
    root = pathlib.Path(kayou_dispatch.__file__).parent
    files = {
        ".".join(("kayou_dispatch", *p.relative_to(root).with_suffix("").parts)).removesuffix(
            ".__init__"
        )
        for p in root.rglob("*.py")
    }
    assert files == set(MODULES)
    assert {"kayou_dispatch.store", "kayou_dispatch.lifecycle.state"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_all_sorted_case_insensitively(name):
    mod = importlib.import_module(name)
    assert list(mod.__all__) == sorted(mod.__all__, key=str.lower)


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name):
    mod = importlib.import_module(name)
    missing = [n for n in mod.__all__ if not hasattr(mod, n)]
    assert missing == []
    assert len(set(mod.__all__)) == len(mod.__all__)


def test_public_functions_and_classes_are_exported():
    for name in dir(kayou_dispatch):
        obj = getattr(kayou_dispatch, name)
        if name.startswith("_") or not callable(obj):
            continue
        if getattr(obj, "__module__", "").startswith("kayou_dispatch"):
            assert name in kayou_dispatch.__all__, name
