# Sourced by the e2e scripts: a venv with PyPI's rotel (an OpenTelemetry
# collector binary in a wheel) and opentelemetry-proto (the official
# Python types, an independent decoder for tests/otlp/receiver.py).
# Sets $OTLP_PY (the venv's python), $ROTEL (the collector binary) and
# $RECEIVER (tests/otlp/receiver.py).
venv=/opt/logdriver-otlp-venv
if ! "$venv/bin/python" -c 'import opentelemetry.proto, rotel' 2>/dev/null; then
    printf '== otlp: installing rotel and opentelemetry-proto into %s\n' "$venv"
    if ! python3 -m venv "$venv" 2>/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install -q rotel opentelemetry-proto
fi
OTLP_PY="$venv/bin/python"
ROTEL=$("$OTLP_PY" -c 'import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')
[ -x "$ROTEL" ] || { echo "== otlp: FAILED: no rotel-agent at $ROTEL"; exit 1; }
RECEIVER="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/receiver.py"
export OTLP_PY ROTEL RECEIVER
