"""The sans-I/O protocol core of ibstream: specs, events, fields, decoding, session machines.

Nothing in this package does I/O, reads a clock or starts a thread: frames and the current time
go in, typed events, text to send and requested actions come out (style.md principle 1).
"""

from __future__ import annotations

from ibstream.protocol.connection import *  # noqa: F403
from ibstream.protocol.connection import __all__ as _connection_all
from ibstream.protocol.decoding import *  # noqa: F403
from ibstream.protocol.decoding import __all__ as _decoding_all
from ibstream.protocol.events import *  # noqa: F403
from ibstream.protocol.events import __all__ as _events_all
from ibstream.protocol.fields import *  # noqa: F403
from ibstream.protocol.fields import __all__ as _fields_all
from ibstream.protocol.lifecycle import *  # noqa: F403
from ibstream.protocol.lifecycle import __all__ as _lifecycle_all
from ibstream.protocol.specs import *  # noqa: F403
from ibstream.protocol.specs import __all__ as _specs_all

__all__ = sorted(
    {
        *_connection_all,
        *_decoding_all,
        *_events_all,
        *_fields_all,
        *_lifecycle_all,
        *_specs_all,
    }
)
