#!/usr/bin/env python3
"""Compares the entries that two drivers wrote for the same output:
differ.py DOCKER.fields OURS.fields, each a JSON line per entry (from
export.py). Pairs the entries in order, prints every field's result, and
fails when a field that is not journald's own (those starting with `_`)
is in one and not the other, or differs where it should agree."""
import json
import sys

# Fields whose value is the container's own: they must differ, each
# matching its container.
OWN = {"CONTAINER_ID", "CONTAINER_ID_FULL", "CONTAINER_NAME", "CONTAINER_TAG",
       "SYSLOG_IDENTIFIER", "CONTAINER_PARTIAL_ID"}


def load(path):
    """The entries, stdout's then stderr's: the two streams' entries may
    interleave differently in each run, each stream's order may not."""
    entries = [json.loads(line) for line in open(path)]
    return sorted(entries, key=lambda e: e.get("PRIORITY") == "3")


def main():
    docker, ours = load(sys.argv[1]), load(sys.argv[2])
    if len(docker) != len(ours):
        sys.exit(f"docker wrote {len(docker)} entries, ours {len(ours)}")
    rows, bad = {}, []
    for i, (d, o) in enumerate(zip(docker, ours)):
        for name in sorted(set(d) | set(o)):
            row = rows.setdefault(name, {"docker": 0, "ours": 0, "same": 0, "differ": 0})
            row["docker"] += name in d
            row["ours"] += name in o
            if name in d and name in o:
                row["same" if d[name] == o[name] else "differ"] += 1
            sender = name.startswith("_")
            if not sender and (name in d) != (name in o):
                bad.append(f"entry {i}: {name} only in {'docker' if name in d else 'ours'}")
            if not sender and name in d and name in o and name not in OWN and d[name] != o[name]:
                bad.append(f"entry {i}: {name}: docker {d[name]!r}, ours {o[name]!r}")
    print(f"{'field':32} {'docker':>6} {'ours':>6} {'same':>6} {'differ':>6}")
    for name, r in sorted(rows.items(), key=lambda kv: (kv[0].startswith("_"), kv[0])):
        print(f"{name:32} {r['docker']:6} {r['ours']:6} {r['same']:6} {r['differ']:6}")
    if bad:
        sys.exit("\n".join(bad))


if __name__ == "__main__":
    main()
