#!/usr/bin/env bash
# Install checks, as a user from the package index would meet ibstream:
#  1. the declared minimum versions (pyproject floors pinned exactly) on the default python3;
#  2. the built wheel on every other Python 3.11+ found on this machine, latest dependencies.
# Each runs the smoke subset (connect, stream, serve, a GraphQL query and subscription, the CLI)
# against the installed package, not the source tree.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
SMOKE=(tests/aio/test_client_e2e.py tests/service/test_service_graphql.py
       tests/service/test_service_metrics.py tests/sim/test_pytest_plugin.py tests/cli/test_status.py)
TEST_DEPS=(pytest pytest-asyncio pytest-timeout hypothesis)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 -m pip wheel --quiet --no-deps -w "$work/dist" . >/dev/null
wheel="$(ls "$work"/dist/ibstream-*.whl)"

smoke() {  # smoke VENV_PYTHON LABEL
    local py="$1" label="$2"
    echo "== smoke ($label): $("$py" -c 'import sys, aiohttp, strawberry, orjson; from importlib.metadata import version as v; print(sys.version.split()[0], "aiohttp", aiohttp.__version__, "strawberry", v("strawberry-graphql"), "orjson", orjson.__version__)')"
    # run from a copy of the tests only: the installed package is what gets imported
    rm -rf "$work/run" && mkdir -p "$work/run" && cp -r tests docs pyproject.toml "$work/run/"
    (cd "$work/run" && "$py" -m pytest -q -p no:cacheprovider "${SMOKE[@]}")
}

# the extras the smoke subset needs: service (serve, GraphQL, /metrics), sim (the TLS simulator),
# testing (the pytest plugin)
EXTRAS=service,sim,testing
echo "== minimum versions: $(python3 scripts/min_constraints.py service sim testing | tr '\n' ' ')"
python3 scripts/min_constraints.py service sim testing > "$work/constraints.txt"
python3 -m venv "$work/min"
"$work/min/bin/python" -m pip install --quiet -c "$work/constraints.txt" "${wheel}[${EXTRAS}]" "${TEST_DEPS[@]}"
smoke "$work/min/bin/python" "declared minimums"

for candidate in python3.12 python3.13 "$HOME"/.pyenv/versions/3.12*/bin/python3 \
        "$HOME"/.pyenv/versions/3.13*/bin/python3; do
    py="$(command -v "$candidate" 2>/dev/null || true)"
    [ -n "$py" ] && [ -x "$py" ] || continue
    # skip shims that exist but do not run (pyenv's, for a version not selected)
    ver="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" || continue
    case " ${seen:-} " in *" $ver "*) continue ;; esac
    seen="${seen:-} $ver"
    "$py" -m venv "$work/py$ver" || { echo "== python $ver: no venv module, skipped"; continue; }
    "$work/py$ver/bin/python" -m pip install --quiet "${wheel}[${EXTRAS}]" "${TEST_DEPS[@]}"
    smoke "$work/py$ver/bin/python" "python $ver, latest dependencies"
done
