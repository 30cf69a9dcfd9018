"""Watches a json-file log as it grows and writes, for each entry, the
time it appeared in the file minus the time dockerd read it (the entry's
"time"), in microseconds, one a line, to OUT, until STOP exists.

    latency.py LOG OUT STOP
"""
import datetime, json, os, sys, time

log, out, stop = sys.argv[1:4]


def nanos(stamp):
    # 2026-12-03T15:28:16.659518384Z: Python parses microseconds only.
    head, frac = stamp.rstrip("Z").split(".")
    t = datetime.datetime.fromisoformat(head).replace(tzinfo=datetime.timezone.utc)
    return int(t.timestamp()) * 10**9 + int(frac.ljust(9, "0"))


while not os.path.exists(log):
    time.sleep(0.001)
latencies, rest = [], b""
with open(log, "rb") as f:
    while True:
        chunk = f.read()
        now = time.time_ns()
        if chunk:
            rest += chunk
            *lines, rest = rest.split(b"\n")
            for line in lines:
                latencies.append((now - nanos(json.loads(line)["time"])) // 1000)
        elif os.path.exists(stop):
            break
        else:
            time.sleep(0.0005)
with open(out, "w") as f:
    f.write("".join(f"{us}\n" for us in latencies))
