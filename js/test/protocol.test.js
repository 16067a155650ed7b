// The test vectors of docs/protocol.md (../../testdata/protocol, which the
// npm package does not ship): fanoutRecords decodes every packed frame as
// the vector says; a Subscription over WebSocket (the ws package's, from a
// server of the test's own) reads every frame as fanoutRecords does; and
// one over SSE tells every message, resync, position and close of every
// event stream, over the eventsource package's EventSource (reading the
// stream from a fetch of the test's own) and over one that behaves as a
// browser's. The Go package and the Go client are tested against the
// same vectors.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { EventSource } from "eventsource";
import { WebSocket, WebSocketServer } from "ws";
import { CLOSE_EVENT, cursorAfter, fanoutRecords, subscribe } from "../fanout.js";
import { fakeTimers, record, until } from "./helpers.js";

const vectors = (name) => JSON.parse(readFileSync(new URL("../../testdata/protocol/" + name, import.meta.url), "utf8"));

const fromHex = (hex) => Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16)).buffer;
const fromBase64 = (b64) => new Uint8Array(Buffer.from(b64, "base64"));

// expected returns what fanoutRecords returns for a vector's records.
function expected(records) {
  return records.map((r) => {
    switch (r.kind) {
      case "resync":
        return { resync: r.reason };
      case "position":
        return { position: r.id };
      default: {
        const bytes = fromBase64(r.data);
        const binary = r.type === "binary";
        return { data: binary ? bytes : new TextDecoder().decode(bytes), binary, id: r.id, event: r.event, topic: r.topic };
      }
    }
  });
}

test("records.json: fanoutRecords reads every frame as the vector says", () => {
  const { vectors: vs } = vectors("records.json");
  assert.ok(vs.length > 40);
  for (const v of vs) {
    const frame = fromHex(v.frame);
    if (!v.error) {
      assert.deepEqual(fanoutRecords(frame), expected(v.records), v.name);
      continue;
    }
    // A malformed frame: a RangeError that names where the damage is.
    assert.throws(() => fanoutRecords(frame), (err) => {
      assert.ok(err instanceof RangeError, v.name + ": " + err);
      if (v.error.offset === null) assert.match(err.message, /ends the frame$/, v.name);
      else assert.match(err.message, new RegExp(" at " + v.error.offset + "$"), v.name);
      return true;
    }, v.name);
  }
});

// SpecEventSource is an EventSource that reads init.stream and dispatches
// its events as the HTML standard says a browser's does: unlike the
// eventsource package's, an event's lastEventId is the stream's last ID,
// whether or not the event had an id field.
class SpecEventSource {
  constructor(url, init) {
    this.url = String(url);
    this.readyState = 0;
    this.listeners = new Map();
    setTimeout(() => this.#run(init.stream), 0);
  }
  addEventListener(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(fn);
  }
  close() {
    this.readyState = 2;
  }
  #dispatch(type, e) {
    if (this.readyState === 2) return;
    if (type === "message") this.onmessage?.(e);
    for (const fn of this.listeners.get(type) ?? []) fn(e);
  }
  #run(stream) {
    this.readyState = 1;
    this.onopen?.({});
    let lastEventId = "", data = "", type = "";
    const lines = stream.replace(/^\ufeff/, "").split(/\r\n|\r|\n/);
    lines.pop(); // what follows the last line end: an incomplete line
    for (const line of lines) {
      if (line === "") {
        if (data !== "") this.#dispatch(type || "message", { type: type || "message", data: data.slice(0, -1), lastEventId });
        data = type = "";
        continue;
      }
      if (line.startsWith(":")) continue;
      const i = line.indexOf(":");
      const name = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? "" : line.slice(i + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (name === "data") data += value + "\n";
      else if (name === "event") type = value;
      else if (name === "id" && !value.includes("\0")) lastEventId = value;
    }
    if (this.readyState !== 2) {
      this.readyState = 0;
      this.onerror?.({});
    }
  }
}

// A Subscription over WebSocket reads each vector's frame from a server
// that selects the vector's subprotocol, sends the frame and closes with
// 4999: it tells the records as fanoutRecords reads them, or, for a
// malformed frame, an error and none of the frame's records, and
// reconnects.
test("records.json: a Subscription over WebSocket tells every frame as the vector says", async (t) => {
  const { vectors: vs } = vectors("records.json");
  const wss = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    handleProtocols: (offered, req) => {
      const v = vs[Number(new URL(req.url, "http://x").searchParams.get("v"))];
      return offered.has(v.subprotocol) ? v.subprotocol : false;
    },
  });
  await new Promise((resolve) => wss.once("listening", resolve));
  t.after(() => new Promise((resolve) => wss.close(resolve)));
  wss.on("connection", (ws, req) => {
    const v = vs[Number(new URL(req.url, "http://x").searchParams.get("v"))];
    ws.send(Buffer.from(v.frame, "hex"), { binary: true });
    ws.close(4999, "end of vector");
  });
  const base = "ws://127.0.0.1:" + wss.address().port + "/ws?topic=t&v=";
  for (const [i, v] of vs.entries()) {
    await t.test(v.name, async () => {
      const mode = v.subprotocol.startsWith("fanout.packed.") ? "packed" : "resume";
      const timers = fakeTimers();
      const sub = subscribe(base + i, { WebSocket, mode, ...timers });
      const r = record(sub);
      try {
        await until("the end of the vector", () => r.closes.length + r.disconnects.length > 0);
      } finally {
        sub.close();
      }
      assert.equal(r.opens[0].protocol, v.subprotocol);
      const want = v.error ? [] : expected(v.records);
      const told = [];
      for (const e of r.events) {
        if (e === "message") told.push(r.messages.shift());
        else if (e === "resync") told.push({ resync: r.resyncs.shift() });
      }
      assert.deepEqual(told, want.filter((w) => !("position" in w)));
      if (v.error) {
        assert.equal(r.errors.length, 1);
        assert.ok(r.errors[0] instanceof RangeError);
        assert.equal(r.disconnects[0].code, 4000, "the client reconnects");
        assert.equal(sub.lastEventId, "");
        return;
      }
      assert.deepEqual(r.closes, [{ code: 4999, status: 0, reason: "end of vector" }]);
      // A position replaces the ID to resume from; a message's ID moves its
      // own partition's position in it (see cursor.test.js).
      let lastId = "";
      if (mode === "resume") for (const w of want) if (w.position || w.id) lastId = cursorAfter(lastId, w.position ?? w.id, "position" in w);
      assert.equal(sub.lastEventId, lastId, "the ID to resume from");
    });
  }
});

// fakeFetch answers each request with an event stream of body.
function fakeFetch(body, requests) {
  return async (url) => {
    requests.push(String(url));
    return new Response(body, { status: 200, headers: { "Content-Type": "text/event-stream" } });
  };
}

for (const [name, ES] of [["the eventsource package's", EventSource], ["a browser's (as the standard says)", SpecEventSource]])
test("sse.json: a Subscription tells every event stream as the vector says, over " + name + " EventSource", async (t) => {
  const { vectors: vs } = vectors("sse.json");
  const special = new Set(["", "fanout.position", "fanout.resync", CLOSE_EVENT]);
  const types = [...new Set(vs.flatMap((v) => v.events.map((e) => e.event ?? "")))].filter((e) => !special.has(e));
  for (const v of vs) {
    await t.test(v.name, async () => {
      let stream = v.stream, end = { code: 4999, reason: "end of vector" };
      const last = v.events.at(-1);
      if (last?.kind === "close") end = { code: last.code, reason: last.reason };
      else stream += "event: " + CLOSE_EVENT + "\ndata: " + end.code + " " + end.reason + "\n\n";
      const requests = [];
      const sub = subscribe("http://vectors.test/events?topic=t", {
        EventSource: ES, eventSourceInit: { fetch: fakeFetch(stream, requests), stream }, events: types, ...fakeTimers(),
      });
      const r = record(sub);
      try {
        await until("the close", () => r.closes.length === 1);
      } finally {
        sub.close();
      }
      const told = [];
      for (const e of r.events) {
        if (e === "message") {
          const m = r.messages.shift();
          told.push({ kind: "message", id: m.id, event: m.event, data: m.data });
        } else if (e === "resync") {
          told.push({ kind: "resync", reason: r.resyncs.shift() });
        }
      }
      const want = v.events.filter((e) => e.kind === "message" || e.kind === "resync");
      assert.deepEqual(told, want);
      assert.deepEqual(r.closes[0], { code: end.code, status: 0, reason: end.reason });
      let lastId = "";
      for (const e of v.events) if ((e.kind === "position" || e.kind === "message") && e.id) lastId = e.id;
      assert.equal(sub.lastEventId, lastId, "the ID to resume from");
      if (ES === EventSource) assert.equal(requests.length, 1);
    });
  }
});
