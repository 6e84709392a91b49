"""Masking of secrets for logs and reprs: session ids, cookies, tokens and account ids are never
logged in clear. Pure helpers, used by every layer."""

from __future__ import annotations

import re

__all__ = ["mask", "mask_account", "mask_text"]

_ACCOUNT_RE = re.compile(r"\b(?:DU|DF|U|F|I)\d{4,9}\b")
_HEX_RE = re.compile(r"\b[0-9a-fA-F]{16,64}\b")
# "session" (the tickle/WebSocket session), "sessionId"/"session_id" (the act frame's, §1.4).
_SESSION_JSON_RE = re.compile(r'("(?:session|sessionId|session_id)"\s*:\s*")([^"]*)(")')
_TOKEN_QS_RE = re.compile(r"((?:oauth_token|sessionToken|token)=)([^&\s]+)")


def mask(secret: str | None, keep: int = 4) -> str:
    """``"e5af95a05fe55041a403680abb434efa"`` -> ``"e5af…(32)"``: enough to correlate only."""
    if not secret:
        return "<none>"
    if len(secret) <= keep * 2:
        return "*" * len(secret)
    return f"{secret[:keep]}…({len(secret)})"


def mask_account(account: str | None) -> str:
    """``"U25235077"`` -> ``"U2****77"``."""
    if not account:
        return "<none>"
    if len(account) <= 4:
        return "*" * len(account)
    return account[:2] + "*" * (len(account) - 4) + account[-2:]


def mask_text(text: str) -> str:
    """Mask every account id, long hex id, session JSON value and token in free text."""
    text = _SESSION_JSON_RE.sub(lambda m: m.group(1) + mask(m.group(2)) + m.group(3), text)
    text = _TOKEN_QS_RE.sub(lambda m: m.group(1) + mask(m.group(2)), text)
    text = _HEX_RE.sub(lambda m: mask(m.group(0)), text)
    return _ACCOUNT_RE.sub(lambda m: mask_account(m.group(0)), text)
