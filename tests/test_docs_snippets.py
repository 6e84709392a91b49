"""Every Python snippet of the guides (docs/*.md) runs as written, in order, per file.

docs/data.md has its own test (tests/test_docs_data.py: it needs the data and plot extras and
checks what the snippets produce); a block marked ``<!-- snippet: pytest -->`` is a test file,
run through pytest by the test that owns it. Markers: tests/docsnippets.py.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from docsnippets import DOCS, snippets

OWN_TEST = {"data.md"}
GUIDES = sorted(p for p in DOCS.glob("*.md") if p.name not in OWN_TEST)


def test_every_python_block_runs_or_says_why_not() -> None:
    found = [s for p in GUIDES for s in snippets(p)]
    assert any(s.marker == "run" for s in found)  # the runner below has something to run
    for s in found:
        assert s.marker != "not-run" or s.reason, f"{s.name}: a not-run snippet needs a reason"


@pytest.mark.parametrize("path", [p for p in GUIDES if snippets(p)], ids=lambda p: p.name)
async def test_guide_snippets_run(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{path.stem}"}
    for s in snippets(path):
        if s.marker != "run":
            continue
        code = compile(s.code, s.name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        try:
            result = eval(code, namespace)
            if inspect.iscoroutine(result):
                await result
        except Exception as exc:  # the failure names the snippet and shows it
            raise AssertionError(f"{s.name} failed: {exc!r}\n{s.code}") from exc
