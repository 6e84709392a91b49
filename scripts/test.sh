#!/usr/bin/env bash
# The README's test command. Installs everything it needs (only python3 and pip are assumed),
# then runs ruff, mypy --strict and pytest with branch coverage (core >= 95 %).
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
python3 -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
python3 -m pip install --quiet -e '.[dev]'

echo "== ruff"
python3 -m ruff check src tests bench examples 2>/dev/null || python3 -m ruff check src tests bench
python3 -m ruff format --check src tests bench >/dev/null || { python3 -m ruff format --diff src tests bench | head -50; exit 1; }
echo "== mypy --strict"
python3 -m mypy --strict src
echo "== pytest"
python3 -m pytest -q -p no:cacheprovider \
    --cov=ibstream --cov-branch --cov-report=term:skip-covered --cov-report=json:.coverage.json \
    "$@"
echo "== core branch coverage (protocol/ and state/ must be >= 95 %)"
python3 scripts/core_coverage.py .coverage.json 95
