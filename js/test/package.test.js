// The package as npm ships it: its types check, its declarations are
// those of its JSDoc, and what `npm pack` makes installs into an empty
// project and, imported from there, subscribes to a live Hub. (In a
// browser: e2e/npm_test.go.)
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startServer } from "./helpers.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { cwd: root, encoding: "utf8", ...opts });

function tempDir(t) {
  const dir = mkdtempSync(join(tmpdir(), "fanout-js-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("tsc: fanout.js checks against its JSDoc, and test/types.ts against fanout.d.ts", () => {
  run(process.execPath, [tsc, "-p", "tsconfig.json"]);
});

test("fanout.d.ts is what `npm run types` writes from fanout.js", (t) => {
  const out = tempDir(t);
  run(process.execPath, [tsc, "-p", "tsconfig.types.json", "--outDir", out]);
  assert.equal(readFileSync(join(root, "fanout.d.ts"), "utf8"), readFileSync(join(out, "fanout.d.ts"), "utf8"),
    "fanout.d.ts is out of date: npm run types");
});

test("npm pack makes a package that installs, imports and subscribes", async (t) => {
  const dir = tempDir(t);
  const [packed] = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", dir]));
  assert.deepEqual(packed.files.map((f) => f.path).sort(), ["LICENSE", "README.md", "fanout.d.ts", "fanout.js", "package.json"]);

  const app = join(dir, "app");
  run("mkdir", ["-p", app]);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  run("npm", ["install", "--offline", "--no-audit", "--no-fund", join(dir, packed.filename)], { cwd: app });
  writeFileSync(join(app, "main.js"), `
import { subscribe, fanoutRecords, retryDelay, SUBPROTOCOLS, Subscription } from "@fanout-go/client";
console.log(JSON.stringify({ subscribe: typeof subscribe, Subscription: typeof Subscription,
  records: fanoutRecords(new Uint8Array([1, 0, 0, 0, 2, 104, 105]).buffer), delay: retryDelay(0, { random: () => 0 }),
  resume: SUBPROTOCOLS.resume }));
`);
  const got = JSON.parse(run(process.execPath, ["main.js"], { cwd: app }));
  assert.deepEqual(got, {
    subscribe: "function", Subscription: "function",
    records: [{ data: "hi", binary: false, id: "", event: "", topic: "" }], delay: 1000,
    resume: ["fanout.resume.v2", "fanout.resume.v1"],
  });

  // TypeScript finds its declarations through exports, as a user's project
  // resolves it (strict: an import without types fails with TS7016).
  for (const resolution of ["NodeNext", "Bundler"]) {
    const module = resolution === "Bundler" ? "ESNext" : resolution;
    writeFileSync(join(app, "tsconfig.json"), JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, target: "ES2022", module, moduleResolution: resolution,
        lib: ["ES2022", "DOM"], types: [] },
      files: ["check.ts"],
    }));
    writeFileSync(join(app, "check.ts"), `
import { subscribe, type Message, type Subscription } from "@fanout-go/client";
const sub: Subscription = subscribe("wss://example.com/ws?topic=a");
sub.on("message", (m: Message) => console.log(m.data, m.id));
`);
    run(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: app });
  }

  // Imported from the project, the package subscribes to a live Hub (a
  // process of its own) and receives what it publishes.
  const srv = await startServer(t);
  writeFileSync(join(app, "live.js"), LIVE);
  const { stdout } = await promisify(execFile)(process.execPath, ["live.js", srv.base, root], { cwd: app, timeout: 30_000 });
  const live = JSON.parse(stdout);
  assert.equal(live.data, "from the Hub");
  assert.match(live.id, /./, "the Hub's Ring gave it an ID");
  assert.equal(live.protocol, "fanout.resume.v2");

  const installed = JSON.parse(readFileSync(join(app, "node_modules", "@fanout-go", "client", "package.json"), "utf8"));
  assert.deepEqual(installed.dependencies ?? {}, {}, "no runtime dependencies");
});

// LIVE is the project's program that subscribes: node live.js BASE ROOT,
// where BASE is the test server's URL and ROOT this package's directory.
const LIVE = `
import { createRequire } from "node:module";
import { join } from "node:path";
import { subscribe } from "@fanout-go/client";

const [base, root] = process.argv.slice(2);
// Node.js 20 has no WebSocket: the ws package of the client's development
// dependencies (the project installs nothing but the tarball).
const WebSocket = globalThis.WebSocket ?? createRequire(join(root, "package.json"))("ws");
const sub = subscribe(base.replace(/^http/, "ws") + "/ws?topic=npm", { WebSocket });
const m = await new Promise((resolve, reject) => {
  sub.on("open", () => {
    fetch(base + "/publish?topic=npm&data=from+the+Hub", { method: "POST" })
      .then((r) => r.ok || reject(new Error("publish: " + r.status)), reject);
  });
  sub.on("message", resolve);
});
sub.close();
console.log(JSON.stringify({ data: m.data, id: m.id, protocol: sub.protocol }));
`;
