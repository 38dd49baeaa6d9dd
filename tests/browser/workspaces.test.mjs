// Workspaces and roles in Debian's Chromium against the real tallyd: a daemon with two
// workspaces asks for a token (the sign-in form, a refused token said so), shows who is
// signed in with a sign-out control, lists only the token's workspace's dashboards, hides
// what a viewer may not use (new, edit, save, delete) and shows it to an editor, answers
// another workspace's dashboard as missing, and tells an ingest token it may only send
// metrics. Screenshots of each.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";

import { launchBrowser, missingPrerequisite, newPage, screenshot, Tallyd, testTimeout } from "./support.mjs";

const skip = missingPrerequisite() || false;

const SERVER_ADMIN = "secret-server-admin";
const CONFIG = {
  token: SERVER_ADMIN,
  workspaces: [
    {
      name: "team-a",
      sites: ["a.example"],
      tokens: [
        { id: "a-view", role: "viewer", token: "secret-a-view" },
        { id: "a-edit", role: "editor", token: "secret-a-edit" },
        { id: "a-ingest", role: "ingest", token: "secret-a-ingest" },
      ],
    },
    {
      name: "team-b",
      sites: ["b.example"],
      tokens: [{ id: "b-edit", role: "editor", token: "secret-b-edit" }],
    },
  ],
};

// tallyd with CONFIG as its --config file (removed when the test ends).
async function startWithWorkspaces(t) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "tally-workspaces-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "tallyd.json");
  writeFileSync(file, JSON.stringify(CONFIG));
  return Tallyd.start(t, { args: ["--config", file] });
}

async function call(d, method, route, token, body) {
  const headers = { Authorization: `Bearer ${token}` };
  const res = await fetch(`${d.base}${route}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function board(d, token, name) {
  const res = await call(d, "POST", "/api/v1/dashboards", token, { name, widgets: [] });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

async function signIn(page, token) {
  await page.waitForSelector("#token-dialog", { state: "visible" });
  await page.fill("#token", token);
  await page.click("#token-dialog button[type=submit]");
}

// Whether an element is laid out (isVisible is false for display: none, [hidden] or an
// ancestor's; the menu holding Delete is closed, so look at its own display instead).
const displayed = (page, selector) => page.$eval(selector, (el) => getComputedStyle(el).display !== "none");

test("the sign-in form, a viewer without edit controls, an editor with them, each workspace its own", { skip, timeout: testTimeout }, async (t) => {
  const d = await startWithWorkspaces(t);
  const a = await board(d, "secret-a-edit", "A team board");
  const b = await board(d, "secret-b-edit", "B team board");
  const browser = await launchBrowser(t);

  // Without a token: the sign-in form; a wrong token is said to be refused.
  const page = await newPage(browser, { viewport: { width: 1280, height: 800 } });
  await page.goto(`${d.base}/dashboards`);
  await page.waitForSelector("#token-dialog", { state: "visible" });
  assert.equal(await page.isVisible("#token-refused"), false);
  assert.equal(await page.isVisible("#list-view"), false, "nothing is listed before signing in");
  await screenshot(page, "workspaces-sign-in");
  await signIn(page, "not-a-token");
  await page.waitForSelector("#token-refused", { state: "visible" });
  await screenshot(page, "workspaces-sign-in-refused");

  // A viewer of team-a: team-a's dashboards only, and nothing that changes them.
  await page.fill("#token", "secret-a-view");
  await page.click("#token-dialog button[type=submit]");
  await page.waitForSelector("#dashboard-list li");
  assert.equal(await page.isVisible("#token-dialog"), false);
  assert.deepEqual(await page.$$eval("#dashboard-list li a", (as) => as.map((x) => x.textContent)), ["A team board"]);
  assert.match(await page.textContent("#who"), /team-a · viewer/);
  assert.equal(await page.isVisible("#sign-out"), true);
  assert.equal(await page.isVisible("#create-panel"), false, "a viewer makes no dashboards");
  assert.equal(await page.isVisible("#create-form"), false);
  await screenshot(page, "workspaces-viewer-list");
  await page.click(`a[href='/dashboards/${a.id}']`);
  await page.waitForURL(new RegExp(`/dashboards/${a.id}$`));
  await page.waitForFunction(() => Number(document.body.dataset.drawn || 0) > 0);
  for (const control of ["#edit", "#save", "#add-widget", "#delete"])
    assert.equal(await displayed(page, control), false, `${control} shown to a viewer`);
  assert.equal(await page.isVisible("#range"), true, "a viewer still picks the range");
  await screenshot(page, "workspaces-viewer-board");
  // Another workspace's dashboard reads as one that does not exist.
  await page.goto(`${d.base}/dashboards/${b.id}`);
  await page.waitForSelector("#board-error", { state: "visible" });
  assert.match(await page.textContent("#board-error"), /no such dashboard/i);

  // Signing out forgets the token and asks again; an editor sees the controls.
  await page.goto(`${d.base}/dashboards`);
  await page.waitForSelector("#dashboard-list li");
  await page.click("#sign-out");
  await signIn(page, "secret-a-edit");
  await page.waitForSelector("#dashboard-list li");
  assert.equal(await page.evaluate(() => localStorage.getItem("tally_token")), "secret-a-edit");
  assert.match(await page.textContent("#who"), /team-a · editor/);
  assert.equal(await page.isVisible("#create-panel"), true);
  assert.deepEqual(await page.$$eval("#dashboard-list li a", (as) => as.map((x) => x.textContent)), ["A team board"]);
  await screenshot(page, "workspaces-editor-list");
  await page.click(`a[href='/dashboards/${a.id}']`);
  await page.waitForFunction(() => Number(document.body.dataset.drawn || 0) > 0);
  assert.equal(await page.isVisible("#edit"), true);
  assert.equal(await displayed(page, "#delete"), true);
  await page.click("#edit");
  assert.equal(await page.isVisible("#save"), true);
  assert.equal(await page.isVisible("#add-widget"), true);
  await screenshot(page, "workspaces-editor-board");

  // team-b's editor sees team-b's board and not team-a's.
  const other = await newPage(browser, { viewport: { width: 1280, height: 800 } });
  await other.goto(`${d.base}/dashboards`);
  await signIn(other, "secret-b-edit");
  await other.waitForSelector("#dashboard-list li");
  assert.deepEqual(await other.$$eval("#dashboard-list li a", (as) => as.map((x) => x.textContent)), ["B team board"]);
  assert.match(await other.textContent("#who"), /team-b · editor/);

  assert.deepEqual(page.errors, []);
  assert.deepEqual(other.errors, []);
});

test("an ingest token is told it may only send metrics; the main page signs in too", { skip, timeout: testTimeout }, async (t) => {
  const d = await startWithWorkspaces(t);
  const browser = await launchBrowser(t);
  const page = await newPage(browser, { viewport: { width: 1280, height: 800 } });
  await page.goto(`${d.base}/dashboards`);
  await signIn(page, "secret-a-ingest");
  await page.waitForSelector("#role-note", { state: "visible" });
  assert.match(await page.textContent("#role-note"), /only send metrics/);
  assert.equal(await page.isVisible("#list-view"), false);
  assert.match(await page.textContent("#who"), /team-a · ingest/);
  await screenshot(page, "workspaces-ingest");

  // The main page: the same sign-in form, then the figures of the workspace's site.
  const main = await newPage(browser, { viewport: { width: 1280, height: 800 } });
  await main.goto(`${d.base}/?site=a.example`);
  await signIn(main, "secret-a-view");
  await main.waitForSelector("#status[data-state='live']");
  assert.match(await main.textContent("#who"), /team-a · viewer/);
  assert.equal(await main.isVisible("#sign-out"), true);
  await screenshot(main, "workspaces-main-viewer");
  await main.click("#sign-out");
  await main.waitForSelector("#token-dialog", { state: "visible" });
  assert.equal(await main.evaluate(() => localStorage.getItem("tally_token")), null);
  assert.deepEqual(page.errors, []);
  assert.deepEqual(main.errors, []);
});
