#!/usr/bin/env bash
# End to end against real syslog servers: rsyslog (its jsonmesg, every
# field it parsed) and syslog-ng (its strict RFC 5424 parsers), fed by the
# syslog driver through a Copier (examples/write_log.rs), 100,000 lines
# per transport (some 40,000 bytes long, so three messages each; a last
# one with no newline), each checked message by message, in order, with
# every header field:
#   rsyslog:   udp:// (rfc5424micro), tcp:// (rfc3164, lf), tcp:// (rfc5424,
#              octet-counted, structured data, a 100-character tag),
#              tcp+tls://, unix:// and unixgram:// (Docker's default format),
#              and rsyslog restarted in the middle of a tcp:// stream: what
#              did not arrive is exactly what was counted as dropped;
#   syslog-ng: tcp:// to syslog() (octet-counted RFC 5424) and to
#              network(flags(syslog-protocol)) (lf), tcp+tls:// with a CA
#              made here and a client certificate the server requires;
#              refused without the CA, taken with syslog-tls-skip-verify.
# Docker's own syslog driver is compared with ours in tests/docker_e2e.sh;
# the faults in tests/fault_matrix/. Installs what it needs
# (tests/syslog/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

LINES=${LINES:-50000} # per stream
work=$(mktemp -d /tmp/logdriver-syslog-e2e.XXXXXX)
port=$((41000 + ($$ + 29) % 15000)) # this script uses port .. port+5
pids=()

say() { printf '== syslog e2e: %s\n' "$*"; }
trap 'say "FAILED at line $LINENO: $BASH_COMMAND"' ERR

cleanup() {
    set +e
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

source tests/syslog/setup.sh
say "$(rsyslogd -v | head -1), $(syslog_ng --version | head -1)"
say "building the writer, with tcp+tls://"
cargo build -q --features tls --example write_log
write_log=target/debug/examples/write_log

# The container's output: every 5,000th line 40,000 bytes long.
script="awk -v n=$LINES 'BEGIN {
    o = sprintf(\"%40000s\", \"\"); e = o; gsub(/ /, \"O\", o); gsub(/ /, \"E\", e)
    for (i = 0; i < n; i++) {
        if (i % 5000 == 7) { print \"out \" i \" \" o; print \"err \" i \" \" e > \"/dev/stderr\" }
        else { print \"out \" i \"\\tgrüße\"; print \"err \" i \"\\t→\" > \"/dev/stderr\" }
    }
}'; printf 'out last, no newline'"
busybox sh -c "$script" >"$work/want.out" 2>"$work/want.err"
# Messages: a line each, three for a 40,000-byte line.
messages=$((2 * LINES + 2 * (LINES / 5000) * 2 + 1))

# wait_lines FILE N: until FILE has N lines, at most 60 s.
wait_lines() {
    for _ in $(seq 1 600); do
        [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return
        sleep 0.1
    done
}

# check FILE LABEL FORMAT TAG [SD]: every message in FILE (one JSON object
# a line, rsyslog's jsonmesg keys) as the driver must have sent it.
check() {
    python3 - "$work" "$@" <<'PY'
import json, socket, sys
work, path, label, fmt, tag = sys.argv[1:6]
sd = sys.argv[6] if len(sys.argv) > 6 else "-"
CHUNK = 16 * 1024
def messages(name):
    data = open(f"{work}/want.{name}", "rb").read()
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    out = []
    for line in lines:
        chunks = [line[i:i + CHUNK] for i in range(0, len(line), CHUNK)] or [b""]
        out += [c.decode() for c in chunks]
    return out
want = {"6": messages("out"), "3": messages("err")}
got = {"6": [], "3": []}
host = socket.gethostname()
# rsyslog's imptcp writes junk bytes as the fromhost-ip of a unix socket;
# a message made invalid so would not equal the one wanted.
for raw in open(path, encoding="utf-8", errors="replace"):
    m = json.loads(raw)
    if fmt.startswith("rfc5424"):
        assert (m["app-name"], m["msgid"]) == (tag[:48], tag[:32]), (m["app-name"], m["msgid"])
        assert m["structured-data"] == sd, m["structured-data"]
        msg = m["msg"]
    else:
        assert m["app-name"] == tag, m["app-name"]
        msg = m["msg"][1:] if m["msg"].startswith(" ") else m["msg"]
    if fmt != "unix":
        assert m["hostname"] == host, (m["hostname"], host)
    assert m["procid"].isdigit(), m["procid"]
    got[m["syslogseverity"]].append(msg)
for sev, name in (("6", "stdout"), ("3", "stderr")):
    g, w = got[sev], want[sev]
    if g != w:
        first = next((i for i, (a, b) in enumerate(zip(g, w)) if a != b), min(len(g), len(w)))
        sys.exit(f"{label}: {name}: {len(g)} messages, want {len(w)}; first difference at {first}: "
                 f"{g[first][:80] if first < len(g) else None!r} vs {w[first][:80] if first < len(w) else None!r}")
print(f"== syslog e2e: {label}: {len(got['6']) + len(got['3'])} messages exact, in order, every field")
PY
}

say "a CA, and a server and a client certificate it signed"
(
    cd "$work"
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=logdriver-test-ca \
        -keyout ca.key -out ca.pem 2>/dev/null
    for who in server client; do
        openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout $who.key -out $who.csr 2>/dev/null
        printf 'subjectAltName=DNS:localhost\n' >san.ext
        openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
            -extfile san.ext -out $who.pem 2>/dev/null
    done
)
# One rsyslog for its five inputs; every message to one file per input.
say "rsyslog: udp, tcp, tcp with TLS, unix and unixgram inputs"
mkdir -p "$work/rsyslog"
cat >"$work/rsyslog.conf" <<EOF
global(workDirectory="$work/rsyslog" parser.escapeControlCharactersOnReceive="off" maxMessageSize="128k"
    DefaultNetstreamDriverCAFile="$work/ca.pem" DefaultNetstreamDriverCertFile="$work/server.pem"
    DefaultNetstreamDriverKeyFile="$work/server.key")
# One worker: with more, batches of 256 messages reach the files out of
# order.
main_queue(queue.workerThreads="1")
module(load="imudp")
module(load="imtcp")
module(load="imptcp")
module(load="imuxsock" SysSock.Use="off")
template(name="json" type="string" string="%jsonmesg%\n")
input(type="imudp" address="127.0.0.1" port="$port" rcvbufSize="256m" ruleset="udp")
input(type="imtcp" address="127.0.0.1" port="$((port + 1))" ruleset="tcp")
input(type="imtcp" address="127.0.0.1" port="$((port + 5))" ruleset="tls"
    streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imptcp" path="$work/stream.sock" unlink="on" ruleset="unix")
input(type="imuxsock" Socket="$work/gram.sock" UseSpecialParser="off" ruleset="unixgram")
ruleset(name="udp") { action(type="omfile" file="$work/udp.jsonl" template="json") }
ruleset(name="tcp") { action(type="omfile" file="$work/tcp.jsonl" template="json") }
ruleset(name="tls") { action(type="omfile" file="$work/tls-rsyslog.jsonl" template="json") }
ruleset(name="unix") { action(type="omfile" file="$work/unix.jsonl" template="json") }
ruleset(name="unixgram") { action(type="omfile" file="$work/unixgram.jsonl" template="json") }
EOF
rsyslogd -n -f "$work/rsyslog.conf" -i "$work/rsyslog.pid" >"$work/rsyslog.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [ -S "$work/gram.sock" ] && [ -S "$work/stream.sock" ] && break; sleep 0.1; done

# run FILE LABEL FORMAT TAG OPTIONS…: the writer with the syslog driver,
# then the check of what FILE got. The servers keep their files open, so
# each run checks what it added.
run() {
    local file=$1 label=$2 format=$3 tag=$4
    shift 4
    touch "$file"
    local before
    before=$(wc -l <"$file")
    "$write_log" syslog "$work/x" tag="$tag" "$@" -- busybox sh -c "$script"
    wait_lines "$file" $((before + messages))
    # A moment for any message more, which would fail the check.
    sleep 0.5
    tail -n +$((before + 1)) "$file" >"$work/run.jsonl"
    check "$work/run.jsonl" "$label" "$format" "$tag" "${SD--}"
}

run "$work/udp.jsonl" "rsyslog, udp://, rfc5424micro" rfc5424micro web \
    syslog-address="udp://127.0.0.1:$port" syslog-format=rfc5424micro syslog-facility=local0
run "$work/tcp.jsonl" "rsyslog, tcp://, rfc3164, lf" rfc3164 web \
    syslog-address="tcp://127.0.0.1:$((port + 1))" syslog-format=rfc3164
long_tag=$(printf 'a%.0s' $(seq 1 100))
SD='[container@32473 name="" id="write-log"]' \
    run "$work/tcp.jsonl" "rsyslog, tcp://, rfc5424, octet-counted, structured data, a 100-character tag" \
    rfc5424 "$long_tag" syslog-address="tcp://127.0.0.1:$((port + 1))" syslog-format=rfc5424 \
    syslog-framing=octet-counted syslog-structured-data=true
run "$work/tls-rsyslog.jsonl" "rsyslog, tcp+tls://, rfc5424, octet-counted" rfc5424 web \
    syslog-address="tcp+tls://localhost:$((port + 5))" syslog-format=rfc5424 syslog-tls-ca-cert="$work/ca.pem"
run "$work/unix.jsonl" "rsyslog, unix://, Docker's default format" unix web \
    syslog-address="unix://$work/stream.sock"
run "$work/unixgram.jsonl" "rsyslog, unixgram://, Docker's default format" unix web \
    syslog-address="unixgram://$work/gram.sock"

say "rsyslog restarted in the middle of a tcp:// stream"
# Four bursts 2 s apart; rsyslog is stopped and started again after the
# first. Lines that find the queue full while it is down are dropped and
# counted; every other one must arrive, in order.
bursts=""
for k in 0 1 2 3; do
    bursts="$bursts awk -v a=$((k * LINES / 4)) -v b=$(((k + 1) * LINES / 4)) 'BEGIN {
        for (i = a; i < b; i++) { print \"out \" i; print \"err \" i > \"/dev/stderr\" } }'; sleep 2;"
done
before=$(wc -l <"$work/tcp.jsonl")
"$write_log" syslog "$work/x" syslog-address="tcp://127.0.0.1:$((port + 1))" syslog-format=rfc5424 \
    -- busybox sh -c "$bursts" 2>"$work/restart.err" &
writer=$!
wait_lines "$work/tcp.jsonl" $((before + 2 * LINES / 4))
sleep 0.3
kill -TERM "${pids[0]}"
wait "${pids[0]}" || true
sleep 0.5
rsyslogd -n -f "$work/rsyslog.conf" -i "$work/rsyslog.pid" >>"$work/rsyslog.log" 2>&1 &
pids[0]=$!
wait "$writer" || true
dropped=$(sed -n 's/.*log_errors: \([0-9]*\).*/\1/p' "$work/restart.err")
dropped=${dropped:-0}
wait_lines "$work/tcp.jsonl" $((before + 2 * LINES - dropped))
sleep 0.5
tail -n +$((before + 1)) "$work/tcp.jsonl" | python3 -c '
import json, sys
lines, dropped = int(sys.argv[1]), int(sys.argv[2])
got = {"6": [], "3": []}
for raw in sys.stdin:
    m = json.loads(raw)
    got[m["syslogseverity"]].append(m["msg"])
missing = 0
for sev, name in (("6", "out"), ("3", "err")):
    want = [f"{name} {i}" for i in range(lines)]
    it = iter(want)
    assert all(m in it for m in got[sev]), f"std{name}: out of order, or a line never sent"
    missing += len(want) - len(got[sev])
assert missing == dropped, f"{missing} lines missing, {dropped} counted as dropped"
print(f"== syslog e2e: restart: {2 * lines - missing} of {2 * lines} lines arrived in order; "
      f"the {missing} missing are exactly those counted as dropped")
' "$LINES" "$dropped"

say "syslog-ng: strict RFC 5424 parsers, plain and TLS"
json='$(format-json app-name=$PROGRAM msgid=$MSGID structured-data=$SDATA msg=$MSG syslogseverity=$LEVEL_NUM hostname=$HOST procid=$PID)\n'
cat >"$work/syslog-ng.conf" <<EOF
@version: $SYSLOG_NG_VERSION
options { keep-hostname(yes); log-msg-size(131072); };
source s_framed { syslog(transport("tcp") ip("127.0.0.1") port($((port + 2))) log-msg-size(131072)); };
source s_lf { network(transport("tcp") ip("127.0.0.1") port($((port + 3))) flags(syslog-protocol) log-msg-size(131072)); };
source s_tls { syslog(transport("tls") ip("127.0.0.1") port($((port + 4))) log-msg-size(131072)
    tls(key-file("$work/server.key") cert-file("$work/server.pem") ca-file("$work/ca.pem") peer-verify(required-trusted))); };
destination d_framed { file("$work/framed.jsonl" template("$json") template-escape(no)); };
destination d_lf { file("$work/lf.jsonl" template("$json") template-escape(no)); };
destination d_tls { file("$work/tls.jsonl" template("$json") template-escape(no)); };
log { source(s_framed); destination(d_framed); };
log { source(s_lf); destination(d_lf); };
log { source(s_tls); destination(d_tls); };
EOF
syslog_ng -F -f "$work/syslog-ng.conf" --persist-file="$work/syslog-ng.persist" \
    --pidfile="$work/syslog-ng.pid" --control="$work/syslog-ng.ctl" >"$work/syslog-ng.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$((port + 4))") 2>/dev/null && break
    sleep 0.1
done

# syslog-ng names fields as it parsed them; an empty SD is "".
SD="" run "$work/framed.jsonl" "syslog-ng syslog(), tcp://, rfc5424, octet-counted, a 100-character tag" \
    rfc5424 "$long_tag" syslog-address="tcp://127.0.0.1:$((port + 2))" syslog-format=rfc5424 \
    syslog-framing=octet-counted
SD="" run "$work/lf.jsonl" "syslog-ng network(flags(syslog-protocol)), tcp://, rfc5424micro, lf" \
    rfc5424micro web syslog-address="tcp://127.0.0.1:$((port + 3))" syslog-format=rfc5424micro
SD="" run "$work/tls.jsonl" "syslog-ng syslog(), tcp+tls://, rfc5424, a client certificate required" \
    rfc5424 web syslog-address="tcp+tls://localhost:$((port + 4))" syslog-format=rfc5424 \
    syslog-tls-ca-cert="$work/ca.pem" syslog-tls-cert="$work/client.pem" syslog-tls-key="$work/client.key"

# Without the CA the server is not trusted: every line is dropped and
# counted, and the writer says so. With syslog-tls-skip-verify it is.
before=$(wc -l <"$work/tls.jsonl")
if "$write_log" syslog "$work/x" syslog-address="tcp+tls://localhost:$((port + 4))" \
    syslog-format=rfc5424 syslog-write-timeout=1s -- echo untrusted 2>"$work/untrusted.err"; then
    say "FAILED: a server signed by an unknown CA was trusted"; exit 1
fi
say "tcp+tls:// without syslog-tls-ca-cert is refused: $(tail -1 "$work/untrusted.err")"
"$write_log" syslog "$work/x" syslog-address="tcp+tls://localhost:$((port + 4))" \
    syslog-format=rfc5424 syslog-tls-skip-verify=true \
    syslog-tls-cert="$work/client.pem" syslog-tls-key="$work/client.key" -- echo skipped
wait_lines "$work/tls.jsonl" $((before + 1))
sleep 0.5
tail -n +$((before + 1)) "$work/tls.jsonl" | python3 -c '
import json, sys
got = [json.loads(l)["msg"] for l in sys.stdin]
assert got == ["skipped"], got'
say "tcp+tls:// with syslog-tls-skip-verify: the one line arrived, and the untrusted run's did not"

say "passed"
