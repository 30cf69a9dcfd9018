#!/usr/bin/env bash
# End to end against a real journald (Debian's systemd-journald, run
# standalone in a private mount namespace: tmpfs on /run/systemd,
# /run/log and /var/log/journal, rate limiting off), read by journalctl:
#   0. examples/journald.rs, as a user would run it;
#   1. 100,000 lines per stream through a Copier into the journald
#      driver (examples/write_log.rs): every line, byte for byte, in
#      per-stream order, read back by `journalctl -o export` and by the
#      driver's own reader (examples/read_log.rs);
#   2. journald stopped (SIGSTOP) mid-stream, then killed and started
#      again: the drops are counted, nothing wedges, the lines after come
#      through;
#   3. a differential: the same container through docker.io's own
#      journald driver and through our plugin with driver=journald, into
#      the same journald, compared field by field;
#   4. `docker logs` through the plugin: all, --tail, --since, --follow;
#   5. an entry that podman 4.3 wrote with its journald driver, read by
#      the driver's reader.
# Installs what is missing (systemd, docker.io, podman, busybox-static),
# and starts its own journald, dockerd and plugin, all gone afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

# Everything runs in a mount namespace of its own, so that this journald
# is the only one its processes see.
if [ -z "${JOURNALD_E2E_NS:-}" ]; then
    export JOURNALD_E2E_NS=1
    exec unshare --mount --propagation private bash "$0" "$@"
fi

LINES=${LINES:-100000}
work=$(mktemp -d /tmp/logdriver-journald-e2e.XXXXXX)
plugin_sock=/run/docker/plugins/logdriver-journald.sock
pids=()

say() { printf '== journald e2e: %s\n' "$*"; }
trap 'say "FAILED at line $LINENO: $BASH_COMMAND"' ERR

cleanup() {
    set +e
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    if [ -f "$work/dockerd.pid" ]; then
        kill "$(cat "$work/dockerd.pid")" 2>/dev/null
        for _ in $(seq 1 50); do [ -e "$work/dockerd.pid" ] || break; sleep 0.2; done
    fi
    [ -n "${journald:-}" ] && kill -CONT "$journald" 2>/dev/null && kill "$journald" 2>/dev/null
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
    rm -f "$plugin_sock"
    grep -o " $work[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
    chmod -R u+w "$work" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

need=()
[ -x /lib/systemd/systemd-journald ] && command -v journalctl >/dev/null || need+=(systemd)
command -v dockerd >/dev/null || need+=(docker.io)
command -v podman >/dev/null && command -v conmon >/dev/null || need+=(podman)
[ -x /bin/busybox ] || need+=(busybox-static)
if [ "${#need[@]}" -gt 0 ]; then
    say "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi

say "building the plugin, the writer and the reader"
# The features of tests/docker_e2e.sh, so that the two share one build.
cargo build -q --features otlp --bin logdriver-plugin --example write_log --example read_log --example journald
plugin=target/debug/logdriver-plugin
write_log=target/debug/examples/write_log
read_log=target/debug/examples/read_log

mkdir -p /var/log/journal /run/log /run/systemd
for dir in /run/systemd /run/log /var/log/journal; do mount -t tmpfs tmpfs "$dir"; done
mkdir -p /run/systemd/journal /run/systemd/journald.conf.d
cat >/run/systemd/journald.conf.d/e2e.conf <<'CONF'
[Journal]
Storage=persistent
RateLimitIntervalSec=0
RateLimitBurst=0
ReadKMSG=no
ForwardToSyslog=no
ForwardToWall=no
ForwardToConsole=no
SystemMaxUse=4G
SystemMaxFileSize=1G
CONF

start_journald() {
    rm -f /run/systemd/journal/socket
    /lib/systemd/systemd-journald >>"$work/journald.log" 2>&1 &
    journald=$!
    for _ in $(seq 1 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.1; done
    [ -S /run/systemd/journal/socket ] || { say "FAILED: journald did not start"; cat "$work/journald.log"; exit 1; }
}
stop_journald() {
    kill -CONT "$journald" 2>/dev/null || true
    kill "$journald"
    wait "$journald" 2>/dev/null || true
    journald=
}

say "starting systemd-journald ($(journalctl --version | head -1)) in a private mount namespace"
start_journald
journalctl --flush 2>/dev/null || true

say "run 0: examples/journald.rs"
target/debug/examples/journald | sed 's/^/    /'

# journalctl's export of one container's entries, turned back into the
# streams: $1 is the match, $2 the prefix of the files.
export_streams() {
    journalctl -o export "$1" >"$2.export"
    python3 tests/journald/export.py "$2.out" "$2.err" "$2.fields" <"$2.export"
}

say "run 1: $LINES lines per stream through the driver"
python3 tests/journald/gen.py "$LINES" >"$work/want.out" 2>"$work/want.err"
# A container id of 64 hex digits, as Docker's.
new_id() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
id1=$(new_id)
WRITE_LOG_ID=$id1 WRITE_LOG_STATS="$work/run1.stats" \
    "$write_log" journald /dev/null tag=run1 -- python3 tests/journald/gen.py "$LINES"
cat "$work/run1.stats"
entries=$(export_streams "CONTAINER_ID_FULL=$id1" "$work/run1")
cmp "$work/run1.out" "$work/want.out"
cmp "$work/run1.err" "$work/want.err"
say "run 1: journalctl -o export gives back both streams byte for byte ($entries entries)"
start=$(date +%s%N)
"$read_log" journald "$id1" >"$work/run1.read.out" 2>"$work/run1.read.err"
took=$(( ($(date +%s%N) - start) / 1000000 ))ms
cmp "$work/run1.read.out" "$work/want.out"
cmp "$work/run1.read.err" "$work/want.err"
say "run 1: the driver's reader gives back both streams byte for byte ($entries entries in ${took})"
"$read_log" journald "$id1" --tail 3 >"$work/tail.out" 2>"$work/tail.err"
[ "$(cat "$work/tail.out" "$work/tail.err" | wc -l)" = 3 ]
say "run 1: --tail 3 gives 3 lines"

# Counts a run of numbered short lines: each stream's lines must be in
# order; prints the lines received, and fails on any out of order.
count_in_order() {
    python3 - "$@" <<'PY'
import sys
total = 0
for path in sys.argv[1:]:
    last = -1
    for line in open(path, "rb"):
        i = int(line.split(b" ")[1])
        assert i > last, f"{path}: line {i} after {last}"
        last = i
        total += 1
print(total)
PY
}

# Runs 3000 pairs over about 6 s into a container of its own, with
# `$2` (a function) done to journald 1.5 s in; sets got (entries kept, in
# order), dropped (the driver's count) and took. $1 names the run's files.
run_faulted() {
    local id start writer
    id=$(new_id)
    start=$(date +%s%N)
    GEN_SHORT=1 WRITE_LOG_ID=$id WRITE_LOG_STATS="$work/$1.stats" timeout 120 \
        "$write_log" journald /dev/null journald-write-timeout=200ms -- \
        python3 tests/journald/gen.py 3000 50 0.1 2>"$work/$1.write.err" &
    writer=$!
    sleep 1.5
    "$2"
    wait "$writer" || true # the drops make the exit status 1
    took=$(( ($(date +%s%N) - start) / 1000000 ))ms
    export_streams "CONTAINER_ID_FULL=$id" "$work/$1" >/dev/null
    got=$(count_in_order "$work/$1.out" "$work/$1.err")
    dropped=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dropped"])' "$work/$1.stats")
    cat "$work/$1.stats"
}
pause_journald() { kill -STOP "$journald"; sleep 2; kill -CONT "$journald"; }
restart_journald() { stop_journald; sleep 2; start_journald; }

say "run 2a: journald stopped (SIGSTOP) for 2 s mid-stream"
run_faulted run2a pause_journald
say "run 2a: $got entries kept, $dropped dropped, of 6000, in ${took} (the writer alone takes about 6 s)"
[ "$dropped" -gt 0 ] && [ $((got + dropped)) = 6000 ]

say "run 2b: journald killed mid-stream and started again 2 s later"
run_faulted run2b restart_journald
# A datagram is refused only once the queue holds more than
# max_dgram_qlen (af_unix's unix_recvq_full compares with >), so one more
# than that can wait in a journald that is killed.
qlen=$(($(cat /proc/sys/net/unix/max_dgram_qlen) + 1))
lost=$((6000 - got - dropped))
say "run 2b: $got entries kept, $dropped dropped, $lost lost in the killed journald's socket queue (at most $qlen), in ${took}"
grep -v "dropped a line" "$work/run2b.write.err" | head -5
[ "$dropped" -gt 0 ] && [ "$lost" -ge 0 ] && [ "$lost" -le "$qlen" ]
# The lines after the restart came through.
tail -1 "$work/run2b.out" | grep -q '^out 2999 '

say "starting dockerd and the plugin (driver journald) on $plugin_sock"
docker=/usr/bin/docker
[ -x "$docker" ] || docker=$(command -v docker)
dockerd --data-root "$work/root" --exec-root "$work/exec" --pidfile "$work/dockerd.pid" \
    --host "unix://$work/docker.sock" --iptables=false --bridge=none --storage-driver=vfs \
    >"$work/dockerd.log" 2>&1 &
pids+=($!)
dk() { "$docker" -H "unix://$work/docker.sock" "$@"; }
for _ in $(seq 1 100); do dk version >/dev/null 2>&1 && break; sleep 0.2; done
if ! dk version >/dev/null 2>&1; then
    say "FAILED: dockerd could not start on this machine; the dockerd runs did NOT run"
    tail -20 "$work/dockerd.log" | sed 's/^/    dockerd: /'
    exit 1
fi
"$plugin" --socket "$plugin_sock" --driver journald --log-dir "$work/logs" \
    >"$work/plugin.out" 2>"$work/plugin.err" &
pids+=($!)
for _ in $(seq 1 50); do [ -S "$plugin_sock" ] && break; sleep 0.1; done
mkdir -p "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/"
for applet in sh echo head tr printf sleep seq; do ln -sf busybox "$work/rootfs/bin/$applet"; done
tar -C "$work/rootfs" -c . | dk import - logdriver-e2e:latest >/dev/null
# This sandbox refuses rlimits equal to the hard limit, which runc sets by
# default; lower ones are fine.
run_flags=(--network none --ulimit nofile=1024:1024 --ulimit nproc=1000:1000)

# Waits, up to 30 s, until the journal holds N entries matching $1.
wait_for_entries() {
    for _ in $(seq 1 300); do
        [ "$(journalctl -o export "$1" | grep -c '^__CURSOR=')" -ge "$2" ] && return
        sleep 0.1
    done
}

say "run 3: the same container through Docker's journald driver and through ours"
output='echo hello out; echo hello err >&2; head -c 40000 /dev/zero | tr "\0" L; echo; printf "\377\376 not utf-8\t\033[1m\n"'
attrs=(--label com.example.rack=r1 -e TEAM=ops --log-opt labels=com.example.rack --log-opt env=TEAM)
dk run --name jd-docker "${run_flags[@]}" --log-driver journald "${attrs[@]}" logdriver-e2e sh -c "$output" >/dev/null 2>&1
dk run --name jd-ours "${run_flags[@]}" --log-driver logdriver-journald "${attrs[@]}" logdriver-e2e sh -c "$output" >/dev/null 2>&1
# Six entries each: two short lines, three 16 KiB chunks, the binary line.
wait_for_entries CONTAINER_NAME=jd-ours 6
export_streams CONTAINER_NAME=jd-docker "$work/docker" >/dev/null
export_streams CONTAINER_NAME=jd-ours "$work/ours" >/dev/null
cmp "$work/docker.out" "$work/ours.out"
cmp "$work/docker.err" "$work/ours.err"
python3 tests/journald/differ.py "$work/docker.fields" "$work/ours.fields" | tee "$work/differ.txt"
say "run 3: both streams are the same bytes, and every field but the sender's agrees"

say "run 4: docker logs through the plugin: all, --tail, --since and --follow"
batch='i=$1; while [ $i -lt $2 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done'
dk create --name jd-logs "${run_flags[@]}" --log-driver logdriver-journald logdriver-e2e \
    sh -c "b() { $batch; }; sleep 1; b 0 500; sleep 2; b 500 1000" >/dev/null
seq 0 999 | sed 's/^/out /' >"$work/logs.want.out"
seq 0 999 | sed 's/^/err /' >"$work/logs.want.err"
dk start jd-logs >/dev/null
timeout 60 "$docker" -H "unix://$work/docker.sock" logs --follow jd-logs >"$work/follow.out" 2>"$work/follow.err" &
follower=$!
dk wait jd-logs >/dev/null
wait_for_entries "CONTAINER_ID_FULL=$(dk inspect -f '{{.Id}}' jd-logs)" 2000
# dockerd ends a follow when the container stops and its reader drains.
for _ in $(seq 1 100); do kill -0 "$follower" 2>/dev/null || break; sleep 0.1; done
kill "$follower" 2>/dev/null || true
wait "$follower" 2>/dev/null || true
cmp "$work/follow.out" "$work/logs.want.out"
cmp "$work/follow.err" "$work/logs.want.err"
say "run 4: --follow, started with the container, printed all 1000 + 1000 lines"
dk logs jd-logs >"$work/all.out" 2>"$work/all.err"
cmp "$work/all.out" "$work/logs.want.out"
cmp "$work/all.err" "$work/logs.want.err"
dk logs --tail 6 jd-logs >"$work/tail6.out" 2>"$work/tail6.err"
# The last 6 entries in the journal's order, whichever streams they are.
journalctl -o export -n 6 "CONTAINER_ID_FULL=$(dk inspect -f '{{.Id}}' jd-logs)" |
    python3 tests/journald/export.py "$work/last6.out" "$work/last6.err" >/dev/null
[ "$(cat "$work/tail6.out" "$work/tail6.err" | wc -l)" = 6 ]
cmp "$work/tail6.out" "$work/last6.out"
cmp "$work/tail6.err" "$work/last6.err"
# --since the first line of the second batch, by the times docker logs shows.
since=$(dk logs --timestamps jd-logs 2>&1 | awk '$3 == 500 { print $1 }' | sort | head -1)
dk logs --since "$since" jd-logs >"$work/since.out" 2>"$work/since.err"
seq 500 999 | sed 's/^/out /' | cmp - "$work/since.out"
seq 500 999 | sed 's/^/err /' | cmp - "$work/since.err"
# --until the last line of the first batch.
until=$(dk logs --timestamps jd-logs 2>&1 | awk '$3 == 499 { print $1 }' | sort | tail -1)
dk logs --until "$until" jd-logs >"$work/until.out" 2>"$work/until.err"
seq 0 499 | sed 's/^/out /' | cmp - "$work/until.out"
seq 0 499 | sed 's/^/err /' | cmp - "$work/until.err"
say "run 4: docker logs printed all 2000 lines, --tail 6 the last 6, --since $since the second batch and --until $until the first, exactly"

say "run 5: an entry that podman $(podman --version | awk '{print $3}') wrote with its journald driver, read back by ours"
runtime=()
if command -v runc >/dev/null; then runtime=(--runtime "$(command -v runc)"); fi
pm() {
    podman --root "$work/podman/root" --runroot "$work/podman/run" --storage-driver vfs \
        --cgroup-manager cgroupfs --events-backend file "${runtime[@]}" "$@"
}
tar -C "$work/rootfs" -c . | pm import --quiet - localhost/logdriver-e2e:latest >/dev/null
pm run --name jd-podman "${run_flags[@]}" --log-driver journald localhost/logdriver-e2e \
    sh -c 'echo "from podman"; echo "podman err" >&2; printf "no newline"' >/dev/null 2>&1
podman_id=$(pm inspect -f '{{.Id}}' jd-podman)
wait_for_entries "CONTAINER_ID_FULL=$podman_id" 3
journalctl -o export "CONTAINER_ID_FULL=$podman_id" | grep -a -E '^(MESSAGE|PRIORITY|CONTAINER_[A-Z_]*|SYSLOG_IDENTIFIER|_COMM)=' | sed 's/^/    podman wrote: /'
"$read_log" journald "$podman_id" >"$work/podman.out" 2>"$work/podman.err"
# conmon keeps each line's newline in MESSAGE and marks a line cut short
# with CONTAINER_PARTIAL_MESSAGE alone: the streams come back as written.
printf 'from podman\nno newline' | cmp - "$work/podman.out"
printf 'podman err\n' | cmp - "$work/podman.err"
pm rm -af >/dev/null 2>&1 || true
say "run 5: the driver's reader gave back podman's stdout and stderr byte for byte, the unended last line too"
say "all runs passed"
