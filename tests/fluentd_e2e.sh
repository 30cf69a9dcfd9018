#!/usr/bin/env bash
# End to end against a real forward-protocol server: FluentServer from the
# npm package @fluent-org/logger (tests/fluentd/server.js), fed by the
# fluentd driver through a Copier (examples/write_log.rs):
#   1. 100,000 lines, some 40,000 bytes long, a last one with no newline:
#      every record exact, every stream rebuilt byte for byte;
#   2. the same with acks, the server killed (-9) and restarted in the
#      middle: nothing lost;
#   3. TLS with a CA made here: accepted with fluentd-tls-ca, refused
#      without it.
# Docker's own fluentd driver is compared with ours in tests/docker_e2e.sh.
# Installs node and the package when missing (tests/fluentd/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

LINES=${LINES:-50000} # per stream
work=$(mktemp -d /tmp/logdriver-fluentd-e2e.XXXXXX)
port=$((40000 + ($$ + 13) % 20000))
server=

say() { printf '== fluentd e2e: %s\n' "$*"; }
trap 'say "FAILED at line $LINENO: $BASH_COMMAND"' ERR

cleanup() {
    set +e
    [ -n "$server" ] && kill -9 "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# start_server EVENTS [CERT KEY]: FluentServer on $port, its events to EVENTS.
start_server() {
    : >"$work/server.err"
    node tests/fluentd/server.js "$port" "${@:2}" >>"$1" 2>"$work/server.err" &
    server=$!
    for _ in $(seq 1 100); do
        grep -q listening "$work/server.err" && return
        sleep 0.1
    done
    say "FAILED: FluentServer did not start"; cat "$work/server.err"; exit 1
}

stop_server() {
    kill -9 "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=
}

# wait_events FILE N: until FILE has N lines, at most 60 s.
wait_events() {
    for _ in $(seq 1 600); do
        [ "$(wc -l <"$1")" -ge "$2" ] && return
        sleep 0.1
    done
}

if ! command -v busybox >/dev/null; then
    say "installing busybox-static (the container's shell)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq busybox-static >/dev/null
fi
bash tests/fluentd/setup.sh
say "building the writer, with tls://"
cargo build -q --features tls --example write_log
write_log=target/debug/examples/write_log

# lines FIRST LAST: those lines on each stream, every 5,000th one 40,000
# bytes long.
lines() {
    echo "awk -v a=$1 -v b=$2 'BEGIN {
        o = sprintf(\"%40000s\", \"\"); e = o; gsub(/ /, \"O\", o); gsub(/ /, \"E\", e)
        for (i = a; i < b; i++) {
            if (i % 5000 == 7) { print \"out \" i \" \" o; print \"err \" i \" \" e > \"/dev/stderr\" }
            else { print \"out \" i \"\\tgrüße\"; print \"err \" i \"\\t→\" > \"/dev/stderr\" }
        }
    }'"
}
script="$(lines 0 "$LINES"); printf 'out last, no newline'"
# The same output in ten bursts 0.3 s apart, so that a restart falls in
# the middle of it.
slow=""
for k in $(seq 0 9); do
    slow="$slow$(lines $((k * LINES / 10)) $(((k + 1) * LINES / 10))); sleep 0.3; "
done
slow="${slow}printf 'out last, no newline'"
busybox sh -c "$script" >"$work/want.out" 2>"$work/want.err"
busybox sh -c "$slow" | cmp - "$work/want.out"
# Records: a line each, three for a 40,000-byte line.
records=$((2 * LINES + 2 * (LINES / 5000) * 2 + 1))

# check EVENTS: every record exact; the streams rebuilt byte for byte. A
# record sent again after a lost ack comes twice (at least once): every
# record here is unique (numbered lines; chunks have their partial_id), so
# a record seen before counts once.
check() {
    python3 - "$work" "$1" "$2" <<'PY'
import json, sys
work, events, label = sys.argv[1:4]
streams = {"stdout": [], "stderr": []}
seen = set()
dups = 0
for raw in open(events, encoding="utf-8"):
    e = json.loads(raw)
    r = e["record"]
    assert e["tag"] == "write-log", e["tag"]
    partial = "partial_message" in r
    keys = ["container_id", "container_name", "source", "log"]
    if partial:
        keys += ["partial_message", "partial_id", "partial_ordinal", "partial_last"]
    assert list(r) == keys, list(r)
    assert (r["container_id"], r["container_name"]) == ("write-log", ""), r
    assert isinstance(e["time"], int), e["time"]
    key = json.dumps(r, sort_keys=True)
    if key in seen:
        dups += 1
        continue
    seen.add(key)
    streams[r["source"]].append(r["log"] + ("" if partial and r["partial_last"] == "false" else "\n"))
for stream, name in (("stdout", "out"), ("stderr", "err")):
    got = "".join(streams[stream])
    want = open(f"{work}/want.{name}", encoding="utf-8").read()
    assert got == want, f"{stream}: {len(got)} characters, want {len(want)}"
print(f"== fluentd e2e: {label}: {sum(map(len, streams.values()))} records exact, both streams byte for byte ({dups} sent twice)")
PY
}

say "run 1: $records records, blocking mode"
start_server "$work/run1.jsonl"
"$write_log" fluentd "$work/x" fluentd-address="tcp://127.0.0.1:$port" -- busybox sh -c "$script"
wait_events "$work/run1.jsonl" "$records"
check "$work/run1.jsonl" "run 1"

say "run 2: with acks, the server killed and restarted in the middle"
stop_server
start_server "$work/run2.jsonl"
"$write_log" fluentd "$work/x" fluentd-address="tcp://127.0.0.1:$port" \
    fluentd-request-ack=true fluentd-retry-wait=100ms -- busybox sh -c "$slow" &
writer=$!
wait_events "$work/run2.jsonl" $((records / 3))
kill -0 "$writer" 2>/dev/null ||
    { say "FAILED: the writer was done before the restart; the restart was not tested"; exit 1; }
stop_server
sleep 0.5
start_server "$work/run2.jsonl"
wait "$writer" || { say "FAILED: the writer lost lines across the restart"; exit 1; }
wait_events "$work/run2.jsonl" "$records"
check "$work/run2.jsonl" "run 2 (restarted at $((records / 3)) records)"

say "run 3: TLS, with a CA made here"
stop_server
(
    cd "$work"
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=logdriver-test-ca \
        -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=DNS:localhost\n' >san.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
        -extfile san.ext -out server.pem 2>/dev/null
)
start_server "$work/run3.jsonl" "$work/server.pem" "$work/server.key"
"$write_log" fluentd "$work/x" fluentd-address="tls://localhost:$port" fluentd-tls-ca="$work/ca.pem" \
    -- busybox sh -c "$script"
wait_events "$work/run3.jsonl" "$records"
check "$work/run3.jsonl" "run 3 (tls://, fluentd-tls-ca)"
if "$write_log" fluentd "$work/x" fluentd-address="tls://localhost:$port" fluentd-write-timeout=1s \
    -- echo untrusted 2>"$work/untrusted.err"; then
    say "FAILED: a server signed by an unknown CA was trusted"; exit 1
fi
[ "$(wc -l <"$work/run3.jsonl")" -eq "$records" ] ||
    { say "FAILED: the untrusted run reached the server"; exit 1; }
say "run 3: without fluentd-tls-ca the server is not trusted: $(tail -1 "$work/untrusted.err")"

say "passed"
