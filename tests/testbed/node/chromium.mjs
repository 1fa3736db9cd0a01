// chromium.mjs — Debian's Chromium, headless, as every browser test starts
// it. The flags keep it off the network beyond loopback: without the
// background-networking ones it keeps trying hosts this machine cannot
// reach.
import { chromium } from 'playwright-core';

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}
