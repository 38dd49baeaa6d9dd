// A benchmark, not a test: a 12-widget dashboard (six metric widgets, six web-analytics
// ones, mixed types, the last 24 hours) against `tallyd --demo`.
//
//   node tests/browser/dashboards-bench.mjs [loads] [data_requests]   (default 10 and 300;
//                                                                      needs a build)
//
// 1. In Chromium, `loads` navigations to the dashboard, each timed from the navigation's
//    start to the moment every widget is drawn (the page stamps document.body.dataset.drawn
//    with Date.now(); minus performance.timeOrigin). Baseline: the same for a dashboard
//    with no widgets (the page, its scripts and one /data). Cold (a fresh browser context
//    each time) and warm (one tab navigated again).
// 2. GET /api/v1/dashboards/<id>/data for it, `data_requests` times at 20/s: alone, then
//    while build/tests/bench/metrics_load sends JSON metric points at half the peak it
//    measured just before (2 connections).

import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { launchBrowser, newPage, repo, Tallyd } from "./support.mjs";

const loads = Number(process.argv[2] || 10);
const dataRequests = Number(process.argv[3] || 300);
const cleanups = [];
const t = { after: (fn) => cleanups.push(fn) };
const load = path.join(repo, "build/tests/bench/metrics_load");

const at = (x, y, width, height) => ({ x, y, width, height });
const metric = (metrics, aggregation, extra = {}) => ({ metrics: [metrics], aggregation, ...extra });
const analytics = (metricName, breakdown) => ({ source: "analytics", site: "default", metric: metricName, ...(breakdown ? { breakdown } : {}) });
const WIDGETS = [
  ["line_chart", metric("demo.http.latency_ms", "p95", { group_by: ["endpoint"] }), at(0, 0, 6, 4)],
  ["area_chart", metric("demo.http.requests", "rate"), at(6, 0, 6, 4)],
  ["bar_chart", metric("demo.http.requests", "sum", { group_by: ["status"] }), at(0, 4, 4, 4)],
  ["heatmap", metric("demo.http.latency_ms", "p99", { group_by: ["endpoint"] }), at(4, 4, 8, 4)],
  ["gauge", metric("demo.http.latency_ms", "p99"), at(0, 8, 3, 4)],
  ["number", metric("demo.process.memory_mb", "last"), at(3, 8, 3, 2)],
  ["number", analytics("pageviews"), at(6, 8, 3, 2)],
  ["number", analytics("visitors"), at(9, 8, 3, 2)],
  ["table", analytics("pageviews", "pages"), at(3, 10, 4, 4)],
  ["map", analytics("pageviews", "countries"), at(7, 10, 5, 4)],
  ["pie_chart", analytics("pageviews", "devices"), at(0, 12, 3, 4)],
  ["bar_chart", analytics("pageviews", "events"), at(0, 16, 12, 4)],
].map(([type, query, position], i) => ({ id: `w${i + 1}`, type, title: `${type} ${i + 1}`, query, position }));

async function create(base, widgets) {
  const body = { name: `bench ${widgets.length}`, time: { from: "now-24h", to: "now" }, widgets };
  const res = await fetch(`${base}/api/v1/dashboards`, { method: "POST", body: JSON.stringify(body) });
  if (res.status !== 201) throw new Error(`${res.status} ${await res.text()}`);
  return (await res.json()).id;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

// Cold: a new browser context (empty cache) for each load. Warm: one tab, navigated again
// (the browser's caches as a returning user has them).
async function timeLoads(browser, url, warm) {
  const times = [];
  let page = warm ? await newPage(browser, { viewport: { width: 1280, height: 900 } }) : null;
  if (warm) await page.goto(url);
  for (let i = 0; i < loads; i++) {
    if (!warm) page = await newPage(browser, { viewport: { width: 1280, height: 900 } });
    await page.goto(url);
    await page.waitForFunction(() => document.body.dataset.drawn);
    times.push(await page.evaluate(() => Number(document.body.dataset.drawn) - performance.timeOrigin));
    if (!warm) await page.context().close();
  }
  return times;
}

async function timeData(url) {
  const times = [];
  for (let i = 0; i < dataRequests; i++) {
    const started = performance.now();
    const res = await fetch(url);
    await res.arrayBuffer();
    times.push((performance.now() - started) * 1000);
    await new Promise((r) => setTimeout(r, 50));
  }
  return times;
}

function runLoad(args) {
  return execFileSync(load, args, { encoding: "utf8" });
}

try {
  const tallyd = await Tallyd.start(t, { args: ["--demo", "--threads", "2"] });
  await new Promise((r) => setTimeout(r, 3000)); // the demo's first points
  const full = await create(tallyd.base, WIDGETS);
  const empty = await create(tallyd.base, []);
  const browser = await launchBrowser(t);
  console.log(`machine: ${os.cpus().length} cores, ${os.cpus()[0].model}, ${new Date().toISOString()}, load ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  for (const warm of [false, true]) {
    const emptyTimes = await timeLoads(browser, `${tallyd.base}/dashboards/${empty}`, warm);
    const fullTimes = await timeLoads(browser, `${tallyd.base}/dashboards/${full}`, warm);
    console.log(`${warm ? "warm" : "cold"}: navigation -> every widget drawn, median of ${loads}: 12 widgets ${median(fullTimes).toFixed(0)} ms, no widgets ${median(emptyTimes).toFixed(0)} ms (${(median(fullTimes) / median(emptyTimes)).toFixed(2)}x); all: ${fullTimes.map((x) => x.toFixed(0)).join(" ")}`);
  }

  const dataURL = `${tallyd.base}/api/v1/dashboards/${full}/data`;
  const idle = await timeData(dataURL);
  const bodies = mkdtempSync(path.join(os.tmpdir(), "tally-dash-bench-"));
  cleanups.push(() => rmSync(bodies, { recursive: true, force: true }));
  runLoad(["gen-json", "--out-dir", bodies, "--files", "8"]);
  const port = String(tallyd.port);
  const peak = runLoad(["http", "--port", port, "--path", "/api/v1/metrics", "--body-dir", bodies, "--count", "accepted", "--connections", "2", "--seconds", "4"]);
  const peakRate = Number(peak.match(/req_per_s=(\d+)/)[1]);
  const peakPoints = Number(peak.match(/points_per_s=(\d+)/)[1]);
  const background = spawn(load, ["http", "--port", port, "--path", "/api/v1/metrics", "--body-dir", bodies, "--count", "accepted", "--connections", "2", "--seconds", String(dataRequests / 20 + 10), "--rate", String(Math.max(1, Math.round(peakRate / 2)))], { stdio: ["ignore", "pipe", "ignore"] });
  cleanups.push(() => background.kill());
  let backgroundOut = "";
  background.stdout.on("data", (b) => (backgroundOut += b));
  await new Promise((r) => setTimeout(r, 1000));
  const busy = await timeData(dataURL);
  background.kill("SIGINT");
  const line = (name, xs) => `${name} p50 ${pct(xs, 0.5).toFixed(0)} us, p99 ${pct(xs, 0.99).toFixed(0)} us`;
  console.log(`/data of the 12 widgets, ${dataRequests} at 20/s: ${line("alone", idle)}; ${line("under ingest", busy)} (${(pct(busy, 0.99) / pct(idle, 0.99)).toFixed(2)}x)`);
  console.log(`ingest: peak ${peakPoints} points/s (${peakRate} bodies/s), background at half the bodies/s ${backgroundOut.trim() ? "" : "(still running)"}`);
} finally {
  for (const fn of cleanups.reverse()) await fn();
}
