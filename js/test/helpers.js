// Helpers of the client's tests: a live Go server (test/server) per test,
// a server that drops every connection at once, a recorder of what a
// subscription tells, timers the test fires itself, and waiting for a
// condition with a deadline.
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));

let binary = "";

// serverBinary builds test/server once per test file (each runs in a
// process of its own), into a temporary directory.
function serverBinary() {
  if (!binary) {
    const out = join(mkdtempSync(join(tmpdir(), "fanout-js-test-")), "server");
    execFileSync("go", ["build", "-o", out, "./server"], { cwd: here, stdio: ["ignore", "inherit", "inherit"] });
    binary = out;
  }
  return binary;
}

// startServer starts a server of its own for the test t, and stops it when
// the test ends.
export async function startServer(t) {
  const proc = spawn(serverBinary(), [], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: proc.stdout });
  const base = await new Promise((resolve, reject) => {
    lines.once("line", resolve);
    proc.once("error", reject);
    proc.once("exit", (code) => reject(new Error("test server exited: " + code)));
  });
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  t.after(async () => {
    proc.stdin.end(); // it exits when its standard input closes
    await exited;
  });
  const call = async (method, path) => {
    const r = await fetch(base + path, { method });
    const body = await r.text();
    if (!r.ok) throw new Error(method + " " + path + ": " + r.status + " " + body);
    return JSON.parse(body);
  };
  return {
    base,
    ws: (path) => base.replace(/^http/, "ws") + path,
    http: (path) => base + path,
    post: (path) => call("POST", path),
    get: (path) => call("GET", path),
  };
}

// until calls cond (which may be async) until it returns a truthy value,
// and returns that value; it throws after the deadline. It polls: what it
// waits for is in another process, or in the event loop.
export async function until(what, cond, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error("timed out waiting for " + what);
    await new Promise((resolve) => setTimeout(resolve, 5)); // polling interval, not synchronisation
  }
}

// record records everything a subscription tells, in order.
export function record(sub) {
  const r = { messages: [], batches: [], resyncs: [], opens: [], disconnects: [], closes: [], errors: [], events: [] };
  const names = { message: "messages", batch: "batches", resync: "resyncs", open: "opens", disconnect: "disconnects",
    close: "closes", error: "errors" };
  for (const [type, list] of Object.entries(names)) {
    sub.on(type, (arg) => {
      r[list].push(arg);
      r.events.push(type);
    });
  }
  r.data = () => r.messages.map((m) => m.data);
  return r;
}

// fakeTimers stands in for setTimeout and clearTimeout: a test sees the
// delays asked for and fires the timers itself.
export function fakeTimers() {
  let next = 1;
  const pending = new Map();
  const f = {
    delays: [], // every delay asked for, in order
    setTimeout: (fn, ms) => {
      f.delays.push(ms);
      pending.set(next, fn);
      return next++;
    },
    clearTimeout: (id) => void pending.delete(id),
    pending: () => pending.size,
    // fire runs the timers pending now.
    fire() {
      const fns = [...pending.values()];
      pending.clear();
      for (const fn of fns) fn();
      return fns.length;
    },
  };
  return f;
}

// numbers returns ["from", ..., "to"].
export function numbers(from, to) {
  const out = [];
  for (let i = from; i <= to; i++) out.push(String(i));
  return out;
}

// startDroppingServer starts a server that accepts each request as a Hub
// (101, selecting the first subprotocol offered) or a Broker (200, an
// event stream with a retry field of 50ms) would, then drops it at once.
// It counts the requests of each kind, and stops when the test t ends.
export async function startDroppingServer(t) {
  const requests = { ws: 0, sse: 0 };
  const sockets = new Set();
  const srv = createServer((req, res) => {
    requests.sse++;
    res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
    res.end("retry: 50\n\n");
  });
  srv.on("connection", (s) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  srv.on("upgrade", (req, socket) => {
    requests.ws++;
    const accept = createHash("sha1").update(req.headers["sec-websocket-key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
      .digest("base64");
    const protocol = (req.headers["sec-websocket-protocol"] ?? "").split(",")[0].trim();
    socket.end("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Accept: " + accept + "\r\n" + (protocol ? "Sec-WebSocket-Protocol: " + protocol + "\r\n" : "") + "\r\n");
  });
  await new Promise((resolve) => srv.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise((resolve) => {
    for (const s of sockets) s.destroy();
    srv.close(resolve);
  }));
  const base = "http://127.0.0.1:" + srv.address().port;
  return {
    requests,
    ws: (path) => base.replace(/^http/, "ws") + path,
    http: (path) => base + path,
  };
}
