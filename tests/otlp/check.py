"""Checks what tests/otlp/receiver.py wrote against tests/otlp/gen.py's
output: every line once, in per-stream order, bodies byte for byte, and
the attributes as the driver documents them.

    check.py RECORDS N [--extras] [--stats WRITE_LOG_STATS] [--accounted]
             [--resource key=value ...] [--label L]

Without --accounted, every line must be there exactly once. With it, what
is missing must equal the driver's dropped count, exactly, and copies may
arrive only as often as the driver counted resent records.
"""
import argparse, base64, json, sys

a = argparse.ArgumentParser()
a.add_argument("records")
a.add_argument("n", type=int)
a.add_argument("--extras", action="store_true")
a.add_argument("--stats")
a.add_argument("--accounted", action="store_true")
a.add_argument("--resource", action="append", default=[])
a.add_argument("--label", default="otlp")
o = a.parse_args()

def fail(msg):
    print(f"== otlp e2e: FAILED ({o.label}): {msg}")
    sys.exit(1)

recs = [json.loads(l) for l in open(o.records)]
want_resource = dict(kv.split("=", 1) for kv in o.resource)
streams = {"stdout": [], "stderr": []}
big, binary = [], []
for r in recs:
    res = r["resource"]
    for k, v in want_resource.items():
        if res.get(k) != v:
            fail(f"resource {k} = {res.get(k)!r}, want {v!r}")
    for k in ("service.name", "container.id", "host.name"):
        if not res.get(k):
            fail(f"resource without {k}: {res}")
    if r["scope"][0] != "logdriver":
        fail(f"scope {r['scope']}")
    stream = r["attrs"].get("log.iostream")
    sev = {"stdout": [9, "INFO"], "stderr": [17, "ERROR"]}.get(stream)
    if sev is None or r["severity"] != sev:
        fail(f"stream {stream!r}, severity {r['severity']}")
    if set(r["attrs"]) != {"log.iostream"}:
        fail(f"record attributes {r['attrs']}")
    if not (0 < r["time"] <= r["observed"]):
        fail(f"times {r['time']} {r['observed']}")
    body = r["body"]
    if isinstance(body, dict):
        binary.append(base64.b64decode(body["b"]))
        continue
    if body.startswith("BIG"):
        big.append(body)
        continue
    streams[stream].append(body)

stats = json.load(open(o.stats)) if o.stats else None
total_missing = total_dups = 0
for stream, word, tail in (("stdout", "out", "the quick brown fox"), ("stderr", "err", "jumps over the lazy dog")):
    got = streams[stream]
    seqs = []
    for b in got:
        w, seq, rest = b.split(" ", 2)
        if w != word or rest != tail:
            fail(f"{stream}: body {b!r}")
        seqs.append(int(seq))
    # In order: each line after the one before it (a copy sent again may
    # repeat a run, which --accounted allows).
    firsts, seen = [], set()
    for s in seqs:
        if s not in seen:
            seen.add(s)
            firsts.append(s)
    if firsts != sorted(firsts):
        bad = next(i for i in range(1, len(firsts)) if firsts[i] < firsts[i - 1])
        fail(f"{stream}: out of order at {bad}: {firsts[bad-1]} then {firsts[bad]}")
    missing = o.n - len(seen)
    dups = len(seqs) - len(seen)
    total_missing += missing
    total_dups += dups
    if not o.accounted and (missing or dups):
        fail(f"{stream}: {missing} missing, {dups} copies")
if o.extras:
    want = b"BIG" + bytes(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"[i % 26] for i in range(1 << 20))[3:]
    if len(big) != 1 or big[0].encode() != want:
        fail(f"the 1 MiB line: {len(big)} records, lengths {[len(b) for b in big]}")
    if binary != [b"bin \xff\xfe\x00\x01 \xc3\x28"]:
        fail(f"the line that is not UTF-8: {binary}")
if stats is not None:
    if o.accounted:
        if total_missing != stats["dropped"]:
            fail(f"{total_missing} lines missing, the driver counted {stats['dropped']} dropped")
        if total_dups > stats["resent"]:
            fail(f"{total_dups} copies, the driver counted {stats['resent']} resent")
    elif stats["dropped"] or stats["lines"] != len(recs):
        fail(f"stats {stats}, {len(recs)} records")
print(f"== otlp e2e: {o.label}: {len(streams['stdout'])} stdout + {len(streams['stderr'])} stderr records"
      + (", the 1 MiB line as one record and the binary line as bytes, byte for byte" if o.extras else "")
      + f"; in per-stream order; missing {total_missing}, copies {total_dups}"
      + (f"; driver: dropped {stats['dropped']}, resent {stats['resent']}" if stats else ""))
