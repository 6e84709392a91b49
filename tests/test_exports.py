"""The top-level public surface equals the union of the public modules' ``__all__`` lists."""

from __future__ import annotations

import importlib

import ibstream


def test_top_level_all_is_union_of_modules() -> None:
    """ibstream.__all__ lists exactly what the public modules export."""
    names: set[str] = set()
    for module in ibstream._PUBLIC_MODULES:
        names |= set(importlib.import_module(module).__all__)
    assert set(ibstream.__all__) == names


def test_every_name_resolves() -> None:
    """Every exported name is importable from the top level."""
    for name in ibstream.__all__:
        assert getattr(ibstream, name) is not None


def test_unknown_name_raises_attribute_error() -> None:
    """A missing name is an AttributeError, like any module."""
    try:
        ibstream.does_not_exist  # noqa: B018
    except AttributeError as exc:
        assert "does_not_exist" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_core_does_not_load_aiohttp() -> None:
    """Importing the sans-I/O core alone does not import aiohttp (lazy top level)."""
    import subprocess
    import sys

    code = "import ibstream.protocol, sys; print('aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
