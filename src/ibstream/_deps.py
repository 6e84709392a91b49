"""Dependency floors checked where they matter, with an error that names the fix.

The minimum versions declared in ``pyproject.toml`` are proven by ``scripts/test-min.sh`` (CI
installs exactly those versions and runs a smoke subset). Where an older release would fail in
a confusing way — ``aiohttp`` before 3.14 has no ``ws_connect(decode_text=...)`` and the handshake
dies with a buried ``TypeError``; ``strawberry-graphql`` before 0.319 either lacks arguments the
service passes or cannot import beside graphql-core 3.3 — the importing module calls
:func:`require` so the user reads what to install instead.
"""

from __future__ import annotations

import re
from importlib import metadata

from ibstream.exceptions import IBStreamError

__all__ = ["MINIMUMS", "DependencyError", "parse_version", "require"]

#: distribution -> the oldest release ibstream works with (kept equal to pyproject.toml's floors,
#: checked by tests/test_packaging.py)
MINIMUMS: dict[str, str] = {
    "aiohttp": "3.14.0",
    "orjson": "3.9.0",
    "picows": "2.3.1",
    "rich": "13.0.0",
    "cryptography": "41.0.0",
    "strawberry-graphql": "0.319.0",
    "prometheus-client": "0.20.0",
}


class DependencyError(IBStreamError, ImportError):
    """A dependency is missing or older than ibstream needs; the message says what to install."""


def parse_version(text: str) -> tuple[int, ...]:
    """The leading numeric release of a version string: ``"3.14.0rc1"`` -> ``(3, 14, 0)``."""
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", text)
    if match is None:
        return ()
    return tuple(int(part) for part in match.group(1).split("."))


def require(dist: str, *, extra: str | None = None, found: str | None = None) -> None:
    """Raise :class:`DependencyError` unless ``dist`` is installed at ``MINIMUMS[dist]`` or newer.

    ``extra`` names the ibstream extra that brings it (for the "not installed" message only);
    ``found`` overrides the installed version (for tests).
    """
    minimum = MINIMUMS[dist]
    if found is None:
        try:
            found = metadata.version(dist)
        except metadata.PackageNotFoundError:
            hint = (
                f"pip install 'ibstream[{extra}]'" if extra else f"pip install '{dist}>={minimum}'"
            )
            raise DependencyError(
                f"ibstream needs {dist}>={minimum}, which is not installed: {hint}"
            ) from None
    if parse_version(found) < parse_version(minimum):
        raise DependencyError(
            f"ibstream needs {dist}>={minimum} but {dist} {found} is installed: "
            f"pip install --upgrade '{dist}>={minimum}'"
        )
