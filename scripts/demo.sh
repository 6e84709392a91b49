#!/usr/bin/env bash
# The README's first quick-start command: installs ibstream, then runs the live streaming view
# against the embedded gateway simulator. Extra arguments go to `ibstream demo`
# (e.g. --duration 10). Without a terminal it prints plain lines.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
python3 -m pip install --quiet -e . >/dev/null
exec python3 -m ibstream demo "$@"
