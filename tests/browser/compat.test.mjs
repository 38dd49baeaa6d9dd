// Sites tagged for Plausible or Umami, switched to Tally by changing one URL, in Debian's
// Chromium: the plain Plausible snippet loading tallyd's /js/script.js, the npm
// @plausible-analytics/tracker and the older plausible-tracker (from the lock file, served
// to the page unchanged), and @umami/node from Node. The site's pages come from another
// origin than tallyd, as in real life. Figures are checked exactly on /dashboard, and
// crawlers' visits are answered but not counted.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { freePort, launchBrowser, missingPrerequisite, newPage, screenshot, stopHttpServer, Tallyd, testTimeout, waitFor } from "./support.mjs";

const skip = missingPrerequisite() || false;
const here = path.dirname(fileURLToPath(import.meta.url));

// A real desktop Chrome's User-Agent: headless Chromium names itself HeadlessChrome, which
// the crawler list (rightly) drops.
const CHROME_UA =
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";

// The site: its pages (from `pages`), and /nm/ serving this folder's node_modules as a dev
// server would (an extensionless import gets ".js", as bundlers resolve it).
async function startSite(t, pages) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://site");
    if (url.pathname.startsWith("/nm/")) {
      let file = path.join(here, "node_modules", url.pathname.slice(4));
      if (!existsSync(file)) file += ".js";
      if (!file.startsWith(path.join(here, "node_modules")) || !existsSync(file)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "Content-Type": "text/javascript" }).end(readFileSync(file));
      return;
    }
    const page = pages[url.pathname] ?? pages["*"];
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" }).end(page);
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  t.after(() => stopHttpServer(server));
  return `http://127.0.0.1:${port}`;
}

async function figures(tallyd, site, props) {
  return tallyd.get(`/dashboard/today?site=${site}${props ? `&props=${props}` : ""}`);
}

const pages = (m) => Object.fromEntries(m.top_pages.map(([page, n]) => [page, n]));

test("the unmodified Plausible snippet: page views, SPA navigation, custom events with props", { skip, timeout: testTimeout }, async (t) => {
  const tallyd = await Tallyd.start(t);
  const snippet = (extra = "") => `<!doctype html><html><head><title>Shop</title>
    <script defer data-domain="www.shop.example" src="${tallyd.base}/js/script.js"></script>
    <script>window.plausible = window.plausible || function() { (window.plausible.q = window.plausible.q || []).push(arguments) }</script>
    </head><body><h1>Shop</h1>${extra}</body></html>`;
  const site = await startSite(t, { "*": snippet() });
  const browser = await launchBrowser(t);
  const page = await newPage(browser, { userAgent: CHROME_UA });
  await page.goto(`${site}/pricing?utm_source=x`, { referer: "https://news.ycombinator.com/item?id=1" });
  await waitFor(async () => (await figures(tallyd, "shop.example")).page_views === 1, { what: "the first page view" });
  // A single-page app moves on with pushState and back with popstate.
  await page.evaluate(() => history.pushState({}, "", "/docs/install"));
  await page.evaluate(() => plausible("Signup", { props: { plan: "pro", seats: 3 } }));
  await page.evaluate(() => history.back());
  await waitFor(async () => (await figures(tallyd, "shop.example")).page_views === 3, { what: "3 page views" });
  await waitFor(async () => (await figures(tallyd, "shop.example")).events.Signup === 1, { what: "the Signup event" });
  const m = await figures(tallyd, "shop.example", "Signup");
  assert.deepEqual(pages(m), { "/pricing": 2, "/docs/install": 1 });
  assert.equal(m.unique_visitors, 1);
  assert.equal(m.unique_sessions, 1); // no session id sent: one visitor, minutes apart
  // document.referrer stays the landing page's through SPA navigation, in Plausible too.
  assert.deepEqual(Object.fromEntries(m.top_referrers), { "news.ycombinator.com": 3 });
  const plan = m.properties.keys.find((k) => k.key === "plan");
  assert.deepEqual(plan.values, [{ value: "pro", count: 1, visitors: 1 }]);
  assert.deepEqual(page.errors, []);
  await screenshot(page, "compat-plausible-snippet");

  // A crawler running the same page is answered, and not counted.
  const bot = await newPage(browser, {}); // HeadlessChrome's own User-Agent
  await bot.goto(`${site}/pricing`);
  await waitFor(async () => (await tallyd.metrics()).includes('tally_events_dropped_total{reason="bot"} 1'), {
    what: "one bot dropped",
  });
  assert.equal((await figures(tallyd, "shop.example")).page_views, 3);
});

test("npm @plausible-analytics/tracker and plausible-tracker send to tallyd unchanged", { skip, timeout: testTimeout }, async (t) => {
  const tallyd = await Tallyd.start(t);
  const importMap = `<script type="importmap">{"imports": {
      "@plausible-analytics/tracker": "/nm/@plausible-analytics/tracker/plausible.js",
      "plausible-tracker": "/nm/plausible-tracker/build/module/index.js"}}</script>`;
  const modern = `<!doctype html>${importMap}<script type="module">
    import { init, track } from "@plausible-analytics/tracker";
    window.__plausible = true; // the tracker stays quiet under WebDriver unless told
    init({ domain: "app.example", endpoint: "${tallyd.base}/api/event", captureOnLocalhost: true, autoCapturePageviews: true });
    window.go = (path) => history.pushState({}, "", path);
    window.signup = () => track("signup", { props: { plan: "team" } });
    window.ready = true;
  </script>`;
  const older = `<!doctype html>${importMap}<script type="module">
    import Plausible from "plausible-tracker";
    const { trackPageview, trackEvent } = Plausible({ domain: "old.example", apiHost: "${tallyd.base}", trackLocalhost: true });
    window.view = () => trackPageview();
    window.signup = () => trackEvent("signup", { props: { plan: "solo" } });
    window.ready = true;
  </script>`;
  const site = await startSite(t, { "/modern": modern, "/modern/settings": modern, "/old": older });
  const browser = await launchBrowser(t);
  const page = await newPage(browser, { userAgent: CHROME_UA });

  await page.goto(`${site}/modern`);
  await page.waitForFunction(() => window.ready);
  await waitFor(async () => (await figures(tallyd, "app.example")).page_views === 1, { what: "the modern tracker's page view" });
  await page.evaluate(() => window.go("/modern/settings"));
  await page.evaluate(() => window.signup());
  await waitFor(async () => {
    const m = await figures(tallyd, "app.example");
    return m.page_views === 2 && m.events.signup === 1;
  }, { what: "an SPA page view and a custom event" });
  const modernFigures = await figures(tallyd, "app.example", "signup");
  assert.deepEqual(pages(modernFigures), { "/modern": 1, "/modern/settings": 1 });
  assert.deepEqual(modernFigures.properties.keys[0].values, [{ value: "team", count: 1, visitors: 1 }]);

  await page.goto(`${site}/old`);
  await page.waitForFunction(() => window.ready);
  await page.evaluate(() => window.view());
  await page.evaluate(() => window.signup());
  await waitFor(async () => {
    const m = await figures(tallyd, "old.example");
    return m.page_views === 1 && m.events.signup === 1;
  }, { what: "the older tracker's page view and event" });
  const old = await figures(tallyd, "old.example", "signup");
  assert.deepEqual(pages(old), { "/old": 1 });
  assert.deepEqual(old.properties.keys[0].values, [{ value: "solo", count: 1, visitors: 1 }]);
  assert.deepEqual(page.errors, []);
});

test("@umami/node sends page views and events that tallyd counts exactly", { skip, timeout: testTimeout }, async (t) => {
  const tallyd = await Tallyd.start(t);
  const imported = await import("@umami/node"); // CommonJS: its exports object is the default
  const umami = imported.default.default;
  umami.init({ websiteId: "blog.example", hostUrl: tallyd.base });
  for (const url of ["/", "/posts/one", "/posts/one", "/about"]) {
    const res = await umami.track({ url, hostname: "blog.example", title: "Blog", referrer: "https://duckduckgo.com/" });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.match(body.sessionId, /^[0-9a-f-]{36}$/);
  }
  await umami.track("newsletter", { list: "weekly" });
  const m = await figures(tallyd, "blog.example", "newsletter");
  assert.equal(m.page_views, 4);
  assert.deepEqual(pages(m), { "/posts/one": 2, "/": 1, "/about": 1 });
  assert.deepEqual(m.events, { newsletter: 1 });
  assert.deepEqual(m.properties.keys[0].values, [{ value: "weekly", count: 1, visitors: 1 }]);
  assert.equal(m.unique_visitors, 1);
});
