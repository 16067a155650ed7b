// The JavaScript client (fanout.js, which the test writes beside this
// file) in Node.js, over the ws package's WebSocket, subscribed to URL (a
// Hub's, resume mode). Run by ../../partitions_test.go as
//
//	node partitions.mjs URL
//
// It prints one line of JSON per event on standard output: {"data", "id",
// "last": the ID it would resume from} for each message, {"resync"} for a
// resync, {"open": the ID it resumed from} for each connection; and it
// closes its subscription and exits once its standard input closes.
import WebSocket from "ws";
import { subscribe } from "./fanout.js";

const [url] = process.argv.slice(2);
const print = (v) => process.stdout.write(JSON.stringify(v) + "\n");
const sub = subscribe(url, { WebSocket, minDelay: 100, maxDelay: 1000 });
sub.on("open", ({ lastEventId }) => print({ open: lastEventId }));
sub.on("message", (m) => print({ data: m.data, id: m.id, last: sub.lastEventId }));
sub.on("resync", (reason) => print({ resync: reason }));
sub.on("error", (err) => process.stderr.write(String(err) + "\n"));
process.stdin.on("end", () => sub.close());
process.stdin.resume();
