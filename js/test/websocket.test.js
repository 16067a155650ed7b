// The WebSocket transport against a live Hub (test/server), with the ws
// package as the WebSocket (Node.js 20 has none).
import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket, { WebSocketServer } from "ws";
import { retryDelay, subscribe } from "../fanout.js";
import { fakeTimers, numbers, record, startServer, until } from "./helpers.js";

// open subscribes to the test server's Hub with timers the test fires, and
// waits for the connection and, in resume mode, its position.
async function open(t, srv, query = "topic=t", options = {}) {
  const timers = fakeTimers();
  const sub = subscribe(srv.ws("/ws?" + query), { WebSocket, ...timers, random: () => 0, ...options });
  t.after(() => sub.close());
  const r = record(sub);
  await until("the connection", () => r.opens.length === 1);
  if ((options.mode ?? "resume") === "resume") await until("the position", () => sub.lastEventId !== "");
  return { sub, r, timers };
}

// reconnect fires the pending reconnection and waits until it opened.
async function reconnect(r, timers) {
  const opens = r.opens.length;
  await until("the reconnection's timer", () => timers.pending() === 1);
  timers.fire();
  await until("the reconnection", () => r.opens.length === opens + 1);
}

test("resume: no gap and no duplicate across server-side drops, the first before any message", async (t) => {
  const srv = await startServer(t);
  const { sub, r, timers } = await open(t, srv);
  assert.equal(sub.protocol, "fanout.resume.v2");
  assert.equal(sub.state, "open");

  let published = 0;
  const resumedFrom = [];
  for (let round = 1; round <= 4; round++) {
    resumedFrom.push(sub.lastEventId); // the position at first, then the last message's ID
    await srv.post("/hold");
    await srv.post("/drop?transport=ws");
    await until("the reconnection's timer", () => timers.pending() === 1);
    assert.equal(sub.state, "waiting");
    timers.fire();
    await until("the held reconnection", async () =>
      (await srv.get("/requests")).filter((q) => q.held).length === round);
    await srv.post("/publish?topic=t&n=50"); // while it is away: it gets them by replay
    published += 50;
    await srv.post("/unhold");
    await srv.post("/publish?topic=t&n=25"); // live
    published += 25;
    await until(published + " messages", () => r.messages.length >= published);
  }

  assert.deepEqual(r.data(), numbers(1, published), "every message once, in order");
  const epoch = r.messages[0].id.split("-")[0];
  assert.deepEqual(r.messages.map((m) => m.id), numbers(1, published).map((n) => epoch + "-" + n));
  assert.equal(sub.lastEventId, r.messages.at(-1).id);
  assert.deepEqual(r.resyncs, []);
  assert.equal(r.opens.length, 5);
  assert.deepEqual(r.disconnects.map((d) => [d.code, d.wasOpen]), Array(4).fill([1000, true]));
  assert.deepEqual(timers.delays, Array(4).fill(1000), "the backoff starts over once a connection opens");

  const reqs = (await srv.get("/requests")).filter((q) => q.path === "/ws");
  assert.deepEqual(reqs.map((q) => q.lastEventIdQuery), ["", ...resumedFrom], "each resumed from the last ID");
  assert.deepEqual(reqs[0].protocols.split(/, */), ["fanout.resume.v2", "fanout.resume.v1"]);
});

test("resume: v2 messages carry their event type, topic and ID; binary arrives as bytes; events filters", async (t) => {
  const srv = await startServer(t);
  const { r } = await open(t, srv, "topic=t&topic=u", { events: ["price"] });

  await srv.post("/publish?topic=t&data=42.5&event=price");
  await srv.post("/publish?topic=u&data=skipped&event=other"); // not in events
  await srv.post("/publish?topic=u&data=bin%00&binary=1");
  await srv.post("/publish?data=to%20all"); // a broadcast: no topic
  await until("3 messages", () => r.messages.length === 3);

  const ids = r.messages.map((m) => m.id);
  assert.deepEqual(r.messages, [
    { data: "42.5", binary: false, id: ids[0], event: "price", topic: "t" },
    { data: new Uint8Array([98, 105, 110, 0]), binary: true, id: ids[1], event: "", topic: "u" },
    { data: "to all", binary: false, id: ids[2], event: "", topic: "" },
  ]);
  // The message filtered out had an ID too: 2.
  assert.deepEqual(ids.map((id) => id.split("-")[1]), ["1", "3", "4"]);
  assert.deepEqual(r.batches.flat(), r.messages, "every message comes in a batch too");
});

test("resume: what the client sends reaches the Hub, and comes back published", async (t) => {
  const srv = await startServer(t);
  const { sub, r } = await open(t, srv);
  assert.equal(sub.send("hello from node"), true);
  await until("the echo", () => r.messages.length === 1);
  assert.equal(r.messages[0].data, "hello from node");
  assert.equal(r.messages[0].topic, "t");
});

test("resume: a restarted server (a new store) makes a resync, then live messages", async (t) => {
  const srv = await startServer(t);
  const { sub, r, timers } = await open(t, srv);
  await srv.post("/publish?topic=t&n=10");
  await until("10 messages", () => r.messages.length === 10);
  const before = sub.lastEventId;

  await srv.post("/restart");
  await until("the disconnection", () => r.disconnects.length === 1);
  assert.equal(r.disconnects[0].code, 1001, "going away");
  await reconnect(r, timers);
  await until("the resync", () => r.resyncs.length === 1);
  assert.deepEqual(r.resyncs, ["unknown"]);
  await srv.post("/publish?topic=t&n=5");
  await until("15 messages", () => r.messages.length === 15);

  assert.deepEqual(r.data(), numbers(1, 15));
  assert.equal(r.events.indexOf("resync"), r.events.lastIndexOf("open") + 1, "the resync first on the new connection");
  const reqs = (await srv.get("/requests")).filter((q) => q.path === "/ws");
  assert.equal(reqs.at(-1).lastEventIdQuery, before);
  assert.notEqual(r.messages[10].id.split("-")[0], r.messages[9].id.split("-")[0], "a new epoch");
});

test("close codes: 1008 and 4000-4999 stop the client; others make it reconnect and resume", async (t) => {
  for (const [code, stops] of [[4001, true], [4999, true], [1008, true], [1013, false], [1011, false], [3000, false]]) {
    await t.test(String(code), async (t) => {
      const srv = await startServer(t);
      const { sub, r, timers } = await open(t, srv);
      await srv.post("/publish?topic=t&n=3");
      await until("3 messages", () => r.messages.length === 3);

      await srv.post(`/closewith?transport=ws&code=${code}&reason=bye`);
      if (stops) {
        await until("the close", () => r.closes.length === 1);
        assert.deepEqual(r.closes, [{ code, status: 0, reason: "bye" }]);
        assert.equal(sub.state, "closed");
        assert.equal(timers.pending(), 0, "no reconnection");
        assert.deepEqual(r.disconnects, []);
        assert.equal(sub.send("x"), false);
        return;
      }
      await until("the disconnection", () => r.disconnects.length === 1);
      assert.deepEqual(r.disconnects, [{ code, status: 0, reason: "bye", wasOpen: true, delay: 1000 }]);
      await srv.post("/publish?topic=t&n=3"); // while away
      await reconnect(r, timers);
      await until("6 messages", () => r.messages.length === 6);
      assert.deepEqual(r.data(), numbers(1, 6));
      assert.deepEqual(r.closes, []);
    });
  }
});

test("backoff: refused reconnections (1006) wait longer each time, with jitter, up to maxDelay", async (t) => {
  const srv = await startServer(t);
  const rand = [0.5, 0.25, 0, 0.75, 0.1, 0.9];
  const backoff = { minDelay: 100, maxDelay: 500, jitter: 0.5 };
  let i = 0;
  const { sub, r, timers } = await open(t, srv, "topic=t", { ...backoff, random: () => rand[i++] });

  await srv.post("/refuse?path=/ws&status=503&n=4");
  await srv.post("/drop?transport=ws");
  for (let n = 1; n <= 5; n++) {
    await until("attempt " + n, () => timers.pending() === 1);
    timers.fire(); // 4 refused, then the fifth opens
  }
  await until("the reconnection", () => r.opens.length === 2);
  await srv.post("/publish?topic=t&n=1");
  await until("a message", () => r.messages.length === 1);
  await srv.post("/drop?transport=ws");
  await until("the timer after it", () => timers.pending() === 1);

  // 100, 200, 400, 500 (at most maxDelay), 500, less jitter; then, once
  // a connection delivered a message, 100 again.
  const want = [100, 200, 400, 500, 500, 100].map((d, k) => Math.round(d * (1 - 0.5 * rand[k])));
  assert.deepEqual(timers.delays, want);
  assert.deepEqual(want, [0, 1, 2, 3, 4, 0].map((attempt, k) => retryDelay(attempt, { ...backoff, random: () => rand[k] })));
  assert.deepEqual(r.disconnects.map((d) => [d.code, d.wasOpen]),
    [[1000, true], [1006, false], [1006, false], [1006, false], [1006, false], [1000, true]]);
  assert.equal(sub.state, "waiting");
  const reqs = (await srv.get("/requests")).filter((q) => q.path === "/ws");
  assert.deepEqual(reqs.map((q) => q.refused), [0, 503, 503, 503, 503, 0]);
  assert.ok(reqs.slice(1).every((q) => q.lastEventIdQuery === reqs[1].lastEventIdQuery && q.lastEventIdQuery));
});

// A Hub that accepts each connection and drops it before any message is
// not retried sooner for accepting it: such a connection is a failed
// attempt, whatever it carried besides messages (a position, a resync).
// A message, or 10 s up, starts the count over.
test("backoff: connections dropped before any message wait longer each time; a message or 10 s up starts over", async (t) => {
  const srv = await startServer(t);
  const { r, timers } = await open(t, srv, "topic=t", { minDelay: 100, maxDelay: 10000 });
  let skew = 0; // what the client's clock is ahead of the real one
  const now = performance.now.bind(performance);
  t.mock.method(performance, "now", () => now() + skew);
  const drop = async (how = "/drop?transport=ws") => {
    const n = timers.delays.length;
    await srv.post(how);
    await until("the reconnection's timer", () => timers.pending() === 1 && timers.delays.length === n + 1);
    return timers.delays.at(-1);
  };
  const reconnect = async () => {
    const opens = r.opens.length;
    timers.fire();
    await until("the reconnection", () => r.opens.length === opens + 1);
    await until("the Hub's subscriber", async () => (await srv.get("/stats")).subscribers === 1);
  };

  const waits = [];
  for (let i = 0; i < 5; i++) { // each with its position only
    waits.push(await drop());
    await reconnect();
  }
  assert.deepEqual(waits, [100, 200, 400, 800, 1600], "each dropped connection is a failed attempt");

  await srv.post("/publish?topic=t&n=1");
  await until("a message", () => r.messages.length === 1);
  assert.equal(await drop(), 100, "a message starts the count over");
  await reconnect();
  assert.equal(await drop("/restart"), 200, "a restart (1001) before a message");
  await reconnect();
  await until("the resync", () => r.resyncs.length === 1);
  assert.equal(await drop(), 400, "a resync is not a message");
  await reconnect();
  skew += 9_900;
  assert.equal(await drop(), 800, "9.9 s up is not enough");
  await reconnect();
  skew += 10_000;
  assert.equal(await drop(), 100, "10 s up starts the count over");
  assert.deepEqual(r.disconnects.map((d) => d.wasOpen), Array(10).fill(true));
});

test("close(): the client stops, once, and the server lets it go", async (t) => {
  const srv = await startServer(t);
  const { sub, r, timers } = await open(t, srv);
  sub.close();
  sub.close();
  assert.equal(sub.state, "closed");
  assert.deepEqual(r.closes, [{ code: 1000, status: 0, reason: "closed by the client" }]);
  await until("no subscriber", async () => (await srv.get("/stats")).subscribers === 0);
  assert.equal(timers.pending(), 0);
  assert.deepEqual(r.disconnects, []);
  assert.equal(sub.send("x"), false);
});

for (const [mode, protocol] of [["packed", "fanout.packed.v2"], ["plain", ""]]) {
  test(`${mode}: messages without IDs; a reconnection starts from live messages`, async (t) => {
    const srv = await startServer(t);
    const { sub, r, timers } = await open(t, srv, "topic=t", { mode });
    assert.equal(sub.protocol, protocol);

    await srv.post("/publish?topic=t&data=hi&event=price");
    await srv.post("/publish?topic=t&data=b&binary=1");
    await until("2 messages", () => r.messages.length === 2);
    const v2 = mode === "packed";
    assert.deepEqual(r.messages, [
      { data: "hi", binary: false, id: "", event: v2 ? "price" : "", topic: v2 ? "t" : "" },
      { data: new Uint8Array([98]), binary: true, id: "", event: "", topic: v2 ? "t" : "" },
    ]);

    await srv.post("/drop?transport=ws");
    await reconnect(r, timers);
    await srv.post("/publish?topic=t&n=2");
    await until("4 messages", () => r.messages.length === 4);
    assert.deepEqual(r.data().slice(2), ["1", "2"]);
    assert.equal(sub.lastEventId, "");
    const reqs = (await srv.get("/requests")).filter((q) => q.path === "/ws");
    assert.deepEqual(reqs.map((q) => q.lastEventIdQuery), ["", ""], "no resume");
    assert.deepEqual(reqs[0].protocols.split(/, */), mode === "packed" ? ["fanout.packed.v2", "fanout.packed.v1"] : [""]);
  });
}

// A plain WebSocket cannot carry a resync: the Hub closes it with 1012
// (fanout.StatusResync) and "fanout.resync: " and the reason, as the test
// server's CloseWith does here, byte for byte. The client reconnects and
// reports the resync first on the new connection, as a resume client
// gets it. Another mode, which has the resync record, takes that close as
// any 1012: it reconnects, and reports nothing.
for (const [mode, resyncs] of [["plain", ["lost"]], ["resume", []]]) {
  test(`${mode}: a close with 1012 "fanout.resync: lost"`, async (t) => {
    const srv = await startServer(t);
    const { r, timers } = await open(t, srv, "topic=t", { mode });
    await srv.post("/closewith?transport=ws&code=1012&reason=" + encodeURIComponent("fanout.resync: lost"));
    await until("the disconnection", () => r.disconnects.length === 1);
    assert.deepEqual(r.disconnects.map((d) => [d.code, d.reason]), [[1012, "fanout.resync: lost"]]);
    assert.deepEqual(r.resyncs, [], "not before the reconnection");
    await reconnect(r, timers);
    await srv.post("/publish?topic=t&n=1");
    await until("a message", () => r.messages.length === 1);
    assert.deepEqual(r.resyncs, resyncs);
    if (resyncs.length) {
      assert.equal(r.events.indexOf("resync"), r.events.lastIndexOf("open") + 1, "the resync first on the new connection");
    }
    assert.deepEqual(r.closes, []);
  });
}

// A server of the test's own (not a Hub) sends a frame fanoutRecords
// rejects: the client reports it and reconnects from the last ID.
test("a malformed frame is reported, and the client reconnects from the last ID it read", async (t) => {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", handleProtocols: (ps) => [...ps][0] });
  t.after(() => new Promise((resolve) => {
    for (const c of wss.clients) c.terminate();
    wss.close(resolve);
  }));
  const urls = [];
  const rec = (kind, s) => {
    const p = Buffer.from(s);
    const h = Buffer.alloc(5);
    h.writeUInt8(kind, 0);
    h.writeUInt32BE(p.length, 1);
    return Buffer.concat([h, p]);
  };
  wss.on("connection", (ws, req) => {
    urls.push(req.url);
    if (urls.length === 1) {
      ws.send(Buffer.concat([rec(3, "e-1"), rec(1, "one")]));
      ws.send(Buffer.concat([rec(3, "e-2"), rec(9, "?")]));
    } else {
      ws.send(Buffer.concat([rec(3, "e-2"), rec(1, "two")]));
    }
  });
  await new Promise((resolve) => wss.once("listening", resolve));
  const timers = fakeTimers();
  const sub = subscribe(`ws://127.0.0.1:${wss.address().port}/ws`, { WebSocket, ...timers, random: () => 0 });
  t.after(() => sub.close());
  const r = record(sub);
  await until("the error", () => r.errors.length === 1);
  assert.ok(r.errors[0] instanceof RangeError);
  assert.match(r.errors[0].message, /record before one of kind 9/);
  assert.deepEqual(r.disconnects.map((d) => d.code), [4000]);
  timers.fire();
  await until("the second message", () => r.messages.length === 2);
  assert.deepEqual(r.data(), ["one", "two"]);
  assert.deepEqual(urls, ["/ws", "/ws?lastEventId=e-1"]);
});
