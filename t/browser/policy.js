// Drives t/browser/probe.html in Debian's headless Chromium through
// playwright-core for t/browser_policy.t: for each case it loads the probe
// page from the case's origin, runs probePolicy() there (one WebSocket
// offering the case's subprotocols, one text echo, close 1000), and reports
// what the page showed, read back from its DOM, as one JSON object per case
// on stdout:
//   { name, page, origin, status, result, console: [...], errors: [...], ms }
// It asserts nothing; the .t file does.
//
// Usage: node policy.js OUTDIR CASES
//   OUTDIR gets the Chromium profile (a fresh --user-data-dir).
//   CASES is a JSON array of { name, page, ws, protocols: [...], text }.
//
// Every wait is bounded; the whole run is cut off after 50 s.

"use strict";

const { runScript, eachPage, probeArgs, runProbe } = require("./launch");

runScript("browser policy test", async () => {
  const [outdir, cases] = probeArgs("policy.js");
  await eachPage(outdir, cases, (page, c) =>
    runProbe(page, c, "probePolicy", [c.ws, c.protocols, c.text], {
      loaded: async (r, text) => { r.origin = await text("origin"); },
    }));
});
