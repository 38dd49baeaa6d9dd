// The alerts page in Debian's Chromium against the real tallyd (rules evaluated every
// second): a rule made with the form, its row turning "firing" without a reload when a
// point crosses the threshold, the webhook's generatorURL opening that rule's page with its
// history, the server's refusal shown with the field it names, a viewer without the form
// or Delete, and an editor deleting the rule. Screenshots of each.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
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

const CONFIG = {
  alerts: { eval_interval: "1s" },
  workspaces: [
    {
      name: "ops",
      sites: ["ops.example"],
      tokens: [
        { id: "ops-edit", role: "editor", token: "secret-ops-edit" },
        { id: "ops-view", role: "viewer", token: "secret-ops-view" },
      ],
    },
  ],
};

async function startTallyd(t) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "tally-alerts-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "tallyd.json");
  writeFileSync(file, JSON.stringify(CONFIG));
  return Tallyd.start(t, { args: ["--config", file] });
}

// A webhook receiver: the bodies it was sent, parsed.
async function startReceiver(t) {
  const bodies = [];
  const server = http.createServer((req, res) => {
    let text = "";
    req.on("data", (chunk) => (text += chunk));
    req.on("end", () => {
      bodies.push(JSON.parse(text));
      res.writeHead(200).end();
    });
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  t.after(() => stopHttpServer(server));
  return { url: `http://127.0.0.1:${port}/hook`, bodies };
}

async function postPoint(d, value) {
  const res = await fetch(`${d.base}/api/v1/metrics`, {
    method: "POST",
    headers: { Authorization: "Bearer secret-ops-edit" },
    body: JSON.stringify({ metrics: [{ name: "checkout.latency", type: "gauge", value }] }),
  });
  assert.equal(res.status, 200);
}

test("a rule made in the form fires live, its page shows the history, a viewer only reads", { skip, timeout: testTimeout }, async (t) => {
  const d = await startTallyd(t);
  const receiver = await startReceiver(t);
  const browser = await launchBrowser(t);
  const page = await newPage(browser, { viewport: { width: 1280, height: 800 } });
  await page.goto(`${d.base}/alerts?token=secret-ops-edit`);
  await page.waitForSelector("#create-panel", { state: "visible" });
  await page.waitForSelector("#list-empty", { state: "visible" });

  // A refusal of the server is shown with the field it names, and nothing is made.
  await page.fill("#a-name", "Bad figure");
  await page.fill("#a-metric", "analytics:bogus:ops.example");
  await page.click("#create-form button[type=submit]");
  await page.waitForSelector("#create-error", { state: "visible" });
  assert.match(await page.textContent("#create-error"), /^metric: an analytics figure is/);
  await screenshot(page, "alerts-refused");

  // The rule: the highest checkout.latency over 1m above 250, sent to the receiver.
  await page.fill("#a-name", "Checkout slow");
  await page.fill("#a-metric", "checkout.latency");
  await page.selectOption("#a-aggregation", "max");
  await page.fill("#a-threshold", "250");
  await page.selectOption("#a-action-type", "webhook");
  await page.fill("#a-action-target", receiver.url);
  await page.click("#create-form button[type=submit]");
  await page.waitForSelector("#alert-rows tr[data-state=inactive]");
  assert.equal(await page.isVisible("#create-error"), false);
  assert.match(await page.textContent("#alert-rows"), /max of checkout\.latency over 1m > 250/);

  // Over the threshold: the row turns firing without a reload, and the webhook is sent.
  await postPoint(d, 100);
  await postPoint(d, 420);
  await page.waitForSelector("#alert-rows tr[data-state=firing]", { timeout: 20_000 });
  assert.match(await page.textContent("#alert-rows tr[data-state=firing]"), /420/);
  await screenshot(page, "alerts-list-firing");
  await waitFor(() => receiver.bodies.length > 0, { what: "the firing webhook" });
  const alert = receiver.bodies[0].alerts[0];
  assert.equal(alert.status, "firing");
  assert.match(alert.generatorURL, /\/alerts\/[a-z0-9_-]+$/);

  // The generatorURL opens the rule's page: its state, condition and history.
  await page.goto(`${d.base}${new URL(alert.generatorURL).pathname}`);
  await page.waitForSelector("#alert-panel", { state: "visible" });
  assert.equal(await page.textContent("#alert-name"), "Checkout slow");
  assert.equal(await page.textContent("#alert-state"), "firing");
  assert.equal(await page.textContent("#alert-value"), "420");
  assert.match(await page.textContent("#alert-actions"), new RegExp(`webhook ${receiver.url}`));
  assert.match(await page.textContent("#alert-history"), /inactive → firing at 420/);
  await screenshot(page, "alerts-one-firing");

  // A viewer reads the same page without Delete, and the list without the form.
  const viewer = await newPage(browser, { viewport: { width: 1280, height: 800 } });
  await viewer.goto(`${d.base}${new URL(alert.generatorURL).pathname}?token=secret-ops-view`);
  await viewer.waitForSelector("#alert-panel", { state: "visible" });
  assert.equal(await viewer.isVisible("#alert-delete"), false);
  await viewer.goto(`${d.base}/alerts`);
  await viewer.waitForSelector("#alert-rows tr");
  assert.equal(await viewer.isVisible("#create-panel"), false);
  await screenshot(viewer, "alerts-viewer");

  // The editor deletes it (confirming), and is back at an empty list.
  page.once("dialog", (dialog) => dialog.accept());
  await page.click("#alert-delete");
  await page.waitForURL(/\/alerts$/);
  await page.waitForSelector("#list-empty", { state: "visible" });
  assert.deepEqual(page.errors, []);
  assert.deepEqual(viewer.errors, []);
});

test("an unknown alert reads as missing; the phone width drops the long columns", { skip, timeout: testTimeout }, async (t) => {
  const d = await startTallyd(t);
  const browser = await launchBrowser(t);
  const page = await newPage(browser, { viewport: { width: 390, height: 800 } });
  await page.goto(`${d.base}/alerts/nosuchalert?token=secret-ops-view`);
  await page.waitForSelector("#alert-error", { state: "visible" });
  assert.match(await page.textContent("#alert-error"), /no such alert/i);
  const res = await fetch(`${d.base}/api/v1/alerts`, {
    method: "POST",
    headers: { Authorization: "Bearer secret-ops-edit" },
    body: JSON.stringify({
      alert_name: "Few page views",
      metric: "analytics:pageviews:ops.example",
      window: "5m",
      condition: { operator: "<", threshold: 10, duration: "10m" },
    }),
  });
  assert.equal(res.status, 201);
  await page.goto(`${d.base}/alerts`);
  await page.waitForSelector("#alert-rows tr");
  assert.equal(await page.isVisible("#alert-rows td:nth-child(3)"), false);
  await screenshot(page, "alerts-phone");
  assert.deepEqual(page.errors, []);
});
