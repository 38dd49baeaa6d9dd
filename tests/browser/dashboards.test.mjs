// The dashboards builder in Debian's Chromium against the real tallyd (--demo): create from
// a template on /dashboards; every widget type drawn (a canvas with pixels, or the number
// or table); drag and resize with the mouse, save, reload, same layout; two tabs editing,
// the second save shows the conflict and keeps its edits; comparison with the previous
// period (dashed series, % change); a live number that changes as events arrive; CSV and
// PNG downloads; the print view as a PDF; 390 px without horizontal scroll. Screenshots:
// desktop light and dark, phone, print.

import assert from "node:assert/strict";
import { writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";

import { artifacts, launchBrowser, missingPrerequisite, newPage, screenshot, Tallyd, testTimeout, waitFor } from "./support.mjs";

const skip = missingPrerequisite() || false;
const TYPES = ["line_chart", "area_chart", "bar_chart", "scatter", "pie_chart", "heatmap", "gauge", "number", "table", "map"];

async function api(d, method, route, body) {
  const res = await fetch(`${d.base}${route}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

// Resolves once every widget of the board has been drawn (board.js stamps data-drawn).
async function drawn(page, after = 0) {
  await page.waitForFunction((t) => Number(document.body.dataset.drawn || 0) > t, after);
}

// What each widget shows: a canvas with non-blank pixels, or its text.
function widgetStates(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll(".widget")].map((w) => {
      const canvas = w.querySelector(".widget-body canvas");
      let inked = false;
      if (canvas && canvas.width && canvas.height) {
        const ctx = canvas.getContext("2d");
        const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
        for (let i = 3; i < pixels.length; i += 4 * 97) if (pixels[i] > 0) { inked = true; break; }
      }
      return {
        id: w.dataset.widget,
        type: w.dataset.type,
        inked,
        text: w.querySelector(".widget-body").textContent.trim(),
        error: w.querySelector(".widget-error")?.textContent || "",
      };
    }),
  );
}

test("a dashboard from a template, every widget drawn, light, dark and print", { skip, timeout: testTimeout }, async (t) => {
  const d = await Tallyd.start(t, { args: ["--demo"] });
  const browser = await launchBrowser(t);
  const page = await newPage(browser, { viewport: { width: 1280, height: 900 } });
  await page.goto(`${d.base}/`);
  await page.click("a[href='/dashboards']");
  await page.waitForURL(/\/dashboards$/);
  await page.fill("#create-name", "API from the test");
  await page.selectOption("#create-template", "api-performance");
  await page.click("#create-form button[type=submit]");
  await page.waitForURL(/\/dashboards\/[a-z0-9]+$/);
  await drawn(page);
  // The demo's points arrive every second: wait for a figure on the number widget.
  await waitFor(async () => (await widgetStates(page)).find((w) => w.type === "number")?.text.match(/\d/), {
    what: "a number drawn",
  });
  // A live board draws its charts again as points arrive, and a chart just made has not
  // painted yet: read the widgets once every chart shows ink (the checks below say which
  // one did not, if none such moment comes).
  let states = [];
  const inked = (w) => ["number", "table"].includes(w.type) || w.inked;
  await waitFor(async () => (states = await widgetStates(page)).every(inked), { what: "every chart inked" }).catch(() => {});
  await screenshot(page, "dashboards-api-light");
  assert.equal(states.length, 10);
  for (const w of states) {
    assert.equal(w.error, "", `${w.id} ${w.type}`);
    if (!["number", "table"].includes(w.type)) assert.ok(w.inked, `${w.id} (${w.type}) drew nothing`);
  }
  await screenshot(page, "dashboards-api-light");
  await page.click("#theme");
  await drawn(page, Number(await page.evaluate(() => document.body.dataset.drawn)));
  await screenshot(page, "dashboards-api-dark");
  await page.click("#theme");
  await page.emulateMedia({ media: "print" });
  await page.waitForTimeout(300); // the charts redraw at the print layout's size
  await screenshot(page, "dashboards-api-print");
  const printed = await widgetStates(page);
  for (const w of printed) if (!["number", "table"].includes(w.type)) assert.ok(w.inked, `${w.id} blank in print`);
  mkdirSync(artifacts, { recursive: true });
  const pdf = await page.pdf({ format: "A4", printBackground: true });
  writeFileSync(path.join(artifacts, "dashboards-api.pdf"), pdf);
  assert.ok(pdf.length > 10_000 && pdf.subarray(0, 5).toString() === "%PDF-");
  await page.emulateMedia({ media: "screen" });
  assert.deepEqual(page.errors, []);
});

// A dashboard made through the API: `widgets` as given.
async function made(d, widgets, extra = {}) {
  const res = await api(d, "POST", "/api/v1/dashboards", { name: "Test board", widgets, ...extra });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

const at = (x, y, width, height) => ({ x, y, width, height });

test("drag and resize with the mouse or the keys, save, reload: the same layout", { skip, timeout: testTimeout }, async (t) => {
  const d = await Tallyd.start(t, { args: ["--demo"] });
  const doc = await made(d, [
    { id: "n", type: "number", title: "Requests", query: { metrics: ["demo.http.requests"], aggregation: "sum" }, position: at(0, 0, 3, 2) },
    { id: "l", type: "line_chart", title: "Rate", query: { metrics: ["demo.http.requests"], aggregation: "rate" }, position: at(4, 0, 8, 4) },
  ]);
  const browser = await launchBrowser(t);
  const page = await newPage(browser, { viewport: { width: 1280, height: 900 } });
  await page.goto(`${d.base}/dashboards/${doc.id}`);
  await drawn(page);
  await page.click("#edit");
  const grid = await page.locator("#grid").boundingBox();
  const cell = grid.width / 12;
  const item = page.locator('.grid-stack-item[gs-id="n"]');
  const box = await item.boundingBox();
  // Drag by the header two columns right and five rows down (rows are 72 px).
  await page.mouse.move(box.x + 40, box.y + 15);
  await page.mouse.down();
  for (let i = 1; i <= 10; i++) await page.mouse.move(box.x + 40 + (i * 2 * cell) / 10, box.y + 15 + (i * 5 * 72) / 10);
  await page.mouse.up();
  // Then widen it by two columns and one row from its bottom-right corner.
  const moved = await item.boundingBox();
  await page.mouse.move(moved.x + moved.width - 4, moved.y + moved.height - 4);
  const handle = item.locator(".ui-resizable-se");
  const h = await handle.boundingBox();
  await page.mouse.move(h.x + h.width / 2, h.y + h.height / 2);
  await page.mouse.down();
  for (let i = 1; i <= 10; i++) await page.mouse.move(h.x + h.width / 2 + (i * 2 * cell) / 10, h.y + h.height / 2 + (i * 72) / 10);
  await page.mouse.up();
  const cellOf = (locator) => locator.evaluate((el) => ["gs-x", "gs-y", "gs-w", "gs-h"].map((a) => Number(el.getAttribute(a))));
  const shown = await cellOf(item);
  // Two columns right, four or five rows down (where the pointer let go), two wider, a row taller.
  assert.equal(shown[0], 2);
  assert.ok(shown[1] >= 4 && shown[1] <= 5, JSON.stringify(shown));
  assert.deepEqual(shown.slice(2), [5, 3]);
  await page.click("#save");
  await page.waitForSelector("#edit:not([hidden])");
  const stored = (await api(d, "GET", `/api/v1/dashboards/${doc.id}`)).body;
  assert.equal(stored.version, 2);
  assert.deepEqual(stored.widgets.find((w) => w.id === "n").position, at(...shown));
  assert.deepEqual(stored.widgets.find((w) => w.id === "l").position, at(4, 0, 8, 4));
  await page.reload();
  await drawn(page);
  assert.deepEqual(await cellOf(page.locator('.grid-stack-item[gs-id="n"]')), shown);

  // The same with the keyboard: the move handle, arrows to move, Shift+arrows to resize.
  await page.click("#edit");
  const keyed = page.locator('.grid-stack-item[gs-id="l"]');
  await keyed.locator(".move-handle").focus();
  for (const key of ["ArrowDown", "ArrowDown", "ArrowLeft", "Shift+ArrowLeft", "Shift+ArrowDown"])
    await page.keyboard.press(key);
  assert.deepEqual(await cellOf(keyed), [3, 2, 7, 5]);
  assert.match(await page.locator("#announce").textContent(), /column 4, row 3, 7 wide, 5 high/);
  await page.click("#save");
  await page.waitForSelector("#edit:not([hidden])");
  const keyedStored = (await api(d, "GET", `/api/v1/dashboards/${doc.id}`)).body;
  assert.deepEqual(keyedStored.widgets.find((w) => w.id === "l").position, at(3, 2, 7, 5));
  assert.deepEqual(page.errors, []);
});

test("one widget of every type added in the builder, each drawn", { skip, timeout: testTimeout }, async (t) => {
  const d = await Tallyd.start(t, { args: ["--demo"] });
  const doc = await made(d, []);
  const browser = await launchBrowser(t);
  const page = await newPage(browser, { viewport: { width: 1280, height: 900 } });
  await page.goto(`${d.base}/dashboards/${doc.id}`);
  await page.waitForSelector("#board-empty:not([hidden])");
  await page.click("#edit");
  const analytics = { pie_chart: "devices", table: "pages", map: "countries" };
  for (const type of TYPES) {
    await page.click("#add-widget");
    await page.selectOption("#w-type", type);
    await page.fill("#w-title", `A ${type}`);
    if (analytics[type]) {
      await page.selectOption("#w-source", "analytics");
      await page.fill("#w-site", "default");
      await page.selectOption("#w-breakdown", analytics[type]);
    } else {
      await page.selectOption("#w-source", "metric");
      await page.fill("#w-metric", type === "heatmap" || type === "gauge" ? "demo.http.latency_ms" : "demo.http.requests");
      await page.selectOption("#w-aggregation", type === "heatmap" || type === "gauge" ? "p95" : "sum");
      if (type === "heatmap") await page.fill("#w-group", "endpoint");
      if (type === "gauge") await page.fill("#w-thresholds", "0:#2e9d5b, 100:#e0a526, 400:#d64545");
    }
    await page.click("#w-ok");
  }
  await page.click("#save");
  await page.waitForSelector("#edit:not([hidden])");
  await drawn(page);
  await waitFor(async () => {
    const states = await widgetStates(page);
    return states.length === TYPES.length && states.every((w) => !w.error && (w.inked || /\d/.test(w.text)));
  }, { what: "every widget drawn", timeout: 20_000 });
  const stored = (await api(d, "GET", `/api/v1/dashboards/${doc.id}`)).body;
  assert.deepEqual(stored.widgets.map((w) => w.type), TYPES);
  await screenshot(page, "dashboards-every-type");
  assert.deepEqual(page.errors, []);
  assert.deepEqual(page.consoleErrors, []);
});

test("two tabs editing: the second save shows the conflict and keeps its edits", { skip, timeout: testTimeout }, async (t) => {
  const d = await Tallyd.start(t);
  const doc = await made(d, [{ id: "a", type: "number", title: "First", query: { metrics: ["x.y"] }, position: at(0, 0, 4, 2) }]);
  const browser = await launchBrowser(t);
  const [one, two] = [await newPage(browser), await newPage(browser)];
  for (const page of [one, two]) {
    await page.goto(`${d.base}/dashboards/${doc.id}`);
    await drawn(page);
    await page.click("#edit");
  }
  const retitle = async (page, title) => {
    await page.click('.widget[data-widget="a"] button[title="Configure"]');
    await page.fill("#w-title", title);
    await page.click("#w-ok");
  };
  await retitle(one, "Saved first");
  await one.click("#save");
  await one.waitForSelector("#edit:not([hidden])");
  await retitle(two, "Saved second");
  await two.click("#save");
  await two.waitForSelector("#conflict:not([hidden])");
  assert.match(await two.textContent("#conflict"), /changed elsewhere \(now version 2/);
  assert.equal(await two.textContent('.widget[data-widget="a"] h3'), "Saved second");
  await screenshot(two, "dashboards-conflict");
  assert.equal((await api(d, "GET", `/api/v1/dashboards/${doc.id}`)).body.widgets[0].title, "Saved first");
  await two.click("#conflict button:first-of-type");  // save mine over it
  await two.waitForSelector("#edit:not([hidden])");
  const stored = (await api(d, "GET", `/api/v1/dashboards/${doc.id}`)).body;
  assert.equal(stored.widgets[0].title, "Saved second");
  assert.equal(stored.version, 3);
});

test("comparison, live numbers without polling, downloads, phone width", { skip, timeout: testTimeout }, async (t) => {
  const d = await Tallyd.start(t, { args: ["--demo"] });
  const doc = await made(d, [
    { id: "views", type: "number", title: "Views", query: { source: "analytics", site: "default", metric: "pageviews" }, position: at(0, 0, 4, 2) },
    { id: "rate", type: "line_chart", title: "Rate", query: { metrics: ["demo.http.requests"], aggregation: "sum", window: "10s" }, position: at(4, 0, 8, 4) },
  ]);
  const browser = await launchBrowser(t);
  const page = await newPage(browser, { viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  await page.goto(`${d.base}/dashboards/${doc.id}`);
  await page.selectOption("#range", "now-15m");
  await drawn(page);

  // Comparison: the line chart gains dashed series, the number a change line.
  await page.check("#compare");
  await page.waitForFunction(() => Number(document.querySelector('.widget[data-widget="rate"]').dataset.previousSeries) > 0);
  await page.waitForSelector('.widget[data-widget="views"] .change');
  await page.uncheck("#compare");
  await page.waitForFunction(() => document.querySelector('.widget[data-widget="rate"]').dataset.previousSeries === "0");

  // Live, without polling: a board of a quiet site asks for /data once, then only when its
  // socket says something changed.
  const quiet = await made(d, [
    { id: "views", type: "number", title: "Views", query: { source: "analytics", site: "live.test", metric: "pageviews" }, position: at(0, 0, 4, 2) },
  ]);
  const watcher = await newPage(browser);
  let dataRequests = 0;
  watcher.on("request", (r) => r.url().includes("/data?") && dataRequests++);
  await watcher.goto(`${d.base}/dashboards/${quiet.id}`);
  await drawn(watcher);
  const views = () => watcher.textContent('.widget[data-widget="views"] .big-number');
  assert.equal(await views(), "0");
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal(dataRequests, 1, "no /data request while nothing happens");
  for (let i = 0; i < 3; i++) await d.post("/track/pageview", { site: "live.test", page_url: `https://live.test/p${i}`, session_id: `s${i}` });
  await waitFor(async () => (await views()) === "3", { what: "the live number to reach 3" });
  assert.ok(dataRequests >= 2);

  // Downloads: a widget's CSV (the server's), its chart's PNG.
  const [csv] = await Promise.all([page.waitForEvent("download"), page.click('.widget[data-widget="rate"] button[title="Download CSV"]')]);
  assert.equal(csv.suggestedFilename(), "Rate.csv");
  const csvText = await (await csv.createReadStream()).toArray().then((c) => Buffer.concat(c).toString());
  assert.match(csvText, /^# Rate \(line_chart\)\r\nperiod,series,timestamp,value\r\n/);
  const [png] = await Promise.all([page.waitForEvent("download"), page.click('.widget[data-widget="rate"] button[title="Download PNG"]')]);
  assert.equal(png.suggestedFilename(), "Rate.png");
  const pngBytes = await (await png.createReadStream()).toArray().then((c) => Buffer.concat(c));
  assert.equal(pngBytes.subarray(1, 4).toString(), "PNG");
  assert.ok(pngBytes.length > 2000);

  // Phone width: the widgets stack, nothing scrolls sideways.
  const phone = await newPage(browser, { viewport: { width: 390, height: 844 } });
  await phone.goto(`${d.base}/dashboards/${doc.id}`);
  await drawn(phone);
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${overflow} px of horizontal scroll`);
  await screenshot(phone, "dashboards-phone");
  assert.deepEqual(page.errors, []);
  assert.deepEqual(watcher.errors, []);
  assert.deepEqual(phone.errors, []);
});
