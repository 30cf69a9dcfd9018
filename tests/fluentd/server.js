// A forward-protocol server for the end-to-end tests: @fluent-org/logger's
// FluentServer, printing every event it takes as one JSON line:
//   {"tag": "...", "time": [seconds, nanoseconds] | seconds, "record": {...}}
// It acks every chunk that asks for one.
//
//   node server.js PORT [CERT KEY]
const fs = require("fs");
const { FluentServer } = require("@fluent-org/logger");

const [port, cert, key] = process.argv.slice(2);
const options = { listenOptions: { port: Number(port), host: "127.0.0.1" } };
if (cert) {
  options.tlsOptions = { cert: fs.readFileSync(cert), key: fs.readFileSync(key) };
}
const server = new FluentServer(options);
server.on("entry", (tag, time, record) => {
  const t = typeof time === "number" ? time : [time.epoch, time.nano];
  // Written synchronously, so that a killed server has printed all it took.
  fs.writeSync(1, JSON.stringify({ tag, time: t, record }) + "\n");
});
server.listen().then(() => fs.writeSync(2, `listening on ${server.port}\n`));
