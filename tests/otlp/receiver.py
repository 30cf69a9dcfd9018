"""An OTLP/HTTP logs receiver built on PyPI's opentelemetry-proto, for the
e2e scripts: it decodes every request with the official types and writes
each record as one JSON line, flushed before it answers, so that what it
acked is on disk even if it is killed.

    receiver.py PORT OUT [--busy N] [--reject-per-request K] [--stats FILE]

--busy N: answer the first N requests 503 with Retry-After: 1.
--reject-per-request K: answer each request with a partial_success that
rejects K records (its records are written all the same).
--stats FILE: on each request, rewrite FILE with the counts so far.
"""
import argparse, base64, gzip, json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse)

args = argparse.ArgumentParser()
args.add_argument("port", type=int)
args.add_argument("out")
args.add_argument("--busy", type=int, default=0)
args.add_argument("--reject-per-request", type=int, default=0)
args.add_argument("--stats")
# https: the server's certificate and key, and a CA whose client
# certificates it requires.
args.add_argument("--tls", nargs=3, metavar=("CERT", "KEY", "CLIENT_CA"))
opts = args.parse_args()

out = open(opts.out, "a", buffering=1 << 20)
lock = threading.Lock()
counts = {"requests": 0, "busy": 0, "records": 0, "rejected": 0}


def value(v):
    kind = v.WhichOneof("value")
    if kind == "bytes_value":
        return {"b": base64.b64encode(v.bytes_value).decode()}
    if kind is None:
        return None
    return getattr(v, kind)


def attrs(kvs):
    return {kv.key: value(kv.value) for kv in kvs}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        with lock:
            counts["requests"] += 1
            if counts["busy"] < opts.busy:
                counts["busy"] += 1
                self.save()
                return self.answer(503, b"", [("Retry-After", "1")])
            request = ExportLogsServiceRequest.FromString(body)
            n = 0
            for rl in request.resource_logs:
                resource = attrs(rl.resource.attributes)
                for sl in rl.scope_logs:
                    scope = [sl.scope.name, sl.scope.version]
                    for r in sl.log_records:
                        n += 1
                        out.write(json.dumps({
                            "resource": resource, "scope": scope,
                            "time": r.time_unix_nano, "observed": r.observed_time_unix_nano,
                            "severity": [r.severity_number, r.severity_text],
                            "attrs": attrs(r.attributes), "body": value(r.body),
                        }) + "\n")
            out.flush()
            counts["records"] += n
            reply = ExportLogsServiceResponse()
            k = min(opts.reject_per_request, n)
            if k:
                counts["rejected"] += k
                reply.partial_success.CopyFrom(ExportLogsPartialSuccess(
                    rejected_log_records=k, error_message="rejected by the test"))
            self.save()
        self.answer(200, reply.SerializeToString())

    def save(self):
        if opts.stats:
            with open(opts.stats + ".tmp", "w") as f:
                json.dump(counts, f)
            import os
            os.replace(opts.stats + ".tmp", opts.stats)


server = ThreadingHTTPServer(("127.0.0.1", opts.port), Handler)
if opts.tls:
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(opts.tls[0], opts.tls[1])
    context.load_verify_locations(opts.tls[2])
    context.verify_mode = ssl.CERT_REQUIRED
    server.socket = context.wrap_socket(server.socket, server_side=True)
print(f"receiver on {opts.port}", file=sys.stderr, flush=True)
server.serve_forever()
