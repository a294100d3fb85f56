// Drives t/browser/policy.html in Debian's headless Chromium through
// playwright-core for t/browser_policy.t: for each case it loads the probe
// page from the case's origin, runs probe() there (one WebSocket offering the
// case's subprotocols, one text echo, close 1000), and reports what the page
// showed, read back from its DOM, as one JSON object per case on stdout:
//   { name, page, origin, status, result, console: [...], errors: [...], ms }
// It asserts nothing; the .t file does.
//
// Usage: node policy.js OUTDIR CASES
//   OUTDIR gets the Chromium profile (a fresh --user-data-dir).
//   CASES is a JSON array of { name, page, ws, protocols: [...], text }.
//
// Every wait is bounded; the whole run is cut off after 50 s.

"use strict";

const { launch } = require("./launch");

const STEP_MS = 10000;
const PROBE_MS = 8000;

setTimeout(() => {
  console.log(JSON.stringify({ fatal: "browser policy test took over 50 s" }));
  process.exit(2);
}, 50000).unref();

async function run(page, c) {
  const r = { name: c.name, page: c.page, errors: [], console: [] };
  const t0 = Date.now();
  page.on("console", (m) => r.console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => r.errors.push(`page error: ${e.message}`));
  const text = (id) => page.locator("#" + id).textContent({ timeout: STEP_MS });
  try {
    await page.goto(c.page, { waitUntil: "load", timeout: STEP_MS });
    r.origin = await text("origin");
    // probe() resolves when the page has seen the close event (or its own
    // time limit passed); the result is then read from the DOM.
    await page.evaluate(([ws, protocols, msg, limit]) => probe(ws, protocols, msg, limit),
      [c.ws, c.protocols, c.text, PROBE_MS]);
    await page.waitForFunction(() => document.getElementById("status").textContent === "done",
      null, { timeout: STEP_MS });
    r.status = await text("status");
    r.result = await text("result");
  } catch (e) {
    r.errors.push(e.message.split("\n")[0]);
  }
  r.ms = Date.now() - t0;
  return r;
}

async function main() {
  const [outdir, casesJson] = process.argv.slice(2);
  if (!outdir || !casesJson) {
    console.error("usage: node policy.js OUTDIR CASES-JSON");
    process.exit(64);
  }
  const cases = JSON.parse(casesJson);
  const context = await launch(outdir);
  try {
    for (const c of cases) {
      const page = await context.newPage();
      const r = await run(page, c);
      console.log(JSON.stringify(r));
      await page.close();
    }
  } finally {
    await context.close();
  }
}

main().then(() => process.exit(0), (e) => {
  console.log(JSON.stringify({ fatal: e.message }));
  process.exit(1);
});
