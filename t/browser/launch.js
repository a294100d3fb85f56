// The one way the browser tests start Debian's headless Chromium through
// playwright-core: a fresh profile under OUTDIR, and the flags this
// machine's closed network needs (no background networking, QUIC, sync or
// component updates, which would otherwise try to reach the internet).

"use strict";

const path = require("path");
const { chromium } = require("playwright-core");

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

module.exports = { launch };
