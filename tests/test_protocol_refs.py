"""Every ``§N.N`` the code, tests and docs cite is a section of docs/protocol.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "docs" / "protocol.md"
SCANNED = ("src", "tests", "docs", "bench", "examples", "README.md")

_HEADING = re.compile(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", re.MULTILINE)
_SIGN = re.compile(r"§")
_REF = re.compile(r"§\s?(\d+(?:\.\d+)?)")
# Section signs that belong to another document (an RFC), not to the wire reference.
_FOREIGN = re.compile(r"RFC ?\d+ §\d+(?:\.\d+)*")


def sections(text: str) -> set[str]:
    return set(_HEADING.findall(text))


def references(text: str) -> tuple[list[str], list[int]]:
    """The section numbers cited in ``text`` and the offsets of ``§`` signs citing nothing."""
    text = _FOREIGN.sub("", text)
    refs: list[str] = []
    bare: list[int] = []
    for sign in _SIGN.finditer(text):
        m = _REF.match(text, sign.start())
        if m is None:
            bare.append(sign.start())
        else:
            refs.append(m.group(1))
    return refs, bare


def _files() -> list[Path]:
    out: list[Path] = []
    for name in SCANNED:
        path = ROOT / name
        if path.is_file():
            out.append(path)
        elif path.is_dir():
            out.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.suffix in (".py", ".md", ".toml", ".yaml", ".json")
                and p not in (SPEC, Path(__file__).resolve())
            )
    return out


def test_the_spec_has_every_chapter_and_section_the_code_cites() -> None:
    known = sections(SPEC.read_text(encoding="utf-8"))
    assert {"0", "1", "1.5", "4.0", "6.3", "8.1", "8.20", "10"} <= known
    missing: list[str] = []
    count = 0
    for path in _files():
        text = path.read_text(encoding="utf-8", errors="replace")
        refs, bare = references(text)
        count += len(refs)
        rel = path.relative_to(ROOT)
        missing.extend(f"{rel}: §{r}" for r in refs if r not in known)
        for offset in bare:
            line = text.count("\n", 0, offset) + 1
            missing.append(f"{rel}:{line}: a § sign without a section number")
    assert not missing, "citations that docs/protocol.md does not resolve:\n" + "\n".join(missing)
    assert count > 200  # the scan found the code's citations


@pytest.mark.parametrize(
    ("text", "refs", "bare"),
    [
        ("see §4.1 and §8.15, ranges §1.3-§1.5", ["4.1", "8.15", "1.3", "1.5"], 0),
        ("protocol.md § 4.2 spaced", ["4.2"], 0),
        ("RFC 6455 §5.2 is not ours; §5.2 is", ["5.2"], 0),
        ("a bare § sign", [], 1),
    ],
)
def test_reference_scanner(text: str, refs: list[str], bare: int) -> None:
    found, signs = references(text)
    assert found == refs
    assert len(signs) == bare


def test_section_parser() -> None:
    doc = "# Title\n## 4. Topics\n### 4.0 Table\n### 8.15 Bytes\ntext §9.9\n"
    assert sections(doc) == {"4", "4.0", "8.15"}
