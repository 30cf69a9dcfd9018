#!/usr/bin/env bash
# The otlp driver against real OTLP peers: rotel (PyPI's OpenTelemetry
# collector binary) in the middle, and tests/otlp/receiver.py (PyPI's
# opentelemetry-proto) at the end, which decodes every request and writes
# every record it acks. Each run feeds examples/write_log.rs a container
# (tests/otlp/gen.py) and checks every record (tests/otlp/check.py):
#   1. 100,000 lines of each stream, a 1 MiB line and a line that is not
#      UTF-8, through rotel: every line once, in per-stream order, byte for
#      byte, with the resource and record attributes documented;
#   2. no collector when the driver is made: the container starts at once,
#      and every line arrives once the receiver comes up;
#   3. the receiver killed -9 for 5 s mid-stream: nothing lost while the
#      queue holds the burst; then with a small queue: what is missing
#      equals the driver's drop count, exactly;
#   4. a receiver that answers 503 with Retry-After, and one whose answers
#      reject records in a partial_success: counted as documented;
#   5. https with a CA of the test's own and a client certificate.
# Installs what it needs; fails, never skips, if a peer cannot run.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '== otlp e2e: %s\n' "$*"; }
trap 'say "FAILED at line $LINENO: $BASH_COMMAND"' ERR
source tests/otlp/setup.sh
work=$(mktemp -d /tmp/logdriver-otlp.XXXXXX)
base=$((21000 + $$ % 5000 * 4))
pids=()
cleanup() {
    set +e
    for pid in "${pids[@]}"; do stop "$pid"; done
    [ "${KEEP:-0}" = 1 ] && say "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
# stop PID...: kill -9, and reap, so that bash does not report it.
stop() {
    kill -9 "$@" 2>/dev/null || true
    wait "$@" 2>/dev/null || true
}

say "$("$ROTEL" version 2>&1 | head -1), opentelemetry-proto $("$OTLP_PY" -c 'import importlib.metadata as m; print(m.version("opentelemetry-proto"))')"
cargo build -q --features otlp,tls --example write_log
write_log=target/debug/examples/write_log
gen="python3 tests/otlp/gen.py"

# receiver PORT OUT [ARGS...]: starts the receiver, waits for its port.
receiver() {
    local port=$1
    "$OTLP_PY" "$RECEIVER" "$@" 2>>"$work/receiver.err" &
    receiver_pid=$!
    pids+=("$receiver_pid")
    wait_port "$port"
}
wait_port() {
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return
        sleep 0.1
    done
    say "FAILED: nothing listens on $1"; exit 1
}
# run NAME PORT [KEY=VALUE...] -- COMMAND: the driver, with the stats kept.
run() {
    local name=$1 port=$2; shift 2
    WRITE_LOG_STATS="$work/$name.stats" "$write_log" otlp /dev/null \
        otlp-endpoint="${scheme:-http}://${host:-127.0.0.1}:$port" otlp-service-name=e2e "$@"
}

say "run 1: 100,000 lines of each stream, a 1 MiB line and a binary one, through rotel"
rotel_port=$base receiver_port=$((base + 1))
receiver "$receiver_port" "$work/1.jsonl"
"$ROTEL" start --otlp-http-endpoint "127.0.0.1:$rotel_port" --otlp-grpc-endpoint "127.0.0.1:$((base + 2))" \
    --logs-batch-max-size 1000000 --logs-batch-timeout 600s --exporter otlp --otlp-exporter-protocol http \
    --otlp-exporter-endpoint "http://127.0.0.1:$receiver_port" >"$work/rotel.log" 2>&1 &
rotel_pid=$!
pids+=("$rotel_pid")
wait_port "$rotel_port"
run 1 "$rotel_port" -- $gen 100000 - --extras
# rotel exports its batches concurrently, out of order: it holds the whole
# run as one batch, exported when it is told to stop.
kill -TERM "$rotel_pid"
wait "$rotel_pid" || true
"$OTLP_PY" tests/otlp/check.py "$work/1.jsonl" 100000 --extras --stats "$work/1.stats" \
    --label "driver -> rotel -> receiver" --resource service.name=e2e --resource container.id=write-log
stop "$rotel_pid" "$receiver_pid"

say "run 2: no collector when the driver is made"
port=$((base + 3))
run 2 "$port" -- sh -c "touch $work/2.started; exec $gen 20000" &
writer=$!
for _ in $(seq 1 100); do [ -e "$work/2.started" ] && break; sleep 0.1; done
[ -e "$work/2.started" ] || { say "FAILED: the container did not start without a collector"; exit 1; }
say "the container started with no collector; starting the receiver"
receiver "$port" "$work/2.jsonl"
wait "$writer"
"$OTLP_PY" tests/otlp/check.py "$work/2.jsonl" 20000 --stats "$work/2.stats" --label "collector up late"
stop "$receiver_pid"

# killed NAME [KEY=VALUE...]: 20,000 lines of each stream at 2,000/s; the
# receiver is killed -9 after 3 s and started again 5 s later.
killed() {
    local name=$1; shift
    port=$((base + 3))
    receiver "$port" "$work/$name.jsonl"
    run "$name" "$port" otlp-linger=20s "$@" -- $gen 20000 2000 &
    writer=$!
    sleep 3
    stop "$receiver_pid"
    sleep 5
    receiver "$port" "$work/$name.jsonl"
    wait "$writer" || true
}
say "run 3: the receiver killed -9 for 5 s mid-stream, the queue big enough for the burst"
killed 3
"$OTLP_PY" tests/otlp/check.py "$work/3.jsonl" 20000 --stats "$work/3.stats" --accounted --label "killed 5 s, 8 MiB queue"
python3 -c "import json,sys; s=json.load(open(sys.argv[1])); sys.exit(s['dropped'] != 0)" "$work/3.stats" ||
    { say "FAILED: the queue held the burst, yet lines were dropped: $(cat "$work/3.stats")"; exit 1; }
stop "$receiver_pid"

say "run 4: the same with a 64 KiB queue: what is missing is what was counted"
killed 4 otlp-buffer-limit=64k otlp-send-timeout=100ms
"$OTLP_PY" tests/otlp/check.py "$work/4.jsonl" 20000 --stats "$work/4.stats" --accounted --label "killed 5 s, 64 KiB queue"
python3 -c "import json,sys; s=json.load(open(sys.argv[1])); sys.exit(s['dropped'] == 0)" "$work/4.stats" ||
    { say "FAILED: a 64 KiB queue held a 5 s outage: the run proves nothing"; exit 1; }
stop "$receiver_pid"

say "run 5: a receiver that answers 503 with Retry-After three times"
port=$((base + 3))
receiver "$port" "$work/5.jsonl" --busy 3 --stats "$work/5.receiver"
run 5 "$port" -- $gen 5000
"$OTLP_PY" tests/otlp/check.py "$work/5.jsonl" 5000 --stats "$work/5.stats" --label "503 with Retry-After"
python3 - "$work/5.receiver" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["busy"] == 3, r
print(f"== otlp e2e: 503 with Retry-After: {r['busy']} busy answers, {r['requests']} requests, {r['records']} records")
PY
stop "$receiver_pid"

say "run 6: a receiver whose every answer rejects 7 records in a partial_success"
receiver "$port" "$work/6.jsonl" --reject-per-request 7 --stats "$work/6.receiver"
run 6 "$port" -- $gen 5000 || true
python3 - "$work/6.receiver" "$work/6.stats" <<'PY'
import json, sys
r, s = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert r["records"] == 10000, r
assert s["dropped"] == r["rejected"] == 7 * r["requests"], (r, s)
assert s["lines"] == r["records"] - r["rejected"], (r, s)
print(f"== otlp e2e: partial_success: {r['requests']} requests, {r['rejected']} records rejected; "
      f"the driver counted {s['dropped']} dropped and {s['lines']} sent, of {r['records']}")
PY
stop "$receiver_pid"

say "run 7: https, with a CA of the test's own, and a client certificate the receiver requires"
(
    cd "$work"
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=logdriver-test-ca \
        -keyout ca.key -out ca.pem 2>/dev/null
    printf 'subjectAltName=DNS:localhost\n' >san.ext
    for who in server client; do
        openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout $who.key -out $who.csr 2>/dev/null
        openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
            -extfile san.ext -out $who.pem 2>/dev/null
    done
)
receiver "$port" "$work/7.jsonl" --tls "$work/server.pem" "$work/server.key" "$work/ca.pem"
scheme=https host=localhost run 7 "$port" otlp-tls-ca-cert="$work/ca.pem" \
    otlp-tls-cert="$work/client.pem" otlp-tls-key="$work/client.key" -- $gen 5000
"$OTLP_PY" tests/otlp/check.py "$work/7.jsonl" 5000 --stats "$work/7.stats" --label "https, client certificate"
say "passed"
