#!/usr/bin/env bash
# End to end against a real podman (Debian's 4.3, with conmon): the
# k8s-file format, both ways.
#   1. podman reads ours: a container's log file is replaced by one that
#      the k8s-file driver wrote from a Copier (examples/write_log.rs);
#      `podman logs` must print exactly what the command wrote.
#   2. we read podman's: a container writes the same output through
#      conmon; the crate's reader (examples/read_log.rs) must give it back
#      byte for byte, conmon's per-read P splits joined again.
# The output: LINES lines per stream, every 500th one 40,000 bytes long,
# tabs and UTF-8, then a last line with no newline. Installs podman and
# busybox-static when missing, and keeps its own storage under a scratch
# directory (rootful, vfs, cgroupfs, no network).
set -euo pipefail
cd "$(dirname "$0")/.."

LINES=${LINES:-3000}
work=$(mktemp -d /tmp/logdriver-podman-e2e.XXXXXX)

say() { printf '== podman e2e: %s\n' "$*"; }
source tests/cgroup_layout.sh
say "cgroup layout: $(cgroup_layout)"

# runc runs in every layout; crun refuses a hybrid one ("cgroups in hybrid
# mode not supported"). runc comes with docker.io.
runtime=()
if command -v runc >/dev/null; then runtime=(--runtime "$(command -v runc)"); fi
say "runtime: ${runtime[1]:-the default}"

pm() {
    podman --root "$work/root" --runroot "$work/run" --storage-driver vfs \
        --cgroup-manager cgroupfs --events-backend file "${runtime[@]}" "$@"
}

cleanup() {
    set +e
    pm rm -af >/dev/null 2>&1
    grep -o " $work[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
    chmod -R u+w "$work" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

if ! command -v podman >/dev/null || ! command -v conmon >/dev/null || ! [ -x /bin/busybox ]; then
    say "installing podman (conmon, crun) and busybox-static"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq podman busybox-static >/dev/null
fi

say "building the writer and the reader"
cargo build -q --example write_log --example read_log
write_log=target/debug/examples/write_log
read_log=target/debug/examples/read_log

say "importing a busybox image"
mkdir -p "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/"
for applet in sh awk true; do ln -s busybox "$work/rootfs/bin/$applet"; done
tar -C "$work/rootfs" -c . | pm import --quiet - localhost/logdriver-e2e:latest >/dev/null

# This sandbox refuses rlimits equal to the hard limit, which runc sets by
# default; lower ones are fine.
run_flags=(--network none --ulimit nofile=1024:1024 --ulimit nproc=1000:1000 --log-driver k8s-file)
script='awk -v n='"$LINES"' '\''BEGIN {
    o = sprintf("%40000s", ""); e = o; gsub(/ /, "O", o); gsub(/ /, "E", e)
    for (i = 0; i < n; i++) {
        if (i % 500 == 7) { print "out " i " " o; print "err " i " " e > "/dev/stderr" }
        else { print "out " i "\tgrüße"; print "err " i "\t→" > "/dev/stderr" }
    }
    printf "out last, no newline"
}'\'
busybox sh -c "$script" >"$work/want.out" 2>"$work/want.err"

say "run 1: podman logs reads a file that k8s-file wrote"
if ! pm run --name ours "${run_flags[@]}" localhost/logdriver-e2e true 2>"$work/run1.err"; then
    say "FAILED: podman could not run a container on this machine; the real-podman test did NOT run"
    sed 's/^/    podman: /' "$work/run1.err"
    exit 1
fi
path=$(pm inspect --format '{{.HostConfig.LogConfig.Path}}' ours)
"$write_log" k8s-file "$work/ours.log" -- busybox sh -c "$script"
cp "$work/ours.log" "$path"
pm logs ours >"$work/got.out" 2>"$work/got.err"
cmp "$work/want.out" "$work/got.out"
cmp "$work/want.err" "$work/got.err"
say "podman logs: $(wc -l <"$work/ours.log") records of ours, stdout ($(stat -c %s "$work/got.out") bytes) and stderr ($(stat -c %s "$work/got.err") bytes) exactly as written"

say "run 2: our reader reads what conmon wrote"
pm run --name theirs "${run_flags[@]}" localhost/logdriver-e2e sh -c "$script" >/dev/null 2>&1
path=$(pm inspect --format '{{.HostConfig.LogConfig.Path}}' theirs)
"$read_log" k8s-file "$path" >"$work/got.out" 2>"$work/got.err"
cmp "$work/want.out" "$work/got.out"
cmp "$work/want.err" "$work/got.err"
partials=$(grep -c '^[^ ]* std[a-z]* P ' "$path" || true)
say "conmon's file: $(wc -l <"$path") records, $partials of them P; read back byte for byte"
[ "$partials" -gt 0 ] || { say "FAILED: conmon wrote no P records; the splits were not exercised"; exit 1; }

say "passed"
