#!/usr/bin/env bash
# The README's test command. Installs everything it needs (only python3 and pip are assumed),
# then runs ruff, mypy --strict and pytest with branch coverage (core >= 95 %).
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
python3 -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
python3 -m pip install --quiet -e '.[dev,docs]'
# The service's dashboard test drives Debian's chromium through Playwright (no browser download).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
        && [ "$(id -u)" = 0 ]; then
    echo "== installing chromium (dashboard test)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
        >/dev/null 2>&1 || echo "chromium could not be installed: the dashboard test will skip"
fi
# The bridge tests start private nats-server (JetStream) and redis-server processes.
if { ! command -v nats-server >/dev/null 2>&1 || ! command -v redis-server >/dev/null 2>&1; } \
        && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "== installing nats-server and redis-server (bridge tests)"
    { apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server redis-server; } \
        >/dev/null 2>&1 || echo "nats-server/redis-server could not be installed: bridge tests skip"
fi
# The service's /metrics test runs Debian's promtool (package prometheus) on the real output.
if ! command -v promtool >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
        && [ "$(id -u)" = 0 ]; then
    echo "== installing prometheus (promtool: the /metrics test)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus; } \
        >/dev/null 2>&1 || echo "prometheus could not be installed: the promtool test will skip"
fi

echo "== ruff"
python3 -m ruff check src tests bench examples
python3 -m ruff format --check src tests bench examples >/dev/null \
    || { python3 -m ruff format --diff src tests bench examples | head -50; exit 1; }
echo "== mypy --strict"
python3 -m mypy --strict src
echo "== docs (mkdocs build --strict: a warning fails the build)"
NO_MKDOCS_2_WARNING=1 python3 -m mkdocs build --strict --quiet --site-dir "$(mktemp -d)/site"
echo "== pytest"
python3 -m pytest -q -p no:cacheprovider \
    --cov=ibstream --cov-branch --cov-report=term:skip-covered --cov-report=json:.coverage.json \
    "$@"
echo "== core branch coverage (protocol/, state/ and the orders core must be >= 95 %)"
python3 scripts/core_coverage.py .coverage.json 95
echo "== install checks (declared minimum versions; every Python 3.11+ on the machine)"
bash scripts/test-install.sh
