"""The e2e's container: N numbered lines on each stream, interleaved,
optionally at RATE lines/s per stream, then (with --extras) one 1 MiB line
and one line that is not UTF-8, both on stdout."""
import os, sys, time

n = int(sys.argv[1])
rate = float(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] != "-" else 0
extras = "--extras" in sys.argv
out, err = sys.stdout.buffer, sys.stderr.buffer
start = time.monotonic()
for i in range(n):
    out.write(b"out %06d the quick brown fox\n" % i)
    err.write(b"err %06d jumps over the lazy dog\n" % i)
    if rate and i % 50 == 49:
        out.flush(); err.flush()
        ahead = (i + 1) / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
if extras:
    big = bytes(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"[i % 26] for i in range(1 << 20))
    out.write(b"BIG" + big[3:] + b"\n")
    out.write(b"bin \xff\xfe\x00\x01 \xc3\x28\n")
out.flush(); err.flush()
