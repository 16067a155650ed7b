// The package as npm ships it: its types check, its declarations are
// those of its JSDoc, and what `npm pack` makes installs and imports.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

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

test("npm pack makes a package that installs and imports", (t) => {
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
  const installed = JSON.parse(readFileSync(join(app, "node_modules", "@fanout-go", "client", "package.json"), "utf8"));
  assert.deepEqual(installed.dependencies ?? {}, {}, "no runtime dependencies");
});
