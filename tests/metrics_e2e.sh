#!/usr/bin/env bash
# render_prometheus against the real Prometheus tooling: examples/metrics.rs
# renders two drivers' counts (one behind a rate limit, with a label value
# that needs escaping) and `promtool check metrics` (Debian's prometheus)
# must find nothing to say; the counts must be the drivers' own.
# Installs prometheus when missing; fails, never skips.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '== metrics e2e: %s\n' "$*"; }
trap 'say "FAILED at line $LINENO: $BASH_COMMAND"' ERR
if ! command -v promtool >/dev/null; then
    say "installing prometheus (promtool)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq prometheus >/dev/null
fi
say "$(promtool --version 2>&1 | head -1)"
cargo build -q --example metrics
text=$(target/debug/examples/metrics)
lint=$(printf '%s\n' "$text" | promtool check metrics 2>&1) || { say "FAILED: promtool: $lint"; exit 1; }
[ -z "$lint" ] || { say "FAILED: promtool has something to say: $lint"; exit 1; }
python3 - "$text" <<'PY'
import sys
samples = {}
for line in sys.argv[1].splitlines():
    if not line.startswith("#"):
        name, value = line.rsplit(" ", 1)
        samples[name] = int(value)
web, noisy = 'container="web",driver="json-file"', 'container="noisy \\"batch\\" job",driver="json-file"'
want = {
    f"logdriver_lines_total{{{web}}}": 100,
    f"logdriver_suppressed_total{{{web}}}": 0,
    # 10 lines of the first second's bucket, and the notice at close.
    f"logdriver_lines_total{{{noisy}}}": 11,
    f"logdriver_suppressed_total{{{noisy}}}": 90,
    f'logdriver_dropped_total{{{noisy},reason="buffer_full"}}': 0,
    f'logdriver_dropped_total{{{noisy},reason="unavailable"}}': 0,
}
for name, value in want.items():
    assert samples.get(name) == value, (name, samples.get(name), value)
print(f"== metrics e2e: promtool check metrics: clean; {len(samples)} samples, the counts the drivers gave")
PY
say "passed"
