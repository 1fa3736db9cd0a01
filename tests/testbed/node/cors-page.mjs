// A page on another origin making fetches to s3gate, in Debian's Chromium
// (playwright-core), for s3gate's CORS and public-data tests:
//
//   node cors-page.mjs SPEC_JSON
//
// Serves a blank page at http://localhost:PORT/ (a loopback origin other
// than the gateway's 127.0.0.1 address), opens it, and runs each fetch of
// SPEC_JSON ([{url, method, headers, body}]) from that page's script, as a
// web app would. Prints one JSON line: for each fetch either
// {status, text, etag} (the answer the page could read) or {error} (the
// browser withheld it: CORS refused it).
import http from 'node:http';
import { launch } from './chromium.mjs';

const spec = JSON.parse(process.argv[2]);
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end('<!doctype html><title>app</title>');
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const origin = `http://localhost:${server.address().port}`;
const browser = await launch();
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(20000);
  await page.goto(`${origin}/`);
  const results = await page.evaluate(async (fetches) => {
    const out = [];
    for (const f of fetches) {
      try {
        const r = await fetch(f.url, {
          method: f.method || 'GET', headers: f.headers || {}, body: f.body, mode: 'cors',
        });
        out.push({ status: r.status, text: await r.text(), etag: r.headers.get('etag') });
      } catch (e) {
        out.push({ error: String(e) });
      }
    }
    return out;
  }, spec);
  console.log(JSON.stringify({ origin, results }));
} finally {
  await browser.close();
  server.close();
}
