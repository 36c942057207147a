#!/usr/bin/env bash
# One entry point for set-up and the everyday jobs.  Each command installs what it needs first
# (a virtual environment in .venv, reused while pyproject.toml is unchanged).
#   ./run.sh studio        start the studio on the bundled model and corpus
#   ./run.sh test [ARGS]   run the test suite (ARGS go to pytest)
#   ./run.sh lint          ruff, ruff format --check and mypy (CI runs them before the tests)
#   ./run.sh composer ARGS run the command-line tool
set -euo pipefail
cd "$(dirname "$0")"

VENV="${COMPOSER_VENV:-.venv}"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"

setup() {
    local extras="$1"
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
    fi
    local stamp="$VENV/.composer-installed"
    local want
    want="$(cat pyproject.toml | sha1sum | cut -d' ' -f1)-${extras}"
    local have
    have="$(cat "$stamp" 2>/dev/null || true)"
    # Up to date, or installed with the dev extras (a superset) for the same pyproject.toml.
    if [ "$have" = "$want" ] || [ "$have" = "${want%-*}-[dev]" ]; then
        return
    fi
    echo "setting up $VENV (one time; later runs skip this)" >&2
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    # Prefer the CPU build of torch: where the 2.13.0 CPU wheel is at hand this takes seconds, while an
    # unpinned torch may pull a CUDA build of several GB.  Elsewhere pyproject's range picks one.
    if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
        "$VENV/bin/python" -m pip install -q "torch==2.13.0" >/dev/null 2>&1 \
            || echo "torch 2.13.0 is not available here; installing the version range from pyproject.toml" >&2
    fi
    # setuptools notes, for every flat-layout editable install, that a folder named like the package could
    # shadow it; that is this checkout's own folder, so the note is expected and silenced (nothing else is).
    PYTHONWARNINGS="ignore:Editable installation" "$VENV/bin/python" -m pip install -q -e ".${extras}"
    echo "$want" > "$stamp"
}

# The browser tests drive Debian's chromium through Playwright (whose own browser download is unreachable
# here).  Install it where it is missing and we may (root with apt-get); elsewhere those tests skip and say why.
ensure_chromium() {
    command -v chromium >/dev/null 2>&1 && return
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 0
    echo "installing chromium with apt-get for the browser tests (one time)" >&2
    local log
    log="$(mktemp)"
    if { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            chromium; } >"$log" 2>&1; then
        rm -f "$log"
    else
        echo "could not install chromium (log: $log); the browser tests will fail" >&2
    fi
}

cmd="${1:-}"
shift || true
case "$cmd" in
    studio)
        setup ""
        export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1
        # Fewer glibc memory pools for the server's many handler threads: bench/load.py saw far less growth.
        export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
        exec "$VENV/bin/python" app.py "$@"
        ;;
    test)
        setup "[dev]"
        ensure_chromium
        export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1
        exec "$VENV/bin/python" -m pytest "$@"
        ;;
    lint)
        setup "[dev]"
        "$VENV/bin/ruff" check .
        "$VENV/bin/ruff" format --check .
        "$VENV/bin/mypy"  # files and settings: [tool.mypy] in pyproject.toml
        ;;
    composer)
        setup ""
        exec "$VENV/bin/composer" "$@"
        ;;
    *)
        echo "usage: ./run.sh studio | test [pytest args] | lint | composer ARGS" >&2
        exit 2
        ;;
esac
