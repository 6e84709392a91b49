"""``python -m ibstream ...``: the same as the ``ibstream`` command."""

from __future__ import annotations

import sys

from ibstream.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
