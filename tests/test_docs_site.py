"""The documentation site's sources stay consistent: every guide is in the nav, every API
reference directive names an importable module. (CI builds the site: mkdocs build --strict.)"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MKDOCS = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
DIRECTIVES = sorted(
    {
        m
        for page in (DOCS / "reference").glob("*.md")
        for m in re.findall(r"^::: ([\w.]+)\s*$", page.read_text(encoding="utf-8"), re.M)
    }
)


def test_every_page_is_in_the_nav() -> None:
    nav = set(re.findall(r"([\w./-]+\.md)\s*$", MKDOCS, re.M))
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert pages - nav == set(), "add these pages to mkdocs.yml's nav"
    assert nav - pages == set(), "the nav names pages that do not exist"


def test_reference_covers_the_public_packages() -> None:
    assert len(DIRECTIVES) >= 20
    for package in ("ibstream.aio.client", "ibstream.sync", "ibstream.sim", "ibstream.service"):
        assert package in DIRECTIVES


@pytest.mark.parametrize("module", DIRECTIVES)
def test_reference_directives_name_importable_modules(module: str) -> None:
    if module.startswith("ibstream.service"):
        pytest.importorskip("strawberry")
    if module.startswith("ibstream.data"):
        pytest.importorskip("pyarrow")
    importlib.import_module(module)
