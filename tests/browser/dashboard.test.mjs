// The dashboard at / in Debian's Chromium against the real tallyd: live figures without a
// reload, reconnecting after a restart, the token prompt, screenshots.

import assert from "node:assert/strict";
import { test } from "node:test";

import { existsSync } from "node:fs";

import {
  launchBrowser,
  missingPrerequisite,
  newPage,
  redisServerPath,
  screenshot,
  startRedisProcess,
  Tallyd,
  testTimeout,
  waitFor,
} from "./support.mjs";

// node:test skips on any string, even an empty one.
const skip = missingPrerequisite() || false;

// The figures the page shows, read from the DOM.
function shown(page) {
  return page.evaluate(() => {
    const value = (id) => document.getElementById(id).dataset.value;
    const rows = (id) =>
      [...document.querySelectorAll(`#${id} li:not(.empty)`)].map((li) => [
        li.querySelector(".name").textContent,
        li.querySelector(".count").textContent,
      ]);
    return {
      page_views: Number(value("page-views")),
      unique_visitors: Number(value("unique-visitors")),
      unique_sessions: Number(value("unique-sessions")),
      top_pages: rows("top-pages"),
      countries: rows("countries"),
      events: rows("events"),
      feed: document.querySelectorAll("#feed li:not(.empty)").length,
      chart_sum: Number(document.getElementById("chart").dataset.sum),
      chart_exact: document.getElementById("chart").dataset.exact === "true",
      chart_points: Number(document.getElementById("chart").dataset.points),
      status: document.getElementById("status").dataset.state,
    };
  });
}

const state = (page, s) => page.waitForSelector(`#status[data-state="${s}"]`, { timeout: 30_000 });

// The page equals what /dashboard says (the counts as the page formats them).
async function assertMatchesServer(page, tallyd) {
  const server = await tallyd.dashboard();
  await waitFor(async () => (await shown(page)).page_views === server.page_views, {
    what: `page views ${server.page_views} on the page`,
  });
  const s = await shown(page);
  assert.equal(s.unique_visitors, server.unique_visitors);
  assert.equal(s.unique_sessions, server.unique_sessions);
  assert.deepEqual(
    s.top_pages,
    server.top_pages.map(([p, n]) => [p, n.toLocaleString("en-US")]),
  );
  assert.deepEqual(
    s.countries,
    server.countries.map(([c, n]) => [c, n.toLocaleString("en-US")]),
  );
}

const PAGES = ["/", "/pricing", "/blog/live-analytics", "/docs/install", "/about", "/blog", "/signup"];
const COUNTRIES = ["DE", "US", "FR", "GB", "JP", "BR", "IN"];
const DEVICES = ["desktop", "mobile", "tablet", "desktop", "mobile"];

// n varied page views, spread over the last hours of today (so the chart has a shape).
function traffic(n, offset = 0) {
  const now = Date.now();
  const span = Math.min(6 * 3_600_000, now - Date.parse(new Date(now).toISOString().slice(0, 10)));
  return Array.from({ length: n }, (_, i) => {
    const k = i + offset;
    const f = ((k * 7919) % n) / n; // a fixed shuffle of 0..1, denser towards now
    const at = now - Math.floor(span * f * f);
    return {
      timestamp: new Date(at).toISOString().replace(/\.\d{3}Z$/, "Z"),
      type: "pageview",
      page_url: `https://example.com${PAGES[Math.floor(Math.sqrt(k * 3)) % PAGES.length]}?utm=${k}`,
      session_id: `s${k % 17}`,
      user_id: `u${k % 13}`,
      referrer: ["https://google.com/", "", "https://news.ycombinator.com/item", "https://duckduckgo.com/"][k % 4],
      country: COUNTRIES[(k * 3) % COUNTRIES.length],
      device_type: DEVICES[k % DEVICES.length],
    };
  });
}

test("live figures, chart and feed change without a reload", { skip, timeout: testTimeout }, async (t) => {
  const tallyd = await Tallyd.start(t);
  const browser = await launchBrowser(t);
  const page = await newPage(browser, { viewport: { width: 1280, height: 900 }, colorScheme: "light" });

  await page.goto(`${tallyd.base}/`);
  await state(page, "live");
  await waitFor(async () => (await shown(page)).page_views === 0, { what: "0 page views shown" });
  assert.equal((await shown(page)).chart_points, 1440);
  await page.evaluate(() => (window.notReloaded = true));

  await tallyd.post("/track/pageview", {
    page_url: "https://example.com/pricing?plan=pro",
    session_id: "a",
    user_id: "alice",
    country: "de",
    referrer: "https://Google.com/search",
  });
  await tallyd.post("/track/pageview", { page_url: "/", session_id: "b", country: "US" });
  await tallyd.post("/track/event", { event_name: "signup", session_id: "a", user_id: "alice" });

  await waitFor(async () => {
    const s = await shown(page);
    return s.page_views === 2 && s.feed === 3 && s.chart_sum === 2 && s.events.length === 1;
  }, { what: "2 page views, 3 feed items, chart sum 2, 1 event" });
  const s = await shown(page);
  assert.deepEqual(s.events, [["signup", "1"]]);
  assert.equal(await page.evaluate(() => window.notReloaded), true);
  await assertMatchesServer(page, tallyd);

  // A burst: the figures follow, and the chart stays exact (its periodic re-read agrees).
  await tallyd.post("/track/batch", traffic(300));
  await assertMatchesServer(page, tallyd);
  // The burst's 300 page views outnumber a delta's `recent` (50), so the chart first
  // puts the rest in the current minute, then re-reads the series within about a second.
  await waitFor(async () => {
    const s = await shown(page);
    return s.chart_sum === 302 && s.chart_exact;
  }, { what: "chart sum 302, re-read from /timeseries" });
  assert.equal((await shown(page)).feed, 50, "the feed keeps the newest 50");
  assert.deepEqual(page.errors, []);

  await screenshot(page, "dashboard-desktop-light");
  await page.emulateMedia({ colorScheme: "dark" });
  await waitFor(() => page.evaluate(() => document.documentElement.dataset.theme === "dark"), {
    what: "dark theme from prefers-color-scheme",
  });
  await screenshot(page, "dashboard-desktop-dark");

  // The toggle wins over the system setting, and is remembered.
  await page.click("#theme");
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "light");
  await page.reload();
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "light");
  await page.evaluate(() => localStorage.removeItem("tally_theme"));

  const phone = await newPage(browser, { viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
  await phone.goto(`${tallyd.base}/`);
  await state(phone, "live");
  await assertMatchesServer(phone, tallyd);
  // Nothing wider than the screen.
  assert.ok(await phone.evaluate(() => document.documentElement.scrollWidth <= 375), "no horizontal scroll at 375 px");
  await screenshot(phone, "dashboard-phone");
  assert.deepEqual(phone.errors, []);
});

test("picking an event shows its property breakdown, kept live over /ws", { skip, timeout: testTimeout }, async (t) => {
  const tallyd = await Tallyd.start(t);
  const signup = (plan, user) =>
    tallyd.post("/track/event", { event_name: "signup", session_id: user, user_id: user, properties: { plan, seats: 1 } });
  await signup("pro", "ann");
  await signup("free", "bob");
  await tallyd.post("/track/event", { event_name: "logout", session_id: "ann" });
  const browser = await launchBrowser(t);
  const page = await newPage(browser, { viewport: { width: 1280, height: 1100 }, colorScheme: "light" });
  await page.goto(`${tallyd.base}/`);
  await state(page, "live");
  await page.click('#events button.pick:text-is("signup")');
  await page.waitForSelector("#props-card:not([hidden]) .prop");
  assert.match(page.url(), /props=signup/);
  const values = () =>
    page.evaluate(() =>
      Object.fromEntries(
        [...document.querySelectorAll("#props .prop")].map((block) => [
          block.querySelector("h3").firstChild.textContent,
          [...block.querySelectorAll("li:not(.empty)")].map((li) => [
            li.querySelector(".name").textContent,
            li.querySelector(".count").textContent,
          ]),
        ]),
      ),
    );
  assert.deepEqual(await values(), { plan: [["free", "1"], ["pro", "1"]], seats: [["1", "2"]] });
  await state(page, "live");
  await signup("pro", "cat");
  await waitFor(async () => (await values()).plan?.[0]?.[1] === "2", { what: "pro counted 2 from a delta" });
  const server = await tallyd.get("/dashboard/today?props=signup");
  assert.deepEqual(
    (await values()).plan,
    server.properties.keys.find((k) => k.key === "plan").values.map((v) => [v.value, String(v.count)]),
  );
  await screenshot(page, "dashboard-properties");
  // Picked again: closed, and out of the address.
  await page.click('#events button.pick:text-is("signup")');
  await page.waitForSelector("#props-card", { state: "hidden" });
  assert.doesNotMatch(page.url(), /props=/);
  assert.deepEqual(page.errors, []);
});

test("the indicator reconnects after tallyd restarts, and the figures are right again", { skip, timeout: testTimeout }, async (t) => {
  const tallyd = await Tallyd.start(t);
  const browser = await launchBrowser(t);
  const page = await newPage(browser);
  await tallyd.post("/track/batch", traffic(20));
  await page.goto(`${tallyd.base}/`);
  await state(page, "live");
  await assertMatchesServer(page, tallyd);

  await tallyd.stop("SIGKILL");
  await state(page, "reconnecting");
  await tallyd.run(); // same port, same data directory: the log is replayed
  await state(page, "live");
  await assertMatchesServer(page, tallyd);

  // And it is live again: a new event arrives through the new socket.
  await tallyd.post("/track/pageview", { page_url: "/after-restart", session_id: "z", country: "NZ" });
  await assertMatchesServer(page, tallyd);
  assert.equal((await shown(page)).page_views, 21);
  assert.deepEqual(page.errors, []);
});

test("a week falls back to polling until /ws streams weeks, and shows per-day bars", { skip, timeout: testTimeout }, async (t) => {
  const tallyd = await Tallyd.start(t);
  const browser = await launchBrowser(t);
  const page = await newPage(browser);
  await tallyd.post("/track/batch", traffic(10));
  await page.goto(`${tallyd.base}/`);
  await state(page, "live");
  await page.selectOption("#kind", "week");
  // Either the server streams weeks (live) or the page polls /dashboard (polling).
  await page.waitForSelector('#status[data-state="live"], #status[data-state="polling"]', { timeout: 30_000 });
  assert.match(new URL(page.url()).searchParams.get("range"), /^\d{4}-W\d{2}$/);
  await waitFor(async () => (await shown(page)).chart_sum === 10, { what: "week chart sum 10" });
  assert.equal((await shown(page)).chart_points, 7);
  await tallyd.post("/track/pageview", { page_url: "/week", session_id: "w" });
  await waitFor(async () => (await shown(page)).page_views === 11, { timeout: 15_000, what: "11 page views" });
  await waitFor(async () => (await shown(page)).chart_sum === 11, { timeout: 15_000, what: "week chart sum 11" });
  await screenshot(page, "dashboard-week");
  const csv = await page.getAttribute("#csv", "href");
  assert.match(csv, /^\/dashboard\/\d{4}-W\d{2}\?format=csv&site=default$/);
  assert.deepEqual(page.errors, []);
});

test("a token prompt when the server has one; the token is remembered", { skip, timeout: testTimeout }, async (t) => {
  const tallyd = await Tallyd.start(t, { args: ["--token", "s3cret"] });
  const browser = await launchBrowser(t);
  const page = await newPage(browser);
  await tallyd.post("/track/pageview", { page_url: "/private", session_id: "p" });

  await page.goto(`${tallyd.base}/`);
  await state(page, "auth");
  assert.equal(await page.isVisible("#token-dialog"), true);
  assert.equal(await page.isVisible("#token-refused"), false);
  await screenshot(page, "dashboard-token-prompt");
  await page.fill("#token", "wrong");
  await page.click("#token-dialog button[type=submit]");
  await page.waitForSelector("#token-refused", { state: "visible" });
  await state(page, "auth");
  await page.fill("#token", "s3cret");
  await page.click("#token-dialog button[type=submit]");
  await state(page, "live");
  assert.equal(await page.isVisible("#token-dialog"), false);
  await assertMatchesServerWithToken(page, tallyd);

  // Live through /ws?token=, and remembered across a reload.
  await tallyd.post("/track/pageview", { page_url: "/private/2", session_id: "q" });
  await waitFor(async () => (await shown(page)).page_views === 2, { what: "2 page views" });
  await page.reload();
  await state(page, "live");
  assert.match(await page.getAttribute("#csv", "href"), /token=s3cret/);
  assert.deepEqual(page.errors, []);
});

async function assertMatchesServerWithToken(page, tallyd) {
  const server = await tallyd.dashboard("today", { token: "s3cret" });
  await waitFor(async () => (await shown(page)).page_views === server.page_views, { what: "page views" });
}

test("the site and day pickers: another site, yesterday, kept in the address", { skip, timeout: testTimeout }, async (t) => {
  const tallyd = await Tallyd.start(t);
  const browser = await launchBrowser(t);
  const page = await newPage(browser);
  const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  await tallyd.post("/track/batch", [
    { type: "pageview", site: "shop", page_url: "/cart", session_id: "c1" },
    { type: "pageview", site: "shop", page_url: "/cart", session_id: "c2" },
    { type: "pageview", site: "shop", page_url: "/old", session_id: "c3", timestamp: `${yesterday}T12:00:00Z` },
    { type: "pageview", page_url: "/", session_id: "d1" },
  ]);

  await page.goto(`${tallyd.base}/`);
  await state(page, "live");
  await waitFor(async () => (await shown(page)).page_views === 1, { what: "1 page view on default" });

  await page.fill("#site", "shop");
  await page.press("#site", "Enter"); // change fires on Enter
  await state(page, "live");
  await waitFor(async () => (await shown(page)).page_views === 2, { what: "2 page views on shop" });
  assert.deepEqual((await shown(page)).top_pages, [["/cart", "2"]]);
  assert.equal(new URL(page.url()).searchParams.get("site"), "shop");

  // Yesterday: its own figures and chart, still live; no real-time users.
  await page.fill("#when", yesterday);
  await page.dispatchEvent("#when", "change");
  await state(page, "live");
  await waitFor(async () => {
    const s = await shown(page);
    return s.page_views === 1 && s.chart_sum === 1 && s.chart_exact;
  }, { what: "yesterday: 1 page view, chart sum 1" });
  assert.deepEqual((await shown(page)).top_pages, [["/old", "1"]]);
  assert.equal(await page.textContent("#real-time-users"), "–");
  await tallyd.post("/track/pageview", { site: "shop", page_url: "/old", session_id: "c4", timestamp: `${yesterday}T13:00:00Z` });
  await waitFor(async () => (await shown(page)).page_views === 2, { what: "a late page view for yesterday, live" });

  // A reload keeps the choice, and both sites are offered.
  await page.reload();
  await state(page, "live");
  assert.equal(await page.inputValue("#site"), "shop");
  assert.equal(await page.inputValue("#when"), yesterday);
  assert.deepEqual(await page.$$eval("#sites option", (os) => os.map((o) => o.value)), ["shop", "default"]);
  await waitFor(async () => (await shown(page)).page_views === 2, { what: "2 page views after reload" });
  assert.deepEqual(page.errors, []);
});

test("with query_source redis the page shows the fleet's figures from Redis, polling", {
  skip: skip || (existsSync(redisServerPath) ? false : `${redisServerPath} not found`),
  timeout: testTimeout,
}, async (t) => {
  const redisServer = await startRedisProcess(t);
  const redis = redisServer.url;
  // One instance takes the events and mirrors them; the other has none of its own and
  // answers /dashboard from Redis.
  const ingest = await Tallyd.start(t, { args: ["--redis", redis, "--instance-id", "ingest"] });
  const reader = await Tallyd.start(t, {
    args: ["--redis", redis, "--instance-id", "reader", "--query-source", "redis"],
  });
  await ingest.post("/track/batch", traffic(30));
  await waitFor(async () => (await reader.dashboard()).page_views === 30, {
    what: "the fleet's 30 page views in Redis",
  });
  const browser = await launchBrowser(t);
  const page = await newPage(browser);
  await page.goto(`${reader.base}/`);
  await state(page, "polling");
  assert.match(await page.getAttribute("#status", "title"), /fleet, from Redis/);
  await waitFor(async () => (await shown(page)).page_views === 30, { what: "30 page views on the page" });
  // The chart too: /timeseries/pageviews comes from Redis's minute counters.
  await waitFor(async () => (await shown(page)).chart_sum === 30, { what: "the fleet's chart, sum 30" });
  // Still the fleet's a while later (the page does not switch to the reader's own /ws).
  await ingest.post("/track/pageview", { page_url: "/fleet", session_id: "f", user_id: "f" });
  await waitFor(async () => (await shown(page)).page_views === 31, {
    timeout: 20_000,
    what: "31 page views after the next poll",
  });
  await assertMatchesServer(page, reader);
  await waitFor(async () => (await shown(page)).chart_sum === 31, {
    timeout: 30_000,
    what: "the fleet's chart, sum 31",
  });
  await screenshot(page, "dashboard-fleet");

  // Redis goes away: the page keeps the fleet's last good figures and says how old they are.
  await redisServer.stop();
  await state(page, "stale");
  assert.match(await page.textContent("#status .label"), /^stale: \d+ s old$/);
  assert.match(await page.getAttribute("#status", "title"), /last good figures/);
  assert.equal((await shown(page)).page_views, 31);
  await screenshot(page, "dashboard-fleet-stale");
  assert.deepEqual(page.errors, []);
});
