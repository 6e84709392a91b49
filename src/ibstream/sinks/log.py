"""Events to the ``logging`` module, as JSON, with secrets masked."""

from __future__ import annotations

import logging
from typing import Any

from ibstream.masking import mask_text
from ibstream.serialize import event_to_json

__all__ = ["LogSink"]


class LogSink:
    """Logs each event as one JSON line (``ibstream.serialize``) at ``level``.

    Account ids, session ids, tokens and long hex ids are masked (``ibstream.masking``) before the
    line reaches any handler. Nothing is formatted when the level is disabled.
    """

    def __init__(
        self,
        logger: logging.Logger | str = "ibstream.events",
        level: int = logging.INFO,
        *,
        include_raw: bool = False,
    ) -> None:
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.level = level
        self.include_raw = include_raw

    def __repr__(self) -> str:
        return f"<LogSink {self.logger.name} {logging.getLevelName(self.level)}>"

    def emit(self, event: Any) -> None:
        if not self.logger.isEnabledFor(self.level):
            return
        try:
            text = event_to_json(event, include_raw=self.include_raw).decode()
        except (TypeError, ValueError):
            text = repr(event)
        self.logger.log(self.level, "%s", mask_text(text))
