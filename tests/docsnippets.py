"""The Python blocks of the Markdown guides, with their markers.

A ```` ```python ```` block runs as written unless an HTML comment on the line before it says
otherwise:

* ``<!-- snippet: not-run (reason) -->`` — shown, not run (the reason is required);
* ``<!-- snippet: pytest -->`` — a test file, run by a test of its own through pytest.

The blocks of one file run in order in one namespace (a later block uses an earlier one's
names); top-level ``await`` is allowed (each block runs in the test's event loop).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

_BLOCK = re.compile(
    r"(?:<!--\s*snippet:\s*(?P<marker>[a-z-]+)(?P<reason>[^>]*?)\s*-->\s*\n)?"
    r"^```python\n(?P<code>.*?)^```\s*$",
    re.S | re.M,
)


@dataclass(frozen=True)
class Snippet:
    path: Path
    line: int
    marker: str  # "run", "not-run" or "pytest"
    reason: str
    code: str

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def snippets(path: Path) -> list[Snippet]:
    text = path.read_text(encoding="utf-8")
    out = []
    for m in _BLOCK.finditer(text):
        line = text.count("\n", 0, m.start("code"))
        marker = m.group("marker") or "run"
        if marker not in {"run", "not-run", "pytest"}:
            raise ValueError(f"{path}:{line}: unknown snippet marker {marker!r}")
        reason = (m.group("reason") or "").strip(" ()—-")
        out.append(Snippet(path, line, marker, reason, m.group("code")))
    return out
