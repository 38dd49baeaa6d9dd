// A web root without its npm packages (web/ copied without `npm ci`): tallyd warns at start,
// naming the directory, and each page that needs a package says which files did not load
// and what to run, instead of staying blank. With the packages, neither says a word.

import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";

import { launchBrowser, missingPrerequisite, newPage, screenshot, Tallyd, testTimeout, webRoot } from "./support.mjs";

const skip = missingPrerequisite() || false;

function webRootWithoutPackages(t) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "tally-web-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(webRoot, dir, { recursive: true, filter: (source) => path.basename(source) !== "node_modules" });
  return dir;
}

test("without web/node_modules tallyd warns and the pages name what did not load", { skip, timeout: testTimeout }, async (t) => {
  const bare = webRootWithoutPackages(t);
  const d = await Tallyd.start(t, { args: ["--web-root", bare] });
  assert.match(d.log, /node_modules is missing: the pages cannot draw until `npm ci` runs there/);

  const browser = await launchBrowser(t);
  const page = await newPage(browser, { viewport: { width: 1100, height: 500 } });
  for (const [route, file] of [["/", "/node_modules/uplot/"], ["/dashboards", "/node_modules/gridstack/"]]) {
    await page.goto(`${d.base}${route}`);
    await page.waitForSelector("#load-error", { state: "visible" });
    const text = await page.textContent("#load-error");
    assert.ok(text.includes(file), `${route}: ${text}`);
    assert.match(text, /run `npm ci` in it \(scripts\/install-deps\.sh does\) and reload\.$/);
  }
  await screenshot(page, "load-check-missing-packages");
});

test("with the packages there is no warning and no note", { skip, timeout: testTimeout }, async (t) => {
  const d = await Tallyd.start(t);
  const browser = await launchBrowser(t);
  const page = await newPage(browser);
  for (const route of ["/dashboards", "/"]) {
    await page.goto(`${d.base}${route}`);
    await page.waitForLoadState("load");
    assert.equal(await page.$("#load-error"), null, route);
  }
  assert.doesNotMatch(d.log, /node_modules is missing/);
  assert.deepEqual(page.errors, []);
});
