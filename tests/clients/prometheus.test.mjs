// A real Prometheus (Debian's) scraping tallyd's /api/v1/export/prometheus every second:
// what it stores equals what tallyd exports, and that equals what was sent (counters as
// _total, gauges by their last value, distributions as summaries, sets as gauges). The
// export is also clean under `promtool check metrics`.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";

import { Tallyd, missingPrerequisite, nearestRank, startPrometheus, sum, waitFor, within1Percent } from "./support.mjs";
import { promtoolPath } from "./support.mjs";

const skip = missingPrerequisite("prometheus") || false; // node --test skips on any string, even ""

// `promtool check metrics` on `body` (its stdin): its exit code and what it printed.
function promtoolCheck(body) {
  return new Promise((resolve, reject) => {
    const child = spawn(promtoolPath, ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (b) => (output += b));
    child.stderr.on("data", (b) => (output += b));
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
    child.stdin.end(body);
  });
}

// The samples of a text exposition: [{name, labels: {k: v}, value}] (comments skipped).
function parseExposition(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels = {};
    if (m[2]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy;
      re.lastIndex = 1;
      for (let l; (l = re.exec(m[2])) !== null; ) {
        labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
        if (re.lastIndex === m[2].length - 1) break;
      }
    }
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

// One key for a series: its name and labels, less the ones Prometheus adds.
function seriesKey(name, labels) {
  const rest = Object.entries(labels)
    .filter(([k]) => !["__name__", "job", "instance"].includes(k))
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return `${name}${JSON.stringify(rest)}`;
}

// Waits until Prometheus' last scrape of tallyd was healthy and holds every `names`.
async function scraped(prometheus, names) {
  await waitFor(
    async () => {
      const target = await prometheus.target();
      if (!target || target.health !== "up") throw new Error(`target: ${JSON.stringify(target)}`);
      const found = await prometheus.query(`count by (__name__) ({__name__=~"${names.join("|")}"})`);
      return found.length === names.length;
    },
    { timeout: 20_000, interval: 200, what: "a healthy scrape with every series" },
  );
  const target = await prometheus.target();
  assert.equal(target.lastError, "", "the scrape had no error");
}

// Prometheus' samples of the families starting with `prefix` equal the export's, series by
// series (same names, same labels, same values).
async function sameAsExport(tallyd, prometheus, prefix) {
  const exported = parseExposition(await tallyd.get("/api/v1/export/prometheus")).filter((s) => s.name.startsWith(prefix));
  const stored = await prometheus.query(`{__name__=~"${prefix}.*"}`);
  const fromPrometheus = new Map(stored.map((s) => [seriesKey(s.metric.__name__, s.metric), s.value]));
  const fromTallyd = new Map(exported.map((s) => [seriesKey(s.name, s.labels), s.value]));
  assert.equal(fromTallyd.size, exported.length, "every exported series is distinct");
  assert.deepEqual([...fromPrometheus.keys()].sort(), [...fromTallyd.keys()].sort(), "the same series");
  for (const [key, value] of fromTallyd) assert.equal(fromPrometheus.get(key), value, key);
}

// The value of the one series `expr` selects in Prometheus.
async function only(prometheus, expr) {
  const r = await prometheus.query(expr);
  assert.equal(r.length, 1, `${expr}: ${JSON.stringify(r)}`);
  return r[0].value;
}

// promtool finds no problem in the whole export (tallyd's own series are in it too).
async function cleanUnderPromtool(tallyd) {
  const body = await tallyd.get("/api/v1/export/prometheus");
  const lint = await promtoolCheck(body);
  assert.deepEqual(lint, { code: 0, output: "" }, `promtool check metrics:\n${body}`);
}

function latencies(n) {
  // 0.25 steps (exact sums), spread so that nearest ranks are far more than 1 % apart.
  const values = Array.from({ length: n }, (_, i) => 5 + i * 1.25 + (i % 5) * 0.25);
  return values.reverse();
}

test("a real Prometheus scrapes the export: its values equal tallyd's, and tallyd's are exact", { skip }, async (t) => {
  const tallyd = await Tallyd.start(t);
  const prometheus = await startPrometheus(t, {
    target: `127.0.0.1:${tallyd.port}`,
    metricsPath: "/api/v1/export/prometheus",
  });

  // What is sent, by region: counters, gauges, distributions, a set.
  const eu = latencies(150);
  const us = latencies(60).map((v) => v * 3);
  const quoted = 'say "hi" \\ ünïcode';
  const points = [];
  for (let i = 0; i < 40; ++i) points.push({ name: "shop.orders", type: "count", value: 2.5, tags: { region: "eu" } });
  for (let i = 0; i < 15; ++i) points.push({ name: "shop.orders", type: "count", value: 4, tags: { region: "us" } });
  points.push({ name: "shop.orders", type: "count", value: 1, tags: { region: quoted } });
  const now = Date.now();
  [3, 9, 4].forEach((v, i) =>
    points.push({ name: "shop.queue_depth", type: "gauge", value: v, tags: { region: "eu" }, timestamp: now - 3000 + i }),
  );
  points.push({ name: "shop.queue_depth", type: "gauge", value: -1.5, tags: { region: "us" } });
  for (const v of eu) points.push({ name: "shop.checkout_latency", type: "timing", value: v, tags: { region: "eu" } });
  for (const v of us) points.push({ name: "shop.checkout_latency", type: "timing", value: v, tags: { region: "us" } });
  for (let i = 0; i < 30; ++i) points.push({ name: "shop.visitors", type: "unique", value: `v${i % 17}` });
  const answer = await tallyd.post("/api/v1/metrics", { metrics: points });
  assert.deepEqual(answer, { accepted: points.length, rejected: [] });

  // Prometheus has scraped once everything is there (its last scrape is healthy).
  const wanted = [
    "shop_orders_total", "shop_queue_depth", "shop_checkout_latency", "shop_checkout_latency_count",
    "shop_checkout_latency_sum", "shop_visitors",
  ];
  await scraped(prometheus, wanted);
  await sameAsExport(tallyd, prometheus, "shop_");

  // And the values are exact (percentiles within 1 % of the nearest rank).
  const one = (expr) => only(prometheus, expr);
  assert.equal(await one('shop_orders_total{region="eu"}'), 100);
  assert.equal(await one('shop_orders_total{region="us"}'), 60);
  assert.equal(await one(`shop_orders_total{region=${JSON.stringify(quoted)}}`), 1, "escaped label value round-trips");
  assert.equal(await one('shop_queue_depth{region="eu"}'), 4);
  assert.equal(await one('shop_queue_depth{region="us"}'), -1.5);
  for (const [region, values] of [["eu", eu], ["us", us]]) {
    assert.equal(await one(`shop_checkout_latency_count{region="${region}"}`), values.length);
    assert.equal(await one(`shop_checkout_latency_sum{region="${region}"}`), sum(values));
    for (const q of [0.5, 0.9, 0.95, 0.99]) {
      const got = await one(`shop_checkout_latency{region="${region}",quantile="${q}"}`);
      within1Percent(assert, got, nearestRank(values, q), `${region} quantile ${q}`);
    }
  }
  assert.equal(await one("shop_visitors"), 17);
  await cleanUnderPromtool(tallyd);
});

test("tags whose label names collide (a.b and a_b; quantile on a summary) still scrape", { skip }, async (t) => {
  const tallyd = await Tallyd.start(t);
  const prometheus = await startPrometheus(t, {
    target: `127.0.0.1:${tallyd.port}`,
    metricsPath: "/api/v1/export/prometheus",
  });
  const points = [
    { name: "pay.refunds", type: "count", value: 3, tags: { "pay.method": "card", pay_method: "cash" } },
    { name: "pay.basket_size", type: "distribution", value: 8, tags: { quantile: "q" } },
    { name: "pay.basket_size", type: "distribution", value: 8, tags: { quantile: "q" } },
  ];
  await tallyd.post("/api/v1/metrics", { metrics: points });
  await scraped(prometheus, ["pay_refunds_total", "pay_basket_size_count"]);
  await sameAsExport(tallyd, prometheus, "pay_");
  // Both tags survive as distinct labels; the summary keeps its own `quantile`.
  const refunds = await prometheus.query("pay_refunds_total");
  assert.equal(refunds.length, 1);
  assert.equal(refunds[0].value, 3);
  assert.deepEqual(
    Object.values(refunds[0].metric).filter((v) => v === "card" || v === "cash").sort(),
    ["card", "cash"],
  );
  assert.equal(await only(prometheus, 'pay_basket_size{quantile="0.99"}'), 8);
  assert.equal(await only(prometheus, "pay_basket_size_count"), 2);
  assert.equal(await only(prometheus, "pay_basket_size_sum"), 16);
  await cleanUnderPromtool(tallyd);
});

// Tally names that differ only where the export writes '_' ("dup-name" and "dup_name") share
// one family, told apart by a tally_name label; a gauge named like a summary's _count
// ("dup.stat.count" next to the distribution "dup.stat") is exported as
// dup_stat_count_2. Prometheus keeps every series and promtool finds nothing wrong.
test("names that map to the same Prometheus family stay distinct series", { skip }, async (t) => {
  const tallyd = await Tallyd.start(t);
  const prometheus = await startPrometheus(t, {
    target: `127.0.0.1:${tallyd.port}`,
    metricsPath: "/api/v1/export/prometheus",
  });
  await tallyd.post("/api/v1/metrics", {
    metrics: [
      { name: "dup-name", type: "gauge", value: 1 },
      { name: "dup_name", type: "gauge", value: 2 },
      { name: "dup.stat.count", type: "gauge", value: 5 },
      { name: "dup.stat", type: "distribution", value: 7 },
    ],
  });
  await cleanUnderPromtool(tallyd);
  await scraped(prometheus, ["dup_stat_sum"]);
  await sameAsExport(tallyd, prometheus, "dup");
  const stored = await prometheus.query('{__name__=~"dup.*"}');
  assert.equal(stored.length, 2 + 1 + 6, "every tally series is a Prometheus series");
});
