"""Every exception class the library defines is an ``EdgeActorsError``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

from messages import EdgeActorsError

PACKAGES = ("actors", "messages", "transport")


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        names.append(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            names.append(info.name)
    return names


def _our_exceptions() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in _modules():
        if name.endswith("__main__") or name.endswith(".demo"):
            continue
        try:
            module = importlib.import_module(name)
        except ImportError as exc:  # an extra that is not installed
            pytest.skip(f"{name} needs an extra: {exc}")
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__.split(".")[0] in PACKAGES:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return sorted(found.values(), key=lambda cls: cls.__qualname__)


def test_the_library_defines_exceptions_to_check() -> None:
    assert len(_our_exceptions()) > 10


@pytest.mark.parametrize("error", _our_exceptions(), ids=lambda cls: cls.__qualname__)
def test_every_error_is_an_edge_actors_error(error: type[BaseException]) -> None:
    assert issubclass(error, EdgeActorsError), f"{error.__module__}.{error.__qualname__}"
