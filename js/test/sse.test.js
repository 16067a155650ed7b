// The EventSource transport against a live Broker (test/server), with the
// eventsource package (v4) as the EventSource, as a Node.js client has it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { EventSource } from "eventsource";
import { subscribe } from "../fanout.js";
import { fakeTimers, numbers, record, startServer, until } from "./helpers.js";

// open subscribes to the test server's Broker with timers the test fires,
// and waits for the stream and its position.
async function open(t, srv, query = "topic=t", options = {}) {
  const timers = fakeTimers();
  const sub = subscribe(srv.http("/events?" + query), { EventSource, ...timers, random: () => 0, ...options });
  t.after(() => sub.close());
  const r = record(sub);
  await until("the stream", () => r.opens.length === 1);
  await until("the position", () => sub.lastEventId !== "");
  return { sub, r, timers };
}

const sseRequests = async (srv) => (await srv.get("/requests")).filter((q) => q.path === "/events");

test("no gap and no duplicate across server-side drops: the EventSource resumes by itself, the first time from the position", async (t) => {
  const srv = await startServer(t);
  const { sub, r, timers } = await open(t, srv);
  assert.equal(sub.transport, "sse");

  let published = 0;
  const resumedFrom = [];
  for (let round = 1; round <= 4; round++) {
    resumedFrom.push(sub.lastEventId); // the fanout.position event's at first
    await srv.post("/hold");
    await srv.post("/drop?transport=sse");
    await until("the held reconnection", async () =>
      (await srv.get("/requests")).filter((q) => q.held).length === round);
    await srv.post("/publish?topic=t&n=50"); // while it is away: by replay
    published += 50;
    await srv.post("/unhold");
    await srv.post("/publish?topic=t&n=25");
    published += 25;
    await until(published + " messages", () => r.messages.length >= published);
  }

  assert.deepEqual(r.data(), numbers(1, published), "every message once, in order");
  const epoch = r.messages[0].id.split("-")[0];
  assert.deepEqual(r.messages.map((m) => m.id), numbers(1, published).map((n) => epoch + "-" + n));
  assert.deepEqual(r.resyncs, []);
  assert.equal(r.opens.length, 5);
  assert.ok(r.disconnects.every((d) => d.delay === -1 && d.wasOpen), "the EventSource reconnected by itself");
  assert.deepEqual(timers.delays, [], "no new EventSource");
  const reqs = await sseRequests(srv);
  assert.deepEqual(reqs.map((q) => q.lastEventIdHeader), ["", ...resumedFrom], "Last-Event-ID: the last ID");
  assert.ok(reqs.every((q) => q.lastEventIdQuery === ""));
});

test("when the EventSource gives up (503), a new one resumes with ?lastEventId=, from the position too", async (t) => {
  const srv = await startServer(t);
  const { sub, r, timers } = await open(t, srv);
  const position = sub.lastEventId;

  // Twice: dropped before its first message, then after 10.
  for (const [round, from] of [[1, position], [2, null]]) {
    const last = from ?? sub.lastEventId;
    await srv.post("/refuse?path=/events&status=503&n=1");
    await srv.post("/drop?transport=sse");
    await until("the fallback's timer", () => timers.pending() === 1);
    // The EventSource's own attempt, refused, was the first: the client's
    // is the second.
    assert.deepEqual(r.disconnects.at(-1), { code: 0, status: 503, reason: "Non-200 status code (503)", wasOpen: false,
      delay: 2000 });
    await srv.post("/publish?topic=t&n=10"); // while it is away
    timers.fire();
    await until("10 more messages", () => r.messages.length === 10 * round);
    const reqs = await sseRequests(srv);
    assert.equal(reqs.at(-1).lastEventIdQuery, last, "the new EventSource resumes from the last ID");
    assert.equal(reqs.at(-1).lastEventIdHeader, "");
  }
  assert.deepEqual(r.data(), numbers(1, 20));
  assert.deepEqual(r.resyncs, []);
});

// A Broker that accepts each stream and ends it before any message: the
// EventSource reconnects by itself (after the Broker's Retry) the first
// time, as after any loss; if that stream ends too before a message, the
// client closes it and waits as after a refusal, longer each time, rather
// than let the EventSource come back every Retry for ever. A message, or
// 10 s up, starts the count over.
test("backoff: streams ended before any message wait longer each time; a message or 10 s up starts over", async (t) => {
  const srv = await startServer(t);
  const { r, timers } = await open(t, srv, "topic=t", { minDelay: 100, maxDelay: 10000 });
  let skew = 0; // what the client's clock is ahead of the real one
  const now = performance.now.bind(performance);
  t.mock.method(performance, "now", () => now() + skew);
  // drop ends the stream, lets the subscription reconnect (firing its
  // timer if it set one), and returns the wait it reported.
  const drop = async () => {
    const [n, opens] = [r.disconnects.length, r.opens.length];
    await srv.post("/drop?transport=sse");
    await until("the disconnection", () => r.disconnects.length === n + 1);
    const { delay } = r.disconnects[n];
    if (delay !== -1) {
      await until("the reconnection's timer", () => timers.pending() === 1);
      timers.fire();
    }
    await until("the reconnection", () => r.opens.length === opens + 1);
    await until("the Broker's subscriber", async () => (await srv.get("/stats")).subscribers === 1);
    return delay;
  };

  const waits = [];
  for (let i = 0; i < 4; i++) waits.push(await drop()); // each stream with its position only
  assert.deepEqual(waits, [-1, 200, 400, 800], "the EventSource's own attempt, then the client's, each a failed one");

  await srv.post("/publish?topic=t&n=1");
  await until("a message", () => r.messages.length === 1);
  assert.equal(await drop(), -1, "a message starts the count over");
  assert.equal(await drop(), 200);
  skew += 9_900;
  assert.equal(await drop(), 400, "9.9 s up is not enough");
  skew += 10_000;
  assert.equal(await drop(), -1, "10 s up starts the count over");
  assert.deepEqual(r.disconnects.map((d) => d.wasOpen), Array(8).fill(true));

  // Each resumed from the last ID: the position, then the message's. (The
  // EventSource's own reconnections send it as Last-Event-ID, or, when it
  // saw no ID itself, keep the ?lastEventId= it was opened with.)
  const reqs = await sseRequests(srv);
  const from = reqs.map((q) => q.lastEventIdHeader || q.lastEventIdQuery);
  assert.equal(from.length, 9);
  assert.deepEqual(from, ["", ...Array(4).fill(from[1]), ...Array(4).fill(r.messages[0].id)]);
  assert.notEqual(from[1], r.messages[0].id);
});

test("a restarted server (a new store) makes a resync, then live messages", async (t) => {
  const srv = await startServer(t);
  const { r } = await open(t, srv);
  await srv.post("/publish?topic=t&n=10");
  await until("10 messages", () => r.messages.length === 10);

  await srv.post("/restart");
  await until("the resync", () => r.resyncs.length === 1);
  assert.deepEqual(r.resyncs, ["unknown"]);
  await srv.post("/publish?topic=t&n=5");
  await until("15 messages", () => r.messages.length === 15);
  assert.deepEqual(r.data(), numbers(1, 15));
  assert.equal(r.events.indexOf("resync"), r.events.lastIndexOf("open") + 1, "the resync first on the new stream");
});

test("fanout.close with a code that does not say stop (1013, 1011) is an end of stream: the client resumes", async (t) => {
  for (const code of [1013, 1011]) {
    await t.test(String(code), async (t) => {
      const srv = await startServer(t);
      const { r } = await open(t, srv);
      await srv.post("/publish?topic=t&n=3");
      await until("3 messages", () => r.messages.length === 3);
      await srv.post(`/closewith?transport=sse&code=${code}&reason=bye`);
      await until("the EventSource's reconnection", () => r.opens.length === 2);
      await srv.post("/publish?topic=t&n=3");
      await until("6 messages", () => r.messages.length === 6);
      assert.deepEqual(r.data(), numbers(1, 6));
      assert.deepEqual(r.closes, []);
      assert.deepEqual(r.resyncs, []);
    });
  }
});

test("fanout.close (Subscriber.CloseWith) stops the client", async (t) => {
  const srv = await startServer(t);
  const { sub, r, timers } = await open(t, srv);
  await srv.post("/closewith?transport=sse&code=4001&reason=signed%20out");
  await until("the close", () => r.closes.length === 1);
  assert.deepEqual(r.closes, [{ code: 4001, status: 0, reason: "signed out" }]);
  assert.equal(sub.state, "closed");
  assert.equal(timers.pending(), 0);
  // The EventSource would come back after the Broker's Retry (50ms): wait
  // well past it, then check that it did not.
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal((await sseRequests(srv)).length, 1, "no reconnection");
  assert.deepEqual(r.disconnects, []);
});

test("204 No Content stops the client", async (t) => {
  const srv = await startServer(t);
  const { sub, r, timers } = await open(t, srv);
  await srv.post("/refuse?path=/events&status=204&n=1");
  await srv.post("/drop?transport=sse");
  await until("the close", () => r.closes.length === 1);
  assert.equal(r.closes[0].status, 204);
  assert.equal(sub.state, "closed");
  assert.equal(timers.pending(), 0);
});

test("events: named events arrive when listed, with their type; binary messages as base64 text", async (t) => {
  const srv = await startServer(t);
  const { r } = await open(t, srv, "topic=t", { events: ["price"] });
  await srv.post("/publish?topic=t&data=42.5&event=price");
  await srv.post("/publish?topic=t&data=x&event=other"); // not listed: EventSource does not dispatch it
  await srv.post("/publish?topic=t&data=bin&binary=1");
  await srv.post("/publish?topic=t&data=last");
  await until("3 messages", () => r.messages.length === 3);
  const ids = r.messages.map((m) => m.id);
  assert.deepEqual(r.messages, [
    { data: "42.5", binary: false, id: ids[0], event: "price", topic: "" },
    { data: "Ymlu", binary: false, id: ids[1], event: "", topic: "" },
    { data: "last", binary: false, id: ids[2], event: "", topic: "" },
  ]);
  assert.deepEqual(ids.map((id) => id.split("-")[1]), ["1", "3", "4"]);
  assert.deepEqual(r.batches, r.messages.map((m) => [m]));
});
