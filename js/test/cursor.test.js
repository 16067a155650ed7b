// A server whose engine has several partitions (the Redis engine) orders
// each on its own: a subscriber whose topics map to several resumes from a
// composite ID, one position per partition joined by "." (docs/protocol.md,
// section 5). cursorAfter keeps it; a Subscription over WebSocket resumes
// from it, over SSE from the last event's ID as it came. The Go client
// (client/cursor.go) has the same rules and the same cases.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { WebSocket, WebSocketServer } from "ws";
import { cursorAfter, subscribe } from "../fanout.js";
import { fakeTimers, record, until } from "./helpers.js";

const pos = (id) => [id, true]; // a position record's ID, or an SSE event's
const msg = (id) => [id, false]; // a WebSocket message's

test("cursorAfter: one position per partition; a whole ID replaces; an opaque ID is kept as it came", () => {
  for (const [name, steps, want] of [
    ["empty", [], ""],
    ["one message", [msg("e-1")], "e-1"],
    ["a message without an ID changes nothing", [msg("e-1"), msg("")], "e-1"],
    ["messages of one partition", [pos("e-0"), msg("e-1"), msg("e-2")], "e-2"],
    ["a message moves its own partition", [pos("e-5.e:3-7"), msg("e:3-8")], "e-5.e:3-8"],
    ["and partition 0", [pos("e-5.e:3-7"), msg("e-6"), msg("e-7")], "e-7.e:3-7"],
    ["a message of a partition the cursor lacks is inserted in order", [pos("e-5.e:3-7"), msg("e:2-1")], "e-5.e:2-1.e:3-7"],
    ["at the end", [pos("e-5.e:3-7"), msg("e:15-4")], "e-5.e:3-7.e:15-4"],
    ["at the front", [pos("e:2-5.e:3-7"), msg("e-9")], "e-9.e:2-5.e:3-7"],
    ["one partition to two", [pos("e-5"), msg("e:3-1")], "e-5.e:3-1"],
    ["a message of a new epoch replaces its partition's", [pos("e-5.e:3-7"), msg("f:3-1")], "e-5.f:3-1"],
    ["a position replaces the whole cursor", [pos("e-5.e:3-7"), msg("e:4-1"), pos("e:3-9")], "e:3-9"],
    ["a composite position too", [pos("e-5.e:3-7"), pos("f-1.f:2-2")], "f-1.f:2-2"],
    ["a message's composite moves each of its partitions", [pos("e-5.e:3-7"), msg("e:3-8.e:4-1")], "e-5.e:3-8.e:4-1"],
    ["an SSE event's composite replaces", [pos("e-5.e:3-7"), pos("e:3-8.e:4-1")], "e:3-8.e:4-1"],
    ["an opaque message ID replaces", [pos("e-5.e:3-7"), msg("abc")], "abc"],
    ["the last opaque ID", [msg("abc"), msg("def")], "def"],
    ["a position after an opaque ID replaces it", [msg("abc"), msg("e:3-9")], "e:3-9"],
    ["an opaque position", [pos("not a position")], "not a position"],
    ["partitions out of order: opaque", [pos("e-5"), msg("e:3-7.e-6")], "e:3-7.e-6"],
    ["and a message after it replaces it", [msg("e:3-7.e-6"), msg("e-7")], "e-7"],
    ["a partition twice: opaque", [msg("e-1.e-2")], "e-1.e-2"],
    ["an empty piece: opaque", [pos("e-1"), msg("e-1.")], "e-1."],
    ["a leading separator: opaque", [msg(".e-1")], ".e-1"],
    ["a non-canonical piece: opaque", [msg("e-1.e:03-2")], "e-1.e:03-2"],
    ["an offset over 2^64-1: opaque", [pos("e-5.e:3-7"), msg("e:3-18446744073709551616")], "e:3-18446744073709551616"],
    ["the largest offset", [pos("e-5.e:3-7"), msg("e:3-18446744073709551615")], "e-5.e:3-18446744073709551615"],
  ]) {
    let c = "";
    for (const [id, whole] of steps) c = cursorAfter(c, id, whole);
    assert.equal(c, want, name);
  }
});

test("ids.json: cursorAfter reads every composite as its positions, and keeps what is not one as it came", () => {
  const ids = JSON.parse(readFileSync(new URL("../../testdata/protocol/ids.json", import.meta.url), "utf8"));
  assert.ok(ids.composites.valid.length > 0 && ids.composites.invalid.length > 0);
  const valid = [...ids.composites.valid, ...ids.valid.map((v) => ({ id: v.id, positions: [v.id] }))];
  for (const v of valid) {
    // Its positions, one message at a time, make it; and it replaces an opaque cursor.
    assert.equal(v.positions.reduce((c, p) => cursorAfter(c, p, false), ""), v.id, v.id);
    assert.equal(cursorAfter("opaque", v.id, false), v.id, v.id);
    // A position of a partition it lacks is inserted, not taken as opaque.
    const other = v.positions.some((p) => /:9998-/.test(p)) ? "z:9997-1" : "z:9998-1";
    assert.notEqual(cursorAfter(v.id, other, false), other, v.id + " is read as positions");
  }
  for (const v of [...ids.invalid, ...ids.composites.invalid]) {
    assert.equal(cursorAfter("e-5.e:3-7", v.id, false), v.id || "e-5.e:3-7", v.id + ": " + v.why);
    if (v.id) assert.equal(cursorAfter(v.id, "e:3-8", false), "e:3-8", v.id + " is opaque, so a position replaces it");
  }
});

// rec is one packed record.
function packed(...records) {
  const parts = [];
  for (const [kind, data] of records) {
    const payload = Buffer.from(data);
    const head = Buffer.alloc(5);
    head.writeUInt8(kind, 0);
    head.writeUInt32BE(payload.length, 1);
    parts.push(head, payload);
  }
  return Buffer.concat(parts);
}
const id = (s) => [3, s], text = (s) => [1, s], resync = (s) => [4, s], position = (s) => [5, s];

// Over WebSocket, a message carries its own partition's position only:
// the Subscription keeps the last of each partition and resumes from their
// composite. A position replaces the whole cursor; a resync keeps it until
// the position that follows; an ID that is not a position comes back as
// it came.
test("resume: a Subscription over WebSocket resumes from each partition's last position", async (t) => {
  const script = [
    [packed(position("e-5.e:3-7"), id("e:3-8"), text("a"), id("e-6"), text("b"), id("e:3-9"), text("c"))],
    [packed(id("e:2-1"), text("d"))], // a partition it did not have: inserted in order
    [packed(resync("unknown"))], // the cursor stays
    [packed(resync("unknown"), position("f-0.f:3-2"), id("f:3-3"), text("e"))],
    [packed(id("opaque"), text("f"))],
  ];
  const resumed = [];
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: () => "fanout.resume.v2" });
  await new Promise((resolve) => wss.once("listening", resolve));
  t.after(() => new Promise((resolve) => wss.close(resolve)));
  wss.on("connection", (ws, req) => {
    const n = resumed.push(new URL(req.url, "http://x").searchParams.get("lastEventId") ?? "") - 1;
    for (const frame of script[n] ?? []) ws.send(frame, { binary: true });
    if (n < script.length) ws.close(1001, "");
    else ws.close(4999, "end of script");
  });
  const timers = fakeTimers();
  const sub = subscribe("ws://127.0.0.1:" + wss.address().port + "/ws?topic=a&topic=b", { WebSocket, ...timers });
  const r = record(sub);
  const cursors = [];
  sub.on("message", () => cursors.push(sub.lastEventId));
  sub.on("resync", () => cursors.push(sub.lastEventId));
  sub.on("disconnect", () => queueMicrotask(() => timers.fire()));
  try {
    await until("the end of the script", () => r.closes.length > 0);
  } finally {
    sub.close();
  }
  assert.deepEqual(r.closes, [{ code: 4999, status: 0, reason: "end of script" }]);
  assert.deepEqual(r.data(), ["a", "b", "c", "d", "e", "f"]);
  assert.deepEqual(r.messages.map((m) => m.id), ["e:3-8", "e-6", "e:3-9", "e:2-1", "f:3-3", "opaque"], "each its own partition's");
  assert.deepEqual(r.resyncs, ["unknown", "unknown"]);
  assert.deepEqual(cursors, ["e-5.e:3-8", "e-6.e:3-8", "e-6.e:3-9", "e-6.e:2-1.e:3-9", "e-6.e:2-1.e:3-9",
    "e-6.e:2-1.e:3-9", "f-0.f:3-3", "opaque"], "lastEventId after each message and resync");
  assert.deepEqual(resumed, ["", "e-6.e:3-9", "e-6.e:2-1.e:3-9", "e-6.e:2-1.e:3-9", "f-0.f:3-3", "opaque"],
    "the ID each connection resumed from");
});

// lastEventId may be a composite (what lastEventId was), and a message of
// one partition moves that partition's position only.
test("resume: options.lastEventId may be a composite", async (t) => {
  const resumed = [];
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: () => "fanout.resume.v2" });
  await new Promise((resolve) => wss.once("listening", resolve));
  t.after(() => new Promise((resolve) => wss.close(resolve)));
  wss.on("connection", (ws, req) => {
    resumed.push(new URL(req.url, "http://x").searchParams.get("lastEventId"));
    ws.send(packed(id("e:3-8"), text("a")), { binary: true });
    ws.close(4999, "end of script");
  });
  const sub = subscribe("ws://127.0.0.1:" + wss.address().port + "/ws?topic=a", { WebSocket, lastEventId: "e-5.e:3-7", ...fakeTimers() });
  const r = record(sub);
  try {
    await until("the end of the script", () => r.closes.length > 0);
  } finally {
    sub.close();
  }
  assert.deepEqual(resumed, ["e-5.e:3-7"]);
  assert.equal(sub.lastEventId, "e-5.e:3-8");
});
