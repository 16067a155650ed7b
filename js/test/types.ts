// Type-checked by tsc -p . (see pack.test.js): what a TypeScript user
// writes against fanout.d.ts compiles, and what it should not does not.
import { cursorAfter, fanoutRecords, retryDelay, subscribe, SUBPROTOCOLS, type Message, type Subscription } from "../fanout.js";

const sub: Subscription = subscribe("wss://example.com/ws?topic=room", {
  mode: "resume",
  events: ["price"],
  minDelay: 500,
  maxDelay: 10_000,
  jitter: 0.3,
  random: () => 0.5,
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t),
});
const off = sub.on("message", (m: Message) => {
  const text: string = typeof m.data === "string" ? m.data : new TextDecoder().decode(m.data);
  console.log(text, m.id, m.event, m.topic, m.binary);
});
off();
sub.on("batch", (ms) => console.log(ms.length));
sub.on("resync", (reason: string) => console.log(reason));
sub.on("open", ({ protocol, lastEventId }) => console.log(protocol, lastEventId));
sub.on("disconnect", ({ code, status, reason, wasOpen, delay }) => console.log(code, status, reason, wasOpen, delay));
sub.on("close", ({ code, status, reason }) => console.log(code, status, reason));
sub.on("error", (err: Error) => console.log(err.message));
const ok: boolean = sub.send("hello");
const state: "connecting" | "open" | "waiting" | "closed" = sub.state;
console.log(ok, state, sub.lastEventId, sub.protocol, sub.transport, SUBPROTOCOLS.resume[0], retryDelay(3));
const resumeFrom: string = cursorAfter(sub.lastEventId, "e:3-8", false);
console.log(resumeFrom);
sub.close();

for (const r of fanoutRecords(new ArrayBuffer(0))) {
  if ("position" in r) console.log(r.position);
  else if ("resync" in r) console.log(r.resync);
  else console.log(r.data, r.id);
}

subscribe("/events", { transport: "sse", eventSourceInit: { withCredentials: true } });

// @ts-expect-error: no such event
sub.on("messages", () => {});
// @ts-expect-error: a resync's listener gets the reason, a string
sub.on("resync", (r: number) => console.log(r));
// @ts-expect-error: no such mode
subscribe("ws://x/ws", { mode: "fast" });
