#!/usr/bin/env bash
# Installs node and @fluent-org/logger (into tests/fluentd/node_modules)
# when missing, for the scripts that run tests/fluentd/server.js.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "== fluentd setup: installing nodejs and npm"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq nodejs npm >/dev/null
fi
if ! [ -d node_modules/@fluent-org/logger ]; then
    echo "== fluentd setup: npm install @fluent-org/logger"
    npm ci --silent --no-audit --no-fund >/dev/null
fi
