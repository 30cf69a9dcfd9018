#!/usr/bin/env bash
# The nats driver against real nats-servers (Debian's nats-server 2.9):
# `cargo test --features nats --test nats` (tests/nats.rs) starts them on
# free loopback ports, each with its own store directory. Installs
# nats-server when it is missing; fails, never skips, if it cannot run.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '== nats e2e: %s\n' "$*"; }

if ! command -v nats-server >/dev/null; then
    say "installing nats-server"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq nats-server >/dev/null
fi
say "$(nats-server --version)"
cargo test --features nats --test nats --test plugin
say "passed"
