// Drives the demo page (nginx-conf/html/index.html) in Debian's headless
// Chromium through playwright-core, as a person would: connect, see the
// server close with 1001 and its reason when nginx reloads, connect again,
// send text, binary and a generated message, disconnect. It only reports
// what the page showed, as one JSON object per URL on stdout; t/browser.t
// asserts.
//
// Usage: node demo.js OUTDIR URL PIDFILE [URL PIDFILE]...
//   PIDFILE is the pid file of the nginx serving URL (sent SIGHUP, a
//   reload, while the page is connected). OUTDIR gets the Chromium profile
//   (a fresh --user-data-dir) and one screenshot per URL (page-1.png, ...).
//
// Every wait is bounded; the whole run is cut off after 50 s.

"use strict";

const fs = require("fs");
const path = require("path");
const { runScript, eachPage } = require("./launch");

const STEP_MS = 10000;
const TEXT = "hello, nginx \u2713"; // 16 bytes in UTF-8
const GENERATED = 200000;

async function run(page, url, pidfile, shot) {
  const r = { url, steps: [], errors: [] };
  const text = (id) => page.locator("#" + id).textContent();
  // Runs one step; a failure is recorded and ends this URL's run.
  const step = async (name, fn) => {
    try {
      await fn();
      r.steps.push(name);
    } catch (e) {
      r.errors.push(`${name}: ${e.message.split("\n")[0]}`);
      throw e;
    }
  };
  const statusIs = (want) =>
    page.waitForFunction((w) => document.getElementById("status").textContent === w, want,
      { timeout: STEP_MS });
  const logHas = (needle) =>
    page.waitForFunction((n) => document.getElementById("log").textContent.includes(n), needle,
      { timeout: STEP_MS });

  try {
    await step("load", async () => {
      await page.goto(url, { waitUntil: "load", timeout: STEP_MS });
      r.title = await page.title();
    });
    await step("connect", async () => {
      await page.click("#connect");
      await statusIs("connected");
    });
    await step("reload", async () => {
      // nginx -s reload: the exiting worker closes its WebSockets with 1001.
      const pid = Number(fs.readFileSync(pidfile, "utf8").trim());
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (!(pid > 1) || !cmd.startsWith("nginx: master")) {
        throw new Error(`${pidfile} does not name an nginx master (pid ${pid})`);
      }
      process.kill(pid, "SIGHUP");
      await statusIs("disconnected");
      r.close_reload = await text("close");
    });
    await step("reconnect", async () => {
      await page.click("#connect");
      await statusIs("connected");
      r.extensions = await text("extensions");
    });
    await step("text", async () => {
      await page.fill("#text", TEXT);
      await page.click("#send-text");
      await logHas(`echo: text "${TEXT}"`);
    });
    await step("binary", async () => {
      await page.click("#send-binary");
      await logHas("echo: binary, ");
    });
    await step("generated", async () => {
      await page.fill("#size", String(GENERATED));
      await page.click("#send-large");
      await logHas(`echo: text, ${GENERATED} chars`);
    });
    await step("disconnect", async () => {
      await page.click("#disconnect");
      await statusIs("disconnected");
      r.close_disconnect = await text("close");
    });
  } catch (e) {
    // recorded in r.errors
  }
  // Whatever happened, report the page as it is and take the screenshot.
  try {
    r.status = await text("status");
    r.close = await text("close");
    r.log = await text("log");
    r.body = await page.locator("body").innerText();
    await page.screenshot({ path: shot, fullPage: true });
    r.screenshot = shot;
  } catch (e) {
    r.errors.push(`report: ${e.message.split("\n")[0]}`);
  }
  return r;
}

runScript("browser test", async () => {
  const [outdir, ...pairs] = process.argv.slice(2);
  if (!outdir || pairs.length === 0 || pairs.length % 2) {
    console.error("usage: node demo.js OUTDIR URL PIDFILE [URL PIDFILE]...");
    process.exit(64);
  }
  const targets = [];
  for (let i = 0; i < pairs.length; i += 2) targets.push({ url: pairs[i], pidfile: pairs[i + 1] });
  await eachPage(outdir, targets, async (page, { url, pidfile }, i) => {
    const consoleErrors = [];
    page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
    const r = await run(page, url, pidfile, path.join(outdir, `page-${i + 1}.png`));
    r.console_errors = consoleErrors;
    return r;
  });
});
