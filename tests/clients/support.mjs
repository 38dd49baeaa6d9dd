// What the client tests share: the real tallyd (and a real Prometheus) on free loopback
// ports with temporary data directories, bounded waits, exact nearest-rank percentiles.
//
// Every process started here is stopped by the test that started it (t.after), and also
// killed if the test runner itself exits early, so nothing outlives a run.

import { spawn } from "node:child_process";
import dgram from "node:dgram";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { freePort, live } from "../js/processes.mjs";

export { freePort };

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, "../..");
export const tallydPath = process.env.TALLYD || path.join(repo, "build/src/daemon/tallyd");
export const prometheusPath = process.env.PROMETHEUS || "/usr/bin/prometheus";
export const promtoolPath = process.env.PROMTOOL || "/usr/bin/promtool";

// Why these tests cannot run here, or "" when they can. Outside CI a machine without
// `npm ci` in tests/clients or without a built tallyd skips them; in CI it is an error,
// because CI installs everything (scripts/install-deps.sh --test).
export function missingPrerequisite(...needs) {
  let why = "";
  for (const pkg of ["hot-shots", "@influxdata/influxdb-client"]) {
    if (!why && !existsSync(path.join(here, "node_modules", pkg)))
      why = `${pkg} not installed (npm ci in tests/clients)`;
  }
  if (!why && !existsSync(tallydPath)) why = `${tallydPath} not built`;
  if (!why && needs.includes("prometheus")) {
    for (const tool of [prometheusPath, promtoolPath])
      if (!why && !existsSync(tool)) why = `${tool} not found (apt-get install prometheus)`;
  }
  if (why && process.env.CI) throw new Error(`client tests cannot run in CI: ${why}`);
  return why;
}

export function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket("udp4");
    socket.once("error", reject);
    socket.bind(0, "127.0.0.1", () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls `probe` (sync or async) until it returns a truthy value, at most `timeout` ms.
export async function waitFor(probe, { timeout = 10_000, interval = 50, what = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const shown = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${shown})`);
    }
    await sleep(interval);
  }
}

// A child process with its stderr tail kept, killed when test `t` ends (SIGTERM, then
// SIGKILL after 5 s).
function startChild(t, file, args, name) {
  const child = spawn(file, args, { stdio: ["ignore", "ignore", "pipe"] });
  live.add(child);
  child.stderrTail = "";
  child.stderr.on("data", (b) => (child.stderrTail = (child.stderrTail + b).slice(-4000)));
  child.exited = new Promise((resolve) => child.once("exit", resolve));
  child.exited.then(() => live.delete(child));
  child.stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await child.exited;
    clearTimeout(timer);
  };
  child.describe = () => `${name} exited ${child.exitCode ?? child.signalCode}: ${child.stderrTail}`;
  return child;
}

export class Tallyd {
  // A tallyd on a free port with a temporary data directory and, with `statsd`, a
  // DogStatsD listener on a free UDP port; stopped and its directory removed when `t` ends.
  static async start(t, { statsd = false, token = "", args = [] } = {}) {
    const d = new Tallyd();
    d.dataDir = mkdtempSync(path.join(os.tmpdir(), "tally-clients-"));
    d.port = await freePort();
    d.base = `http://127.0.0.1:${d.port}`;
    d.token = token;
    const all = ["--listen", `127.0.0.1:${d.port}`, "--data-dir", d.dataDir, "--threads", "1",
                 "--log-level", "warn", "--fsync", "never"];
    if (statsd) {
      d.statsdPort = await freeUdpPort();
      all.push("--statsd", `127.0.0.1:${d.statsdPort}`);
    }
    if (token) all.push("--token", token);
    d.child = startChild(t, tallydPath, [...all, ...args], "tallyd");
    t.after(async () => {
      await d.child.stop();
      rmSync(d.dataDir, { recursive: true, force: true });
    });
    await waitFor(
      async () => {
        if (d.child.exitCode !== null) throw new Error(d.child.describe());
        return (await fetch(`${d.base}/readyz`)).ok;
      },
      { timeout: 15_000, what: `tallyd ready on port ${d.port}` },
    );
    return d;
  }

  headers(extra = {}) {
    return this.token ? { Authorization: `Bearer ${this.token}`, ...extra } : extra;
  }

  async get(route) {
    const res = await fetch(`${this.base}${route}`, { headers: this.headers() });
    const text = await res.text();
    if (!res.ok) throw new Error(`GET ${route}: ${res.status} ${text}`);
    return route.includes("/export/") ? text : JSON.parse(text);
  }

  async post(route, body) {
    const res = await fetch(`${this.base}${route}`, {
      method: "POST",
      headers: this.headers({ "Content-Type": "application/json" }),
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`POST ${route}: ${res.status} ${text}`);
    return JSON.parse(text);
  }

  // GET /api/v1/metrics/<name>/current with `tags` as tags.K=V filters; null when unknown.
  async current(name, { window = "1m", tags = {} } = {}) {
    const params = new URLSearchParams({ window });
    for (const [k, v] of Object.entries(tags)) params.append(`tags.${k}`, v);
    const res = await fetch(
      `${this.base}/api/v1/metrics/${encodeURIComponent(name)}/current?${params}`,
      { headers: this.headers() },
    );
    if (res.status === 404) return null;
    const text = await res.text();
    if (!res.ok) throw new Error(`current ${name}: ${res.status} ${text}`);
    return JSON.parse(text);
  }

  // Polls /current until its `count` reaches `count` (UDP and batching are asynchronous).
  async currentWhen(name, count, options = {}) {
    return waitFor(
      async () => {
        const c = await this.current(name, options);
        if (c && c.count >= count) return c;
        return false;
      },
      { timeout: 10_000, what: `${name} count ${count}${JSON.stringify(options)}` },
    );
  }
}

// The exact nearest-rank p-quantile (0 < p < 1) of `values`: the ceil(p·n)-th smallest.
export function nearestRank(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[rank - 1];
}

// Asserts `actual` within 1 % (relative) of `expected`.
export function within1Percent(assert, actual, expected, what) {
  assert.ok(
    typeof actual === "number" && Math.abs(actual - expected) <= 0.01 * Math.abs(expected) + 1e-12,
    `${what}: ${actual} is not within 1 % of ${expected}`,
  );
}

export const sum = (values) => values.reduce((a, b) => a + b, 0);

// A real Prometheus scraping `target` (host:port) at `metricsPath` every second, with its
// TSDB in a temporary directory; killed and the directory removed when `t` ends.
export async function startPrometheus(t, { target, metricsPath }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "tally-prometheus-"));
  const config = path.join(dir, "prometheus.yml");
  writeFileSync(
    config,
    [
      "global:",
      "  scrape_interval: 1s",
      "  evaluation_interval: 1s",
      "scrape_configs:",
      "  - job_name: tally",
      `    metrics_path: ${metricsPath}`,
      "    scrape_interval: 1s",
      "    scrape_timeout: 1s",
      "    static_configs:",
      `      - targets: ["${target}"]`,
      "",
    ].join("\n"),
  );
  const port = await freePort();
  const child = startChild(
    t,
    prometheusPath,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    "prometheus",
  );
  t.after(async () => {
    await child.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(child.describe());
      return (await fetch(`${base}/-/ready`)).ok;
    },
    { timeout: 20_000, interval: 100, what: `prometheus ready on port ${port}` },
  );
  return {
    base,
    child,
    // GET /api/v1/query: the instant vector's samples as [{metric, value: number}].
    async query(expr) {
      const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = await res.json();
      if (body.status !== "success") throw new Error(`prometheus query ${expr}: ${JSON.stringify(body)}`);
      return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    // The target's scrape health and the time of the last scrape.
    async target() {
      const res = await fetch(`${base}/api/v1/targets`);
      const body = await res.json();
      return body.data.activeTargets[0];
    },
  };
}
