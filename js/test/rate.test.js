// Many clients of a server that accepts each connection and drops it at
// once come back no faster than if it refused them: a connection that
// ends before it delivered a message (or lasted 10 s) is a failed attempt,
// so each client's waits keep doubling instead of starting over from
// minDelay after each connection. Real timers: what is measured is
// attempts in a time.
import assert from "node:assert/strict";
import { test } from "node:test";
import { EventSource } from "eventsource";
import WebSocket from "ws";
import { subscribe } from "../fanout.js";
import { startDroppingServer, until } from "./helpers.js";

const clients = 200;
const span = 2000; // ms
const backoff = { minDelay: 100, maxDelay: 30000 }; // jitter: 0.5, random: Math.random

// most is the most attempts a client makes in elapsed ms: one at once,
// then one after each wait, a wait being at least half its step (first,
// over SSE, the EventSource's own: the server's retry field, 50ms).
function most(transport, elapsed) {
  let n = 1, sum = 0, step = backoff.minDelay;
  if (transport === "sse") {
    sum = 50;
    if (sum > elapsed) return n;
    n++;
    step *= 2;
  }
  for (; (sum += step / 2) <= elapsed; step = Math.min(2 * step, backoff.maxDelay)) n++;
  return n;
}

for (const transport of ["websocket", "sse"]) {
  test(`${transport}: ${clients} clients of a server that drops each connection at once back off as if refused`, async (t) => {
    const srv = await startDroppingServer(t);
    const url = transport === "websocket" ? srv.ws("/ws?topic=t") : srv.http("/events?topic=t");
    const delays = [];
    const subs = [];
    const start = performance.now();
    for (let i = 0; i < clients; i++) {
      const sub = subscribe(url, { WebSocket, EventSource, ...backoff });
      const ds = [];
      delays.push(ds);
      sub.on("disconnect", (d) => ds.push(d.delay));
      subs.push(sub);
    }
    await new Promise((resolve) => setTimeout(resolve, span)); // what is measured: attempts in a time
    await until("every client's first connection dropped", () => delays.every((ds) => ds.length > 0));
    const n = transport === "websocket" ? srv.requests.ws : srv.requests.sse;
    const elapsed = performance.now() - start;
    for (const sub of subs) sub.close();

    const each = most(transport, elapsed);
    t.diagnostic(`${clients} clients: ${n} attempts in ${Math.round(elapsed)}ms (${Math.round(n / elapsed * 1000)}/s); at most ${each} each`);
    assert.ok(n <= clients * each, `${n} attempts in ${Math.round(elapsed)}ms, more than ${clients} clients × ${each}`);
    for (const [i, ds] of delays.entries()) {
      // The k-th wait's step is minDelay × 2^k; over SSE the first is
      // the EventSource's own (-1), after the server's retry field.
      for (const [k, d] of ds.entries()) {
        if (transport === "sse" && k === 0) {
          assert.equal(d, -1, `client ${i}: the EventSource reconnects by itself first (waits ${ds})`);
          continue;
        }
        const step = Math.min(backoff.minDelay * 2 ** k, backoff.maxDelay);
        assert.ok(d >= step / 2 && d <= step, `client ${i}: wait ${k} is ${d}, want ${step / 2} to ${step} (waits ${ds})`);
      }
    }
  });
}
