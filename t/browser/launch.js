// What the browser scripts (demo.js, deflate.js, policy.js) share: the one
// way they start Debian's headless Chromium through playwright-core (a fresh
// profile under OUTDIR, and the flags this machine's closed network needs: no
// background networking, QUIC, sync or component updates, which would
// otherwise try to reach the internet), the run of a script (cut off after
// 50 s, a fatal error reported as one JSON line), one page per case with its
// report as one JSON line on stdout, and the run of a probe of probe.html.

"use strict";

const path = require("path");
const { chromium } = require("playwright-core");

const STEP_MS = 10000;
const PROBE_MS = 8000;

function launch(outdir) {
  return chromium.launchPersistentContext(path.join(outdir, "profile"), {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    // Pages on the self-signed certificates the tests make.
    ignoreHTTPSErrors: true,
    viewport: { width: 900, height: 540 },
    timeout: 20000,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--ignore-certificate-errors",
    ],
  });
}

// Runs the script's main(): exit 0 when it resolves; when it rejects, a
// { fatal } line and exit 1; after 50 s, whatever it waits for, a { fatal }
// line saying `what` took too long and exit 2.
function runScript(what, main) {
  setTimeout(() => {
    console.log(JSON.stringify({ fatal: `${what} took over 50 s` }));
    process.exit(2);
  }, 50000).unref();
  main().then(() => process.exit(0), (e) => {
    console.log(JSON.stringify({ fatal: e.message }));
    process.exit(1);
  });
}

// Launches Chromium (profile under outdir) and, for each item in order,
// opens a fresh page, awaits fn(page, item, index), prints the report it
// returns as one JSON line and closes the page; closes Chromium at the end.
async function eachPage(outdir, items, fn) {
  const context = await launch(outdir);
  try {
    for (let i = 0; i < items.length; i++) {
      const page = await context.newPage();
      const r = await fn(page, items[i], i);
      console.log(JSON.stringify(r));
      await page.close();
    }
  } finally {
    await context.close();
  }
}

// The arguments of a probe script: OUTDIR CASES-JSON, as [outdir, cases]
// (usage and exit 64 without them).
function probeArgs(script) {
  const [outdir, casesJson] = process.argv.slice(2);
  if (!outdir || !casesJson) {
    console.error(`usage: node ${script} OUTDIR CASES-JSON`);
    process.exit(64);
  }
  return [outdir, JSON.parse(casesJson)];
}

// Loads case c's page (c.page, probe.html), runs the page's function
// `probe` there with `args` and its time limit, and reports what the page
// showed, read back from its DOM once #status is "done":
//   { name, page, status, result, console: [...], errors: [...], ms }
// hooks.before(r) runs before the page loads, hooks.loaded(r, text) after
// (text(id) reads an element's text); both may add to the report.
async function runProbe(page, c, probe, args, hooks = {}) {
  const r = { name: c.name, page: c.page, errors: [], console: [] };
  const t0 = Date.now();
  page.on("console", (m) => r.console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => r.errors.push(`page error: ${e.message}`));
  if (hooks.before) await hooks.before(r);
  const text = (id) => page.locator("#" + id).textContent({ timeout: STEP_MS });
  try {
    await page.goto(c.page, { waitUntil: "load", timeout: STEP_MS });
    if (hooks.loaded) await hooks.loaded(r, text);
    // The probe resolves when the page has seen the close event (or its own
    // time limit passed); the result is then read from the DOM.
    await page.evaluate(([name, a]) => window[name](...a), [probe, [...args, PROBE_MS]]);
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

module.exports = { launch, runScript, eachPage, probeArgs, runProbe };
