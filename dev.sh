#!/usr/bin/env bash
# cxpulse developer entry point. Idempotent set-up, then the job:
#   ./dev.sh demo   local Kafka + embedded ClickHouse + simulator + flows + API
#   ./dev.sh test   lint, types and the whole test suite (what CI runs)
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3.11}"
VENV=.venv

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

setup() {
    command -v "$PYTHON" >/dev/null || { echo "need $PYTHON on PATH" >&2; exit 1; }
    command -v java >/dev/null || { echo "need Java 17+ (java) for the local Kafka broker" >&2; exit 1; }
    command -v mvn >/dev/null || { echo "need Maven (mvn) to fetch the Kafka jars" >&2; exit 1; }
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating $VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    # Reinstall only when the dependency pins change.
    local stamp="$VENV/.cxpulse-installed"
    local want
    want=$(sha256sum pyproject.toml | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        say "installing cxpulse and pinned dependencies into $VENV"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[dev]'
        echo "$want" > "$stamp"
    fi
    # The wheel installs the product as cxpulse.<folder> (see setup.py); in development the
    # sources also run by their folder names, so the repository root goes on the path.
    local pth
    pth="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/cxpulse-source-tree.pth"
    [ "$(cat "$pth" 2>/dev/null)" = "$PWD" ] || echo "$PWD" > "$pth"
    say "resolving Apache Kafka jars (Maven Central, cached)"
    "$VENV/bin/python" -c 'from infra.kafka_local import LocalKafka; LocalKafka(home=__import__("pathlib").Path(".cxpulse/kafka")).ensure_jars()'
}

cmd="${1:-}"
shift || true
case "$cmd" in
    demo)
        setup
        exec "$VENV/bin/cxpulse" demo "$@"
        ;;
    test)
        setup
        say "headless Chromium for the ops-page test (Debian package, installed once)"
        bash infra/ensure_chromium.sh
        say "ruff"
        "$VENV/bin/ruff" check .
        "$VENV/bin/ruff" format --check .
        say "mypy"
        "$VENV/bin/mypy" schemas flows sinks api infra bench
        say "pytest"
        exec "$VENV/bin/pytest" "$@"
        ;;
    *)
        echo "usage: ./dev.sh demo|test [args...]" >&2
        exit 2
        ;;
esac
