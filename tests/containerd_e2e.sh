#!/usr/bin/env bash
# End to end against a real containerd: examples/containerd_logger as the
# binary logger of `ctr run --log-uri binary:///…`, with
#   1. the zmq driver, to a hub (examples/zmq_hub.rs) on loopback;
#   2. json-file, and 3. k8s-file, read back with the crate's readers
#      (examples/read_log.rs);
#   4. a bad option, which must fail the start and leave nothing running;
#   5. k8s-file's log renamed mid-run, then SIGUSR1 to the logger, as a
#      kubelet rotates: the records before and after land in the two files;
#   6. the same logger under our own launcher (examples/binary_launcher.rs)
#      instead of containerd's shim: json-file read back byte for byte, and
#      zmq to a hub, every frame;
#   7. a probe logger (examples/logger_probe.rs) under containerd's shim
#      and under our launcher: arguments, environment, descriptors and the
#      order of events compared.
# The container writes LINES lines to each stream, some of them 40,000
# bytes long, and a last line with no newline; every check is against the
# bytes the same script writes on the host. Installs what is missing
# (Debian's docker.io brings containerd, ctr and runc), starts its own
# containerd on its own socket, root and state, and stops it afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

LINES=${LINES:-100000}
work=$(mktemp -d /tmp/logdriver-ctd-e2e.XXXXXX)
sock="$work/containerd.sock"
port=$((40000 + ($$ + 7) % 20000))
pids=()

say() { printf '== containerd e2e: %s\n' "$*"; }
source tests/cgroup_layout.sh
say "cgroup layout: $(cgroup_layout)"

cleanup() {
    set +e
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
    # Snapshots can hold mounts and read-only files; make them removable.
    grep -o " $work[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
    chmod -R u+w "$work" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null ||
    ! command -v runc >/dev/null || ! [ -x /bin/busybox ]; then
    say "installing docker.io (containerd, ctr, runc) and busybox-static"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq docker.io busybox-static >/dev/null
fi

say "building the logger, the hub and the reader"
cargo build -q --features otlp --example containerd_logger --example zmq_hub --example read_log --example binary_launcher \
    --example logger_probe
logger="$PWD/target/debug/examples/containerd_logger"
hub=target/debug/examples/zmq_hub
read_log=target/debug/examples/read_log
launcher="$PWD/target/debug/examples/binary_launcher"
probe="$PWD/target/debug/examples/logger_probe"

say "starting containerd on $sock"
cat >"$work/config.toml" <<TOML
version = 2
root = "$work/root"
state = "$work/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
TOML
containerd --config "$work/config.toml" >"$work/containerd.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
    ctr --address "$sock" version >/dev/null 2>&1 && break
    sleep 0.2
done
if ! ctr --address "$sock" version >/dev/null 2>&1; then
    say "FAILED: containerd could not start on this machine; the real-containerd test did NOT run"
    tail -20 "$work/containerd.log" | sed 's/^/    containerd: /'
    exit 1
fi
c() { ctr --address "$sock" "$@"; }

say "importing a busybox image, written as an OCI image layout by hand"
image=docker.io/library/busybox:logdriver-e2e
mkdir -p "$work/image/rootfs/bin" "$work/image/layout/blobs/sha256"
cp /bin/busybox "$work/image/rootfs/bin/"
for applet in sh awk cat echo printf sleep; do ln -s busybox "$work/image/rootfs/bin/$applet"; done
(
    cd "$work/image"
    tar -C rootfs --numeric-owner --owner=0 --group=0 -cf layer.tar .
    gzip -n -c layer.tar >layer.tar.gz
    # blob FILE: stores FILE under its digest, prints "<sha256 hex> <size>".
    blob() {
        local digest
        digest=$(sha256sum "$1" | cut -d' ' -f1)
        cp "$1" "layout/blobs/sha256/$digest"
        echo "$digest $(stat -c %s "$1")"
    }
    diff_id=$(sha256sum layer.tar | cut -d' ' -f1)
    read -r layer layer_size < <(blob layer.tar.gz)
    printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
        "$diff_id" >config.json
    read -r config config_size < <(blob config.json)
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
        "$config" "$config_size" "$layer" "$layer_size" >manifest.json
    read -r manifest manifest_size < <(blob manifest.json)
    printf '{"imageLayoutVersion":"1.0.0"}' >layout/oci-layout
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"e2e"}}]}' \
        "$manifest" "$manifest_size" "$image" >layout/index.json
    tar -C layout -cf image.tar .
)
c image import "$work/image/image.tar" >/dev/null

# The container: LINES lines on each stream, every 10,000th one 40,000
# bytes long, tabs and UTF-8, then a last line with no newline.
script='awk -v n='"$LINES"' '\''BEGIN {
    o = sprintf("%40000s", ""); e = o; gsub(/ /, "O", o); gsub(/ /, "E", e)
    for (i = 0; i < n; i++) {
        if (i % 10000 == 5000) { print "out " i " " o; print "err " i " " e > "/dev/stderr" }
        else { print "out " i "\tü"; print "err " i > "/dev/stderr" }
    }
    printf "out last, no newline"
}'\'
busybox sh -c "$script" >"$work/want.out" 2>"$work/want.err"

run() { # run NAME URI-QUERY: runs the container with the logger, waits for it
    c run --rm --snapshotter native --env TENANT_ID=acme --env SERVICE_ID=ctd \
        --log-uri "binary://$logger?$2" "$image" "$1" sh -c "$script"
}

# check_hub FILE ID: every frame FILE got from container ID, exact and in
# order, with the tenant and service the container's environment gives.
check_hub() {
python3 - "$work" "$1" "$2" <<'PY'
import re, sys
work, hub, want_id = sys.argv[1:4]
chunk = 16384

def frames(path):
    """The frames a stream should make: a line per frame, long lines cut."""
    data = open(path, "rb").read().decode()
    lines = data.split("\n")
    out = []
    for i, line in enumerate(lines):
        last = i == len(lines) - 1
        if last and line == "":
            break
        out.extend([line[k:k + chunk] for k in range(0, len(line), chunk)] if len(line) >= chunk else [line])
    return out

got = {"out": [], "err": []}
for raw in open(hub, encoding="utf-8"):
    m = re.match(r"^\[(.*?)/(.*?)\] (\S+): (.*)$", raw.rstrip("\n"))
    assert m, f"not a hub line: {raw[:80]!r}"
    tenant, service, cid, text = m.groups()
    assert (tenant, service, cid) == ("acme", "ctd", want_id), (tenant, service, cid)
    stream = "out" if text.startswith("out") or set(text) == {"O"} else "err"
    got[stream].append(text)
for stream in ("out", "err"):
    want = frames(f"{work}/want.{stream}")
    have = got[stream]
    bad = next((i for i, (a, b) in enumerate(zip(have, want)) if a != b), None)
    assert have == want, f"std{stream}: {len(have)} frames, want {len(want)}; first difference at {bad}"
print(f"== containerd e2e: zmq: {len(got['out'])} stdout + {len(got['err'])} stderr frames, exact and in order, tenant acme, service ctd")
PY

}

say "run 1: driver=zmq, to the hub on tcp://127.0.0.1:$port"
"$hub" "tcp://127.0.0.1:$port" >"$work/hub.out" 2>"$work/hub.err" &
pids+=($!)
run ctd-zmq "driver=zmq&zmq-address=tcp://127.0.0.1:$port"
# Every line is a frame, and a 40,000-byte line three (16 KiB chunks).
want=$((2 * LINES + 2 * (LINES / 10000) * 2 + 1))
for _ in $(seq 1 300); do
    [ "$(wc -l <"$work/hub.out")" -ge "$want" ] && break
    sleep 0.1
done
check_hub "$work/hub.out" ctd-zmq
say "run 2: driver=json-file, read back byte for byte"
run ctd-json "driver=json-file&log-dir=$work/logs&max-size=100m"
log="$work/logs/default/ctd-json.log"
"$read_log" json-file "$log" >"$work/got.out" 2>"$work/got.err"
cmp "$work/want.out" "$work/got.out"
cmp "$work/want.err" "$work/got.err"
say "json-file: $(wc -l <"$log") entries; stdout ($(stat -c %s "$work/got.out") bytes) and stderr ($(stat -c %s "$work/got.err") bytes) read back identical"

say "run 3: driver=k8s-file, read back byte for byte"
run ctd-k8s "driver=k8s-file&log-dir=$work/logs"
log="$work/logs/default/ctd-k8s.log"
"$read_log" k8s-file "$log" >"$work/got.out" 2>"$work/got.err"
cmp "$work/want.out" "$work/got.out"
cmp "$work/want.err" "$work/got.err"
head -c 31 "$log" | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{9}Z $' ||
    { say "FAILED: not a CRI record with a nine-digit time: $(head -c 60 "$log")"; exit 1; }
say "k8s-file: $(wc -l <"$log") records; stdout and stderr read back identical"

say "run 4: a bad option fails the start, says why, and leaves nothing running"
if c run --rm --snapshotter native --log-uri "binary://$logger?driver=json-file&max-size=lots" \
    "$image" ctd-bad echo never >"$work/bad.out" 2>"$work/bad.err"; then
    say "FAILED: a container with a bad option started"; exit 1
fi
grep -q 'failed to create shim task' "$work/bad.err" ||
    { say "FAILED: ctr did not report a failed start"; cat "$work/bad.err"; exit 1; }
message='container ctd-bad (namespace default), driver json-file: invalid value "lots" for option "max-size" of log driver "json-file"'
for _ in $(seq 1 50); do grep -qF "$message" "$work/containerd.log" && break; sleep 0.1; done
grep -qF "$message" "$work/containerd.log" ||
    { say "FAILED: containerd's log lacks the driver's error"; tail -20 "$work/containerd.log"; exit 1; }
if ps -eo stat=,args= | awk '$1 !~ /^Z/' | grep -v grep | grep -q -e "$logger" -e "-id ctd-bad"; then
    say "FAILED: a process was left behind"; ps -eo pid,stat,args | grep -e "$logger" -e "-id ctd-bad"; exit 1
fi
if [ -n "$(c containers ls -q)" ] || [ -n "$(c tasks ls -q)" ]; then
    say "FAILED: containers or tasks were left behind"; c containers ls; exit 1
fi
say "bad option: $(cat "$work/bad.err")"
say "bad option: containerd's log says: $(grep -F "$message" "$work/containerd.log")"

say "run 5: SIGUSR1 reopens k8s-file's log after a rename, as a kubelet's rotation does"
log="$work/logs/default/ctd-reopen.log"
c run --rm --snapshotter native --log-uri "binary://$logger?driver=k8s-file&log-dir=$work/logs" \
    "$image" ctd-reopen sh -c 'echo before; sleep 3; echo after' &
ctr_pid=$!
for _ in $(seq 1 100); do grep -q before "$log" 2>/dev/null && break; sleep 0.05; done
grep -q before "$log" || { say "FAILED: no 'before' in $log"; exit 1; }
mv "$log" "$log.20261202-120000"
pkill -USR1 -f "^$logger" || { say "FAILED: no logger process to signal"; exit 1; }
wait "$ctr_pid"
before=$(cut -d' ' -f2- "$log.20261202-120000")
after=$(cut -d' ' -f2- "$log")
[ "$before" = "stdout F before" ] && [ "$after" = "stdout F after" ] ||
    { say "FAILED: renamed file has '$before', new file has '$after'"; exit 1; }
say "reopen: the renamed file holds '$before', the new one '$after'"

say "run 5b: driver=otlp, to a receiver built on opentelemetry-proto"
source tests/otlp/setup.sh
"$OTLP_PY" "$RECEIVER" "$((port + 2))" "$work/otlp.jsonl" 2>"$work/otlp.err" &
pids+=($!)
for _ in $(seq 1 100); do grep -q "receiver on" "$work/otlp.err" && break; sleep 0.1; done
run ctd-otlp "driver=otlp&otlp-endpoint=http://127.0.0.1:$((port + 2))&otlp-service-name=ctd&env=TENANT_ID"
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
records = [json.loads(l) for l in open(f"{work}/otlp.jsonl")]
for stream in ("out", "err"):
    want = open(f"{work}/want.{stream}", encoding="utf-8").read()
    want = want[:-1].split("\n") if want.endswith("\n") else want.split("\n")
    have = [r["body"] for r in records if r["attrs"]["log.iostream"] == "std" + stream]
    bad = next((i for i, (a, b) in enumerate(zip(have, want)) if a != b), None)
    assert have == want, f"std{stream}: {len(have)} records, want {len(want)}; first difference at {bad}"
for r in records:
    res = r["resource"]
    assert (res["container.id"], res["service.name"], res["TENANT_ID"]) == ("ctd-otlp", "ctd", "acme"), res
    # The last line has no newline: the Copier, as dockerd's, sends it as
    # a chunk whose group never ends, and it arrives as a part that says so.
    if r["body"] == "out last, no newline":
        assert (r["attrs"]["logdriver.partial.ordinal"], r["attrs"]["logdriver.partial.last"]) == (1, False), r
    else:
        assert "logdriver.partial.id" not in r["attrs"], r["attrs"]
n = {s: sum(r["attrs"]["log.iostream"] == s for r in records) for s in ("stdout", "stderr")}
print(f"== containerd e2e: otlp: {n['stdout']} stdout + {n['stderr']} stderr records, one per line, "
      f"the 40,000-byte lines joined into one record each, exact and in order, the unended last line a part; resource {sorted(records[0]['resource'])}")
PY

say "run 5c: metrics-address: the logger serves its counts while the container runs"
if ! command -v promtool >/dev/null; then
    apt-get install -y -qq prometheus >/dev/null
fi
msock="$work/metrics/ctd-metrics.sock"
c run --rm --snapshotter native \
    --log-uri "binary://$logger?driver=json-file&log-dir=$work/logs&metrics-address=unix:$msock" \
    "$image" ctd-metrics sh -c 'i=0; while [ $i -lt 1000 ]; do echo "m $i"; i=$((i+1)); done; sleep 3' &
ctr_pid=$!
want_sample='logdriver_lines_total{container="ctd-metrics",namespace="default",driver="json-file"} 1000'
for _ in $(seq 1 100); do
    curl -s --unix-socket "$msock" http://logger/metrics >"$work/metrics.txt" 2>/dev/null &&
        grep -qF "$want_sample" "$work/metrics.txt" && break
    sleep 0.1
done
grep -qF "$want_sample" "$work/metrics.txt" ||
    { say "FAILED: the logger's metrics lack '$want_sample': $(cat "$work/metrics.txt")"; exit 1; }
lint=$(promtool check metrics <"$work/metrics.txt" 2>&1) || { say "FAILED: promtool: $lint"; exit 1; }
[ -z "$lint" ] || { say "FAILED: promtool has something to say: $lint"; exit 1; }
wait "$ctr_pid"
say "metrics: scraped '$want_sample' from the running logger's socket; promtool check metrics clean"

say "run 6: our launcher (examples/binary_launcher.rs) runs the same logger without containerd: json-file, then zmq"
LOGGER_ID=launched-json "$launcher" "binary://$logger?driver=json-file&log-dir=$work/logs&max-size=100m" \
    -- busybox sh -c "$script" 2>"$work/launcher.err"
log="$work/logs/default/launched-json.log"
"$read_log" json-file "$log" >"$work/got.out" 2>"$work/got.err"
cmp "$work/want.out" "$work/got.out"
cmp "$work/want.err" "$work/got.err"
say "launcher: $(wc -l <"$log") entries, both streams read back identical; $(tail -1 "$work/launcher.err")"
# zmq, from a directory with a bundle's config.json, as the shim's cwd is:
# the logger reads the container's environment from it.
mkdir -p "$work/bundle"
printf '{"process":{"args":["sh"],"env":["TENANT_ID=acme","SERVICE_ID=ctd"]}}' >"$work/bundle/config.json"
"$hub" "tcp://127.0.0.1:$((port + 1))" >"$work/hub2.out" 2>"$work/hub2.err" &
pids+=($!)
(cd "$work/bundle" && LOGGER_ID=launched-zmq "$launcher" \
    "binary://$logger?driver=zmq&zmq-address=tcp://127.0.0.1:$((port + 1))" \
    -- busybox sh -c "$script" 2>/dev/null)
for _ in $(seq 1 300); do
    [ "$(wc -l <"$work/hub2.out")" -ge "$want" ] && break
    sleep 0.1
done
check_hub "$work/hub2.out" launched-zmq

say "run 7: a probe logger under containerd's shim and under our launcher: what each gives it"
probe_script="echo hi; echo err >&2"
c run --rm --snapshotter native --log-uri "binary://$probe?record=$work/probe-ctr.json&b=2&a=x+y" \
    "$image" ctd-probe sh -c "$probe_script"
(cd "$work" && LOGGER_ID=ctd-probe "$launcher" "binary://$probe?record=$work/probe-ours.json&b=2&a=x+y" \
    -- busybox sh -c "$probe_script" 2>/dev/null)
for _ in $(seq 1 150); do [ -s "$work/probe-ctr.json" ] && break; sleep 0.1; done
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
ctr = json.load(open(f"{work}/probe-ctr.json"))
ours = json.load(open(f"{work}/probe-ours.json"))
# Each was told its own record file; the rest must agree.
pairs = lambda r: sorted(p for p in zip(r["args"][::2], r["args"][1::2]) if p[0] != "record")
assert pairs(ctr) == pairs(ours), (ctr["args"], ours["args"])
assert ctr["env"] == ours["env"], f"env: containerd's {ctr['env']}, ours {ours['env']}"
# Ours: exactly 0-2 on /dev/null and the three pipes. containerd's shim
# passes those, and more of its own (a finding, not a contract).
contract = [[0, "/dev/null"], [1, "/dev/null"], [2, "/dev/null"], [3, "pipe"], [4, "pipe"], [5, "pipe"]]
assert ours["fds"] == contract, ours["fds"]
assert ctr["fds"][:6] == contract, ctr["fds"]
extra = ctr["fds"][6:]
def eofs(r):
    return sorted(e for e in r["events"] if e.startswith("eof"))
assert ctr["events"][0] == ours["events"][0] == "ready", (ctr["events"], ours["events"])
assert eofs(ctr) == eofs(ours), (ctr["events"], ours["events"])
print(f"== containerd e2e: probe: the same arguments (as pairs: containerd's {ctr['args']}, ours {ours['args']}), "
      f"environment {ours['env']}, descriptors 0-5 as the contract says, ready first and the same bytes before each end")
print(f"== containerd e2e: probe: descriptors beyond the contract: containerd's shim {extra or 'none'}, ours none")
print(f"== containerd e2e: probe: cwd: containerd's {ctr['cwd']!r} (the bundle), ours {ours['cwd']!r} (the launcher's)")
print(f"== containerd e2e: probe: events: containerd's {ctr['events']}, ours {ours['events']}")
assert "sigterm" not in ours["events"], "our launcher sent SIGTERM to a logger that was draining"
PY

say "passed"
