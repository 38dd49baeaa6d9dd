// A dashboard's scheduled reports in Debian's Chromium against the real tallyd: the Reports
// dialog adds a weekly CSV report and a daily JSON one (listed with their next run), a
// refused URL is said with its field, "Send now" delivers the JSON one to a local receiver,
// and Delete takes one away. Screenshots of the dialog.

import assert from "node:assert/strict";
import http from "node:http";
import { test } from "node:test";

import {
  freePort,
  launchBrowser,
  missingPrerequisite,
  newPage,
  screenshot,
  stopHttpServer,
  Tallyd,
  testTimeout,
  waitFor,
} from "./support.mjs";

const skip = missingPrerequisite() || false;

// A receiver of report deliveries: each one's content type and body.
async function startReceiver(t) {
  const received = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      received.push({ type: req.headers["content-type"], body });
      res.writeHead(200).end();
    });
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  t.after(() => stopHttpServer(server));
  return { url: `http://127.0.0.1:${port}/reports`, received };
}

async function addReport(page, { name, every, day, time, format, url }) {
  await page.fill("#r-name", name);
  await page.selectOption("#r-every", every);
  if (day) await page.selectOption("#r-day", day);
  if (time) await page.fill("#r-time", time);
  await page.selectOption("#r-format", format);
  await page.fill("#r-url", url);
  await page.click("#r-add");
}

test("the Reports dialog adds, sends now and deletes a dashboard's reports", { skip, timeout: testTimeout }, async (t) => {
  const d = await Tallyd.start(t);
  const receiver = await startReceiver(t);
  const board = await d.post("/api/v1/dashboards", { template: "web-analytics", name: "Traffic" });
  const browser = await launchBrowser(t);
  const page = await newPage(browser, { viewport: { width: 1280, height: 900 } });
  await page.goto(`${d.base}/dashboards/${board.id}`);
  await page.waitForFunction(() => Number(document.body.dataset.drawn || 0) > 0);

  await page.click("#reports");
  await page.waitForSelector("#reports-dialog[open]");
  await page.waitForSelector("#reports-empty", { state: "visible" });

  // A URL tallyd cannot post to is refused, naming the field; nothing is added.
  await addReport(page, { name: "Nope", every: "daily", time: "07:00", format: "json", url: "https://example.com/x" });
  await page.waitForSelector("#report-error", { state: "visible" });
  assert.match(await page.textContent("#report-error"), /^destination\.url must start with http:\/\/ \(https is not supported\)/);

  await addReport(page, { name: "Weekly CSV", every: "weekly", day: "fri", time: "18:30", format: "csv", url: receiver.url });
  await addReport(page, { name: "Daily traffic", every: "daily", time: "07:00", format: "json", url: receiver.url });
  await page.waitForFunction(() => document.querySelectorAll("#report-list li").length === 2);
  assert.equal(await page.isVisible("#report-error"), false);
  const items = await page.$$eval("#report-list li .what", (els) => els.map((e) => e.textContent));
  assert.ok(items.some((text) => /Weekly CSV — weekly@fri 18:30CSV to .* · next 20\d\d-\d\d-\d\d 18:30 UTC · last on schedule not yet/.test(text)), items.join("\n"));
  assert.ok(items.some((text) => /Daily traffic — daily@07:00JSON to .* · next 20\d\d-\d\d-\d\d 07:00 UTC/.test(text)), items.join("\n"));
  await screenshot(page, "reports-dialog");

  // Send now: the dashboard's data for the last whole day, with the report named in it.
  const daily = page.locator("#report-list li", { hasText: "Daily traffic" });
  await daily.getByRole("button", { name: "Send now" }).click();
  await page.waitForFunction(() => /queued: .* to .*, \d+ bytes/.test(document.getElementById("report-note").textContent));
  await waitFor(() => receiver.received.length === 1, { what: "the report's delivery" });
  assert.match(receiver.received[0].type, /^application\/json/);
  const sent = JSON.parse(receiver.received[0].body);
  assert.equal(sent.report.name, "Daily traffic");
  assert.equal(sent.report.trigger, "manual");
  assert.ok(Array.isArray(sent.widgets));

  // Delete: one is left, and the server agrees.
  await daily.getByRole("button", { name: "Delete" }).click();
  await page.waitForFunction(() => document.querySelectorAll("#report-list li").length === 1);
  const { reports } = await d.get("/api/v1/reports");
  assert.deepEqual(reports.map((r) => r.name), ["Weekly CSV"]);
  assert.deepEqual(page.errors, []);
});
