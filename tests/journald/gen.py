#!/usr/bin/env python3
"""Writes N lines to stdout and N to stderr, interleaved: every 1000th a
40,000-byte line (three 16 KiB chunks through a Copier), every 97th one
that is not UTF-8 and holds control bytes, the rest plain text.

gen.py N [DELAY_EVERY DELAY_S]: with a delay, sleeps DELAY_S after every
DELAY_EVERY pairs, for runs that must last a while. With GEN_SHORT set,
no line is long: each line is one entry, for runs that count drops."""
import os
import sys
import time

SHORT = bool(os.environ.get("GEN_SHORT"))


def line(stream, i):
    if i % 1000 == 7 and not SHORT:
        return b"%s %d " % (stream, i) + (b"L" if stream == b"out" else b"M") * 40000
    if i % 97 == 3:
        return b"%s %d \xff\xfe \x01\x1b[31m\r\tend" % (stream, i)
    return b"%s %d plain text, gr\xc3\xbc\xc3\x9fe" % (stream, i)


def main():
    n = int(sys.argv[1])
    every = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    out, err = sys.stdout.buffer, sys.stderr.buffer
    for i in range(n):
        out.write(line(b"out", i) + b"\n")
        err.write(line(b"err", i) + b"\n")
        if every and i % every == every - 1:
            out.flush()
            err.flush()
            time.sleep(delay)
    out.flush()
    err.flush()


if __name__ == "__main__":
    main()
