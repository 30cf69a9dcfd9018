#!/usr/bin/env python3
"""Reads `journalctl -o export` on stdin and writes each stream back as
the container wrote it: export.py OUT ERR [FIELDS]. A chunk marked
CONTAINER_PARTIAL_MESSAGE=true gets no newline, as Docker reads it. With
FIELDS, each entry's field names and values go there as JSON lines."""
import json
import struct
import sys


def entries(f):
    entry = {}
    while True:
        line = f.readline()
        if not line:
            if entry:
                yield entry
            return
        if line == b"\n":
            if entry:
                yield entry
            entry = {}
            continue
        line = line[:-1]
        if b"=" in line:
            name, value = line.split(b"=", 1)
        else:
            name = line
            (size,) = struct.unpack("<Q", f.read(8))
            value = f.read(size)
            f.read(1)
        entry[name.decode()] = value


def main():
    out, err = open(sys.argv[1], "wb"), open(sys.argv[2], "wb")
    fields = open(sys.argv[3], "w") if len(sys.argv) > 3 else None
    n = 0
    for e in entries(sys.stdin.buffer):
        n += 1
        dst = err if e.get("PRIORITY") == b"3" else out
        dst.write(e.get("MESSAGE", b""))
        if e.get("CONTAINER_PARTIAL_MESSAGE") != b"true":
            dst.write(b"\n")
        if fields:
            fields.write(json.dumps({k: v.decode("utf-8", "backslashreplace") for k, v in e.items()}) + "\n")
    print(n)


if __name__ == "__main__":
    main()
