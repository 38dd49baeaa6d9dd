// The dashboard's Metrics tab in Debian's Chromium against the real tallyd: the names
// --demo sends with their current figures, the live chart of one metric, choosing another,
// the empty state, and the token given in the address. Screenshots at 1280×800.

import assert from "node:assert/strict";
import { test } from "node:test";

import { launchBrowser, missingPrerequisite, newPage, screenshot, Tallyd, testTimeout, waitFor } from "./support.mjs";

// node:test skips on any string, even an empty one.
const skip = missingPrerequisite() || false;

const DEMO = ["demo.http.latency_ms", "demo.http.requests", "demo.process.memory_mb", "demo.users.active"];

// The table and the chart as the page shows them, read from the DOM.
function shown(page) {
  return page.evaluate(() => {
    const rows = [...document.querySelectorAll("#metrics-list tr")].map((tr) => {
      const cells = [...tr.querySelectorAll("td")];
      const number = (td) => (td.dataset.value === undefined ? null : Number(td.dataset.value));
      return {
        name: tr.dataset.name,
        type: cells[1].textContent,
        series: Number(cells[2].textContent.replace(/,/g, "")),
        window: cells[3].textContent,
        value: number(cells[4]),
        p50: number(cells[5]),
        p95: number(cells[6]),
        p99: number(cells[7]),
        text: cells.slice(4).map((td) => td.textContent),
        chosen: tr.classList.contains("chosen"),
      };
    });
    const chart = document.getElementById("metric-chart");
    return {
      rows,
      chart: {
        metric: chart.dataset.metric,
        points: Number(chart.dataset.points),
        drawn: Number(chart.dataset.drawn),
        canvas: !!chart.querySelector("canvas"),
      },
      empty: !document.getElementById("metrics-empty").hidden,
      title: document.getElementById("metric-chart-title").textContent,
      latest: document.getElementById("metric-latest").textContent,
    };
  });
}

test("the Metrics tab lists --demo's metrics with their figures and charts p99 live", { skip, timeout: testTimeout }, async (t) => {
  const tallyd = await Tallyd.start(t, { args: ["--demo"] });
  const browser = await launchBrowser(t);
  const page = await newPage(browser, { viewport: { width: 1280, height: 800 }, colorScheme: "light" });

  await page.goto(`${tallyd.base}/`);
  await page.click("#tab-metrics");
  assert.equal(new URL(page.url()).searchParams.get("view"), "metrics");
  assert.equal(await page.isVisible(".controls"), false);

  // Every demo metric, with the type and series count the API gives.
  await waitFor(async () => {
    const { rows } = await shown(page);
    return DEMO.every((name) => rows.some((r) => r.name === name));
  }, {
    what: "the four demo metrics listed",
  });
  const { metrics } = await (await fetch(`${tallyd.base}/api/v1/metrics`)).json();
  const s = await shown(page);
  for (const name of DEMO) {
    const row = s.rows.find((r) => r.name === name);
    const api = metrics.find((m) => m.name === name);
    assert.equal(row.type, api.type, name);
    assert.ok(row.series >= 1 && row.series <= api.series, `${name}: ${row.series} series`);
    assert.equal(row.window, "1m");
    assert.ok(row.value > 0, `${name} has a current value (${row.text})`);
  }
  assert.deepEqual(s.rows.slice(0, 4).map((r) => r.name), DEMO, "the sent metrics first, Tally's own after");
  assert.equal(s.empty, false);

  // The latency distribution: p50 <= p95 <= p99, shown as numbers in milliseconds.
  const latency = s.rows.find((r) => r.name === "demo.http.latency_ms");
  assert.ok(latency.p50 > 0 && latency.p50 <= latency.p95 && latency.p95 <= latency.p99, JSON.stringify(latency));
  assert.match(latency.text[3], /^[\d,.]+ ms$/);
  const requests = s.rows.find((r) => r.name === "demo.http.requests");
  assert.deepEqual(requests.text.slice(1), ["", "", ""], "no percentiles for a counter");

  // The chart: demo latency p99 by default, 90 windows of 10 s, the backfilled ones drawn.
  await waitFor(async () => (await shown(page)).chart.drawn >= 60, { what: "the p99 chart drawn" });
  const c = (await shown(page)).chart;
  assert.equal(c.metric, "demo.http.latency_ms p99");
  assert.equal(c.points, 90);
  assert.ok(c.canvas);
  assert.equal(latency.chosen, true);
  assert.match((await shown(page)).latest, /^[\d,.]+$/);
  assert.equal(await page.inputValue("#metric-agg"), "p99");

  // Live: the newest window moves on without a reload.
  await page.evaluate(() => (window.notReloaded = true));
  const before = await page.evaluate(() => document.getElementById("metrics-updated").textContent);
  await waitFor(async () => (await page.evaluate(() => document.getElementById("metrics-updated").textContent)) !== before, {
    timeout: 12_000,
    what: "the list read again",
  });
  assert.equal(await page.evaluate(() => window.notReloaded), true);
  assert.deepEqual(page.errors, []);
  await screenshot(page, "metrics-desktop-light");

  // Another metric and aggregation, kept in the address.
  await page.click('#metrics-list tr[data-name="demo.process.memory_mb"] .metric-name');
  await waitFor(async () => (await shown(page)).chart.metric === "demo.process.memory_mb avg", {
    what: "the memory gauge charted",
  });
  await page.selectOption("#metric-agg", "max");
  await waitFor(async () => (await shown(page)).chart.metric === "demo.process.memory_mb max", { what: "max" });
  await waitFor(async () => (await shown(page)).chart.drawn >= 60, { what: "the memory chart drawn" });
  await page.reload();
  await waitFor(async () => (await shown(page)).chart.metric === "demo.process.memory_mb max", {
    what: "the choice kept across a reload",
  });
  assert.equal(await page.isVisible("#metrics-view"), true);

  await page.emulateMedia({ colorScheme: "dark" });
  await waitFor(() => page.evaluate(() => document.documentElement.dataset.theme === "dark"), { what: "dark theme" });
  await waitFor(async () => (await shown(page)).chart.drawn >= 60, { what: "the chart redrawn" });
  await screenshot(page, "metrics-desktop-dark");

  // A phone: nothing wider than the screen but the table, which scrolls in its card.
  const phone = await newPage(browser, { viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
  await phone.goto(`${tallyd.base}/?view=metrics`);
  await waitFor(async () => (await shown(phone)).chart.drawn >= 60, { what: "the phone's chart drawn" });
  assert.ok(await phone.evaluate(() => document.documentElement.scrollWidth <= 375), "no horizontal scroll at 375 px");
  await screenshot(phone, "metrics-phone");
  assert.deepEqual(page.errors, []);
  assert.deepEqual(phone.errors, []);
});

test("without metrics the tab says how to send one; ?token= is taken from the address", { skip, timeout: testTimeout }, async (t) => {
  const tallyd = await Tallyd.start(t, { args: ["--token", "s3cret"] });
  const browser = await launchBrowser(t);
  const page = await newPage(browser, { viewport: { width: 1280, height: 800 }, colorScheme: "light" });

  await page.goto(`${tallyd.base}/?view=metrics&token=s3cret`);
  await page.waitForSelector("#metrics-empty", { state: "visible" });
  assert.equal(await page.isVisible("#token-dialog"), false);
  assert.equal(new URL(page.url()).searchParams.get("token"), null, "the token is taken out of the address");
  const curl = await page.textContent("#metrics-curl");
  assert.match(curl, new RegExp(`curl -X POST ${tallyd.base}/api/v1/metrics`));
  assert.match(curl, /Authorization: Bearer \$TALLY_TOKEN/);
  await page.waitForSelector('#status[data-state="live"]');
  await screenshot(page, "metrics-empty");

  // The curl example's body works, and the point shows up on the next read.
  const body = JSON.parse(curl.match(/-d '(.*)'$/m)[1]);
  const res = await fetch(`${tallyd.base}/api/v1/metrics`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: "Bearer s3cret" },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, await res.text());
  await page.waitForSelector("#metrics-empty", { state: "hidden", timeout: 12_000 });
  await waitFor(async () => (await shown(page)).chart.metric === "shop.checkout.time p99", {
    what: "the sent metric charted",
  });
  const row = (await shown(page)).rows.find((r) => r.name === "shop.checkout.time");
  assert.equal(row.p99, (await (await fetch(`${tallyd.base}/api/v1/metrics/shop.checkout.time/current`, {
    headers: { Authorization: "Bearer s3cret" },
  })).json()).percentiles.p99);
  assert.equal(await page.textContent("#metric-latest"), "182");
  assert.deepEqual(page.errors, []);

  // A token refused later (another server, a rotated token) asks for it again.
  await page.evaluate(() => localStorage.setItem("tally_token", "wrong"));
  await page.reload();
  await page.waitForSelector("#token-dialog", { state: "visible" });
});
