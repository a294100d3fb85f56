// Drives t/browser/deflate.html in Debian's headless Chromium through
// playwright-core for t/deflate_browser.t: for each case it loads the probe
// page, runs probe() there (one WebSocket to the case's endpoint, where
// Chromium offers permessage-deflate itself; the page echoes the messages of
// the case's plan one after the other and closes with 1000), and reports
// what the page showed, read back from its DOM, as one JSON object per case
// on stdout:
//   { name, page, status, result, offered, answered, console: [...], errors: [...], ms }
// offered and answered are the Sec-WebSocket-Extensions of the handshake
// request Chromium sent and of the response it got, as Chromium's DevTools
// protocol (Network.webSocket* events) reports them (null: no such header).
// It asserts nothing; the .t file does.
//
// Usage: node deflate.js OUTDIR CASES
//   OUTDIR gets the Chromium profile (a fresh --user-data-dir).
//   CASES is a JSON array of { name, page, ws, plan: [{ name, fill, size, seed, text }] }.
//
// Every wait is bounded; the whole run is cut off after 50 s.

"use strict";

const { launch } = require("./launch");

const STEP_MS = 10000;
const PROBE_MS = 8000;

setTimeout(() => {
  console.log(JSON.stringify({ fatal: "browser deflate test took over 50 s" }));
  process.exit(2);
}, 50000).unref();

// The value of header `name` in a DevTools headers object (any case).
function header(headers, name) {
  const key = Object.keys(headers || {}).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? null : headers[key];
}

async function run(context, page, c) {
  const r = { name: c.name, page: c.page, errors: [], console: [] };
  const t0 = Date.now();
  page.on("console", (m) => r.console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => r.errors.push(`page error: ${e.message}`));
  const cdp = await context.newCDPSession(page);
  cdp.on("Network.webSocketWillSendHandshakeRequest", (e) => {
    r.offered = header(e.request.headers, "Sec-WebSocket-Extensions");
  });
  cdp.on("Network.webSocketHandshakeResponseReceived", (e) => {
    r.answered = header(e.response.headers, "Sec-WebSocket-Extensions");
  });
  await cdp.send("Network.enable");
  const text = (id) => page.locator("#" + id).textContent({ timeout: STEP_MS });
  try {
    await page.goto(c.page, { waitUntil: "load", timeout: STEP_MS });
    // probe() resolves when the page has seen the close event (or its own
    // time limit passed); the result is then read from the DOM.
    await page.evaluate(([ws, plan, limit]) => probe(ws, plan, limit), [c.ws, c.plan, PROBE_MS]);
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
    console.error("usage: node deflate.js OUTDIR CASES-JSON");
    process.exit(64);
  }
  const cases = JSON.parse(casesJson);
  const context = await launch(outdir);
  try {
    for (const c of cases) {
      const page = await context.newPage();
      const r = await run(context, page, c);
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
