// fanoutRecords and retryDelay, without a server. (The browser suite,
// e2e/, checks fanoutRecords against fanout.UnpackRecords on hundreds of
// frames, valid and malformed, in Chromium.)
import assert from "node:assert/strict";
import { test } from "node:test";
import { fanoutRecords, retryDelay, SUBPROTOCOLS, subscribe } from "../fanout.js";

// frame encodes records [kind, payload] as a frame.
function frame(...records) {
  const parts = records.map(([kind, payload]) => {
    const p = typeof payload === "string" ? new TextEncoder().encode(payload) : Uint8Array.from(payload);
    const b = new Uint8Array(5 + p.length);
    new DataView(b.buffer).setUint8(0, kind);
    new DataView(b.buffer).setUint32(1, p.length);
    b.set(p, 5);
    return b;
  });
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out.buffer;
}

test("fanoutRecords reads v1 and v2 frames", () => {
  const cases = [
    ["empty", frame(), []],
    ["text", frame([1, "hello"]), [{ data: "hello", binary: false, id: "", event: "", topic: "" }]],
    ["binary", frame([2, [0, 255]]), [{ data: new Uint8Array([0, 255]), binary: true, id: "", event: "", topic: "" }]],
    ["v1 resume", frame([5, "e-7"], [3, "e-8"], [1, "a"], [1, "b"]), [
      { position: "e-7" },
      { data: "a", binary: false, id: "e-8", event: "", topic: "" },
      { data: "b", binary: false, id: "", event: "", topic: "" },
    ]],
    ["v2", frame([4, "unknown"], [3, "e-9"], [6, "price"], [7, "room ✓"], [1, "v2"], [7, "t"], [2, [1]]), [
      { resync: "unknown" },
      { data: "v2", binary: false, id: "e-9", event: "price", topic: "room ✓" },
      { data: new Uint8Array([1]), binary: true, id: "", event: "", topic: "t" },
    ]],
    ["a leading BOM is data", frame([1, "\ufeffx"]), [{ data: "\ufeffx", binary: false, id: "", event: "", topic: "" }]],
  ];
  for (const [name, f, want] of cases) assert.deepEqual(fanoutRecords(f), want, name);
});

test("fanoutRecords throws a RangeError on a malformed frame", () => {
  const cases = [
    ["truncated header", frame([1, "a"]).slice(0, 4)],
    ["overrun", frame([1, "abc"]).slice(0, 7)],
    ["unknown kind", frame([9, "x"])],
    ["an ID ends the frame", frame([1, "a"], [3, "e-1"])],
    ["two IDs", frame([3, "e-1"], [3, "e-2"], [1, "a"])],
    ["empty ID", frame([3, ""], [1, "a"])],
    ["empty position", frame([5, ""])],
    ["an ID before a resync", frame([3, "e-1"], [4, "unknown"])],
    ["out of order", frame([7, "t"], [6, "e"], [1, "x"])],
  ];
  for (const [name, f] of cases) assert.throws(() => fanoutRecords(f), RangeError, name);
});

test("retryDelay doubles from minDelay up to maxDelay, less up to jitter of it", () => {
  const at = (attempt, random, o = {}) => retryDelay(attempt, { random: () => random, ...o });
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((a) => at(a, 0)), [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  assert.deepEqual([0, 1, 2].map((a) => at(a, 0.999999)), [500, 1000, 2000], "the default jitter: d/2 to d");
  assert.equal(at(1, 0.5, { minDelay: 100, jitter: 0.2 }), 180);
  assert.equal(at(3, 1, { minDelay: 100, maxDelay: 500, jitter: 0 }), 500, "no jitter");
  assert.equal(at(1e6, 0.5, { jitter: 1 }), 15000, "a large attempt stays at maxDelay");
  for (let i = 0; i < 1000; i++) {
    const d = retryDelay(2);
    assert.ok(d >= 2000 && d <= 4000, String(d));
  }
});

test("subscribe refuses what it cannot do, at once", () => {
  if (!globalThis.WebSocket) assert.throws(() => subscribe("ws://127.0.0.1:1/ws"), /no WebSocket here/); // Node.js 20
  if (!globalThis.EventSource) assert.throws(() => subscribe("http://127.0.0.1:1/events"), /no EventSource here/);
  assert.throws(() => subscribe("ws://x/ws", { mode: "fast" }), /mode must be/);
  assert.throws(() => subscribe("ws://x/ws", { transport: "carrier pigeon" }), /transport must be/);
  assert.throws(() => subscribe("/relative"), TypeError, "no location to resolve it against");
  assert.deepEqual(SUBPROTOCOLS.plain, []);
});

test("the URL's scheme follows the transport, and its lastEventId is where the first connection resumes", () => {
  const seen = [];
  class FakeWS {
    constructor(url, protocols) {
      seen.push([url, protocols]);
    }
    close() {}
  }
  const a = subscribe("https://example.com/ws?topic=a&lastEventId=e-5", { transport: "websocket", WebSocket: FakeWS });
  const b = subscribe("http://example.com/ws?topic=b", { WebSocket: FakeWS, transport: "websocket", mode: "packed",
    lastEventId: "ignored-in-packed-mode" });
  assert.equal(a.lastEventId, "e-5");
  assert.equal(b.lastEventId, "", "packed mode does not resume");
  assert.deepEqual(seen, [
    ["wss://example.com/ws?topic=a&lastEventId=e-5", ["fanout.resume.v2", "fanout.resume.v1"]],
    ["ws://example.com/ws?topic=b", ["fanout.packed.v2", "fanout.packed.v1"]],
  ]);
  a.close();
  b.close();

  const urls = [];
  class FakeES {
    constructor(url) {
      urls.push(url);
    }
    addEventListener() {}
    close() {}
  }
  const c = subscribe("wss://example.com/events?topic=c", { EventSource: FakeES, transport: "sse", lastEventId: "e-1" });
  assert.equal(c.transport, "sse");
  assert.deepEqual(urls, ["https://example.com/events?topic=c&lastEventId=e-1"]);
  c.close();
});
