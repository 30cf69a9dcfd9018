#!/usr/bin/env bash
# The fault matrix (tests/fault_matrix/): every network driver (zmq,
# fluentd with and without acks, nats, syslog, otlp), in blocking and
# non-blocking mode, against its real peer (examples/zmq_hub.rs,
# @fluent-org/logger's FluentServer, nats-server, rsyslog, an OTLP receiver
# on opentelemetry-proto), with the peer coming up late, killed -9,
# SIGSTOPped, slow, and the connection reset mid-frame. Installs the peers
# when missing; fails, never skips, if one cannot run. Prints the table
# that the README's "Under faults" section shows.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '== fault matrix: %s\n' "$*"; }

if ! command -v nats-server >/dev/null; then
    say "installing nats-server"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq nats-server >/dev/null
fi
bash tests/fluentd/setup.sh
source tests/syslog/setup.sh
source tests/otlp/setup.sh
say "$(nats-server --version), node $(node --version), $(rsyslogd -v | head -1)"
cargo build -q --features nats,otlp --example zmq_hub
cargo test --features nats,otlp --test fault_matrix -- --ignored --nocapture --test-threads=1
say "passed"
