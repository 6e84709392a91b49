"""Every Python snippet of docs/data.md runs as written, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "data.md"


def _snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_docs_data_snippets_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pyarrow")
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    snippets = _snippets()
    assert len(snippets) >= 7
    namespace: dict[str, object] = {"__name__": "docs_data"}
    for number, code in enumerate(snippets, 1):
        try:
            exec(compile(code, f"docs/data.md snippet {number}", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the failure message names the snippet
            raise AssertionError(f"docs/data.md snippet {number} failed: {exc!r}\n{code}") from exc
    assert (Path(str(namespace["workdir"])) / "bars.png").stat().st_size > 1000
    assert namespace["first_bar"] is not None
