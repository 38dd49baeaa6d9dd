// /tracker.js on a page of another origin (a tiny node http server), as a site would
// include it: page views, History API navigations, custom events (queued before the
// script loaded, and after), the opt-out, and its size.

import assert from "node:assert/strict";
import http from "node:http";
import { test } from "node:test";

import { freePort, launchBrowser, missingPrerequisite, newPage, stopHttpServer, Tallyd, testTimeout, waitFor } from "./support.mjs";

// node:test skips on any string, even an empty one.
const skip = missingPrerequisite() || false;

// The README's snippet, with the stub that queues calls made before the script ran.
function sitePage(tallydBase) {
  return `<!doctype html><html><head><title>A shop</title>
<script>window.tally=window.tally||function(){(tally.q=tally.q||[]).push(arguments)}</script>
<script defer data-site="shop" src="${tallydBase}/tracker.js"></script>
<script>tally("event", "early", {from: "queue"})</script>
</head><body><a id="next" href="/next">next</a></body></html>`;
}

// Every path answers the same page: a single-page app's server.
async function startSite(t, tallydBase) {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(sitePage(tallydBase));
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  t.after(() => stopHttpServer(server));
  return `http://127.0.0.1:${port}`;
}

test("tracker.js is under 2 KB as served, as JavaScript", { skip, timeout: testTimeout }, async (t) => {
  const tallyd = await Tallyd.start(t);
  const res = await fetch(`${tallyd.base}/tracker.js`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/javascript/);
  const bytes = (await res.arrayBuffer()).byteLength;
  assert.ok(bytes > 500 && bytes < 2048, `tracker.js is ${bytes} bytes`);
});

test("page views, an SPA navigation, custom events and the opt-out", { skip, timeout: testTimeout }, async (t) => {
  const tallyd = await Tallyd.start(t);
  const site = await startSite(t, tallyd.base);
  const browser = await launchBrowser(t);
  const page = await newPage(browser);
  const shop = () => tallyd.dashboard("today", { site: "shop" });

  // Loading the page: one page view, and the event queued before the script loaded.
  await page.goto(`${site}/`, { referer: "https://News.example.org/item?id=1" });
  await waitFor(async () => {
    const d = await shop();
    return d.page_views === 1 && d.events.early === 1;
  }, { what: "the first page view and the queued event" });
  let d = await shop();
  assert.deepEqual(d.top_pages, [["/", 1]]);
  assert.deepEqual(d.top_referrers, [["news.example.org", 1]]);
  assert.equal(d.unique_sessions, 1);

  // An SPA navigation: another page view, same session.
  await page.evaluate(() => history.pushState({}, "", "/pricing?plan=pro"));
  await waitFor(async () => (await shop()).page_views === 2, { what: "the pushState page view" });
  d = await shop();
  assert.deepEqual(d.top_pages, [["/", 1], ["/pricing", 1]]);
  assert.equal(d.unique_sessions, 1);

  // Back (popstate) is a navigation too; a hash change on the same path is not.
  await page.evaluate(() => history.back());
  await waitFor(async () => (await shop()).page_views === 3, { what: "the popstate page view" });
  await page.evaluate(() => history.replaceState({}, "", "/#section"));

  // A custom event after load, with properties.
  await page.evaluate(() => window.tally("event", "signup", { plan: "pro" }));
  await waitFor(async () => (await shop()).events.signup === 1, { what: "the signup event" });
  d = await shop();
  assert.equal(d.page_views, 3, "the hash change was not a page view");

  // Opted out: nothing is sent. Then opted in again, a marker event shows that what was
  // sent before it has arrived.
  await page.evaluate(() => {
    localStorage.setItem("tally_ignore", "1");
    history.pushState({}, "", "/secret");
    window.tally("event", "hidden");
    localStorage.removeItem("tally_ignore");
    window.tally("event", "marker");
  });
  await waitFor(async () => (await shop()).events.marker === 1, { what: "the marker event" });
  d = await shop();
  assert.equal(d.page_views, 3);
  assert.equal(d.events.hidden, undefined);
  assert.ok(!d.top_pages.some(([p]) => p === "/secret"));

  // A new page load in the same tab keeps the session (sessionStorage).
  await page.goto(`${site}/next`);
  await waitFor(async () => (await shop()).page_views === 4, { what: "the reload's page view" });
  d = await shop();
  assert.equal(d.unique_sessions, 1);
  assert.deepEqual(page.errors, []);

  // Nothing went to the default site.
  assert.equal((await tallyd.dashboard()).page_views, 0);
});
