// A Node.js client of a fanout Hub, with the ws package's defaults: it
// offers permessage-deflate and inflates what comes compressed. Run by
// ../../node_test.go as
//
//	node client.mjs URL N
//
// It prints one line of JSON per event on standard output: {"open":
// extensions, "header": the server's Sec-WebSocket-Extensions} once
// connected; {"binary", "len", "sha256"} for each of the
// N messages it then expects; {"sent", "len", "sha256"} for a message of
// its own it sends (compressed: ws compresses from 1 KiB); and it exits
// once the server has closed the connection (or with status 1 on an
// error).
import { createHash } from "node:crypto";
import WebSocket from "ws";

const [url, want] = process.argv.slice(2);
const print = (v) => process.stdout.write(JSON.stringify(v) + "\n");
const sha256 = (b) => createHash("sha256").update(b).digest("hex");

const ws = new WebSocket(url);
let got = 0;
let header = "";
ws.on("upgrade", (res) => { header = res.headers["sec-websocket-extensions"] || ""; });
ws.on("open", () => print({ open: ws.extensions, header }));
ws.on("message", (data, isBinary) => {
  print({ binary: isBinary, len: data.length, sha256: sha256(data) });
  if (++got === Number(want)) {
    const quotes = Array.from({ length: 500 }, (_, i) => ({ symbol: "S" + (i % 7), price: i * 1.25, size: i % 100 }));
    const msg = Buffer.from(JSON.stringify({ quotes }));
    ws.send(msg, { binary: false }, (err) => {
      if (err) throw err;
      print({ sent: true, len: msg.length, sha256: sha256(msg) });
    });
  }
});
ws.on("close", (code) => {
  print({ closed: code });
  process.exit(0);
});
ws.on("error", (err) => {
  process.stderr.write(String(err) + "\n");
  process.exit(1);
});
