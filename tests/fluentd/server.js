// A forward-protocol server for the end-to-end tests: @fluent-org/logger's
// FluentServer, printing every event it takes as one JSON line:
//   {"tag": "...", "time": [seconds, nanoseconds] | seconds, "record": {...}}
// It acks every chunk that asks for one.
//
//   node server.js PORT [CERT KEY]
const fs = require("fs");
const { FluentServer } = require("@fluent-org/logger");
const protocol = require("@fluent-org/logger/build/src/protocol");

const [port, cert, key] = process.argv.slice(2);
const options = { listenOptions: { port: Number(port), host: "127.0.0.1" } };
if (cert) {
  options.tlsOptions = { cert: fs.readFileSync(cert), key: fs.readFileSync(key) };
}

// FluentServer writes a chunk's ack before it emits the chunk's events, so
// a server killed between the two has acked events it never printed. The
// events are printed here instead, as the chunk is parsed, before the ack:
// what the driver saw acked, this server has printed. Written
// synchronously, so that a killed server has printed all it took.
const parse = protocol.parseTransport;
protocol.parseTransport = (message) => {
  const chunk = parse(message);
  for (const [time, record] of chunk.entries) {
    const t = typeof time === "number" ? time : [time.epoch, time.nano];
    fs.writeSync(1, JSON.stringify({ tag: chunk.tag, time: t, record }) + "\n");
  }
  return { ...chunk, entries: [] };
};

const server = new FluentServer(options);
server.listen().then(() => fs.writeSync(2, `listening on ${server.port}\n`));
