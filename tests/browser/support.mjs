// What the browser tests share: the real tallyd on a free loopback port with a temporary
// data directory, Debian's Chromium through playwright-core, bounded waits, screenshots.
//
// Every process started here is stopped by the test that started it (t.after), and also
// killed if the test runner itself exits early, so no tallyd outlives a run.

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { freePort, live, stopHttpServer } from "../js/processes.mjs";

export { freePort, stopHttpServer };

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, "../..");
export const tallydPath = process.env.TALLYD || path.join(repo, "build/src/daemon/tallyd");
export const webRoot = process.env.TALLY_WEB_ROOT || path.join(repo, "web");
export const artifacts = process.env.TALLY_ARTIFACTS || path.join(repo, "build/test-artifacts");
export const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";

// How long one browser test may take, so a hang fails that test by name instead of
// running into CTest's limit for the whole suite (the slowest take about 15 s).
export const testTimeout = 120_000;

// Why the browser tests cannot run here, or "" when they can. Outside CI a machine
// without Chromium (or without `npm ci` in tests/browser) skips them; in CI it is an
// error, because CI installs both (scripts/install-deps.sh --test).
export function missingPrerequisite() {
  let why = "";
  if (!existsSync(chromiumPath)) why = `${chromiumPath} not found (apt-get install chromium)`;
  else if (!existsSync(path.join(here, "node_modules/playwright-core")))
    why = "playwright-core not installed (npm ci in tests/browser)";
  else if (!existsSync(path.join(webRoot, "node_modules/uplot")))
    why = "the dashboard's packages are not installed (npm ci in web)";
  else if (!existsSync(tallydPath)) why = `${tallydPath} not built`;
  if (why && process.env.CI) throw new Error(`browser tests cannot run in CI: ${why}`);
  return why;
}

// Polls `probe` (sync or async) until it returns a truthy value, at most `timeout` ms.
export async function waitFor(probe, { timeout = 15_000, interval = 50, what = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

// A running tallyd. `port` and `dataDir` are kept so it can be restarted in place.
export const redisServerPath = process.env.REDIS_SERVER || "/usr/bin/redis-server";

// A redis-server on a free loopback port, no persistence, killed when test `t` ends.
// Returns its redis:// URL. (CI installs redis-server: scripts/install-deps.sh --test.)
export async function startRedis(t) {
  return (await startRedisProcess(t)).url;
}

/// A redis-server for the test: its URL, and stop() to take it away mid-test.
export async function startRedisProcess(t) {
  const port = await freePort();
  const child = spawn(
    redisServerPath,
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: "ignore" },
  );
  live.add(child);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  t.after(async () => {
    child.kill("SIGKILL");
    await exited;
    live.delete(child);
  });
  await waitFor(
    () =>
      new Promise((resolve) => {
        const socket = net.connect(port, "127.0.0.1", () => {
          socket.end();
          resolve(true);
        });
        socket.once("error", () => resolve(false));
      }),
    { timeout: 10_000, what: `redis-server on port ${port}` },
  );
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      child.kill("SIGKILL");
      await exited;
    },
  };
}

export class Tallyd {
  constructor({ port, dataDir, args = [] }) {
    this.port = port;
    this.dataDir = dataDir;
    this.args = args;
    this.base = `http://127.0.0.1:${port}`;
    this.child = null;
    this.stderr = "";
    this.log = ""; // its log (spdlog writes to stdout): the last 16 KB
  }

  static async start(t, { args = [] } = {}) {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), "tally-browser-"));
    const d = new Tallyd({ port: await freePort(), dataDir, args });
    // Stopped first, then its directory removed (one hook, so the order is certain).
    t.after(async () => {
      await d.stop();
      rmSync(dataDir, { recursive: true, force: true });
    });
    await d.run();
    return d;
  }

  async run() {
    const child = spawn(
      tallydPath,
      [
        "--listen", `127.0.0.1:${this.port}`,
        "--data-dir", this.dataDir,
        "--web-root", webRoot,
        "--threads", "1",
        "--log-level", "warn",
        ...this.args,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.child = child;
    live.add(child);
    child.stdout.on("data", (b) => (this.log = (this.log + b).slice(-16_000)));
    child.stderr.on("data", (b) => (this.stderr = (this.stderr + b).slice(-4000)));
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.exited = exited;
    exited.then(() => live.delete(child));
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`tallyd exited ${child.exitCode}: ${this.stderr}`);
        return (await fetch(`${this.base}/readyz`)).ok;
      },
      { timeout: 15_000, what: `tallyd ready on port ${this.port}` },
    );
  }

  // SIGTERM (a clean stop), or `signal`; SIGKILL if it has not gone within 10 s.
  async stop(signal = "SIGTERM") {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await child.exited;
    clearTimeout(timer);
  }

  async post(route, body) {
    const res = await fetch(`${this.base}${route}`, { method: "POST", body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`${route}: ${res.status} ${await res.text()}`);
    return res.json();
  }

  async metrics() {
    return (await fetch(`${this.base}/metrics`)).text();
  }

  async get(route) {
    const res = await fetch(`${this.base}${route}`);
    if (!res.ok) throw new Error(`${route}: ${res.status} ${await res.text()}`);
    return res.json();
  }

  async dashboard(range = "today", { site = "default", token } = {}) {
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    const res = await fetch(`${this.base}/dashboard/${range}?site=${site}`, { headers });
    if (!res.ok) throw new Error(`/dashboard: ${res.status}`);
    return res.json();
  }
}

export async function launchBrowser(t) {
  const require = createRequire(import.meta.url);
  const { chromium } = require("playwright-core");
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    timeout: 30_000,
  });
  t.after(() => browser.close());
  return browser;
}

// A page whose uncaught exceptions are collected in page.errors (the tests check that
// there are none) and console errors in page.consoleErrors (a stopped server makes the
// browser log failed connections there, so those are only shown).
export async function newPage(browser, options = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  page.errors = [];
  page.consoleErrors = [];
  page.on("pageerror", (e) => page.errors.push(e.stack || String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") page.consoleErrors.push(m.text());
  });
  page.setDefaultTimeout(15_000);
  return page;
}

export async function screenshot(page, name) {
  mkdirSync(artifacts, { recursive: true });
  const file = path.join(artifacts, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true, animations: "disabled" });
  return file;
}
