// Drives t/browser/probe.html in Debian's headless Chromium through
// playwright-core for t/deflate_browser.t: for each case it loads the probe
// page, runs probeDeflate() there (one WebSocket to the case's endpoint,
// where Chromium offers permessage-deflate itself; the page echoes the
// messages of the case's plan one after the other and closes with 1000), and
// reports what the page showed, read back from its DOM, as one JSON object
// per case on stdout:
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

const { runScript, eachPage, probeArgs, runProbe } = require("./launch");

// The value of header `name` in a DevTools headers object (any case).
function header(headers, name) {
  const key = Object.keys(headers || {}).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? null : headers[key];
}

// Records the handshake's Sec-WebSocket-Extensions, both ways, in r.
async function watchHandshake(page, r) {
  const cdp = await page.context().newCDPSession(page);
  cdp.on("Network.webSocketWillSendHandshakeRequest", (e) => {
    r.offered = header(e.request.headers, "Sec-WebSocket-Extensions");
  });
  cdp.on("Network.webSocketHandshakeResponseReceived", (e) => {
    r.answered = header(e.response.headers, "Sec-WebSocket-Extensions");
  });
  await cdp.send("Network.enable");
}

runScript("browser deflate test", async () => {
  const [outdir, cases] = probeArgs("deflate.js");
  await eachPage(outdir, cases, (page, c) =>
    runProbe(page, c, "probeDeflate", [c.ws, c.plan], { before: (r) => watchHandshake(page, r) }));
});
