// npm hot-shots (a real DogStatsD client) over UDP to tallyd's --statsd listener: counters
// (with values and a sample rate), timings, histograms, distributions, gauges and their
// deltas, sets, tags in both forms and global tags; one datagram a call, and batched
// (maxBufferSize) into multi-line datagrams. Every figure is read back from /current.

import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";

import { Tallyd, missingPrerequisite, nearestRank, sleep, sum, within1Percent } from "./support.mjs";

const skip = missingPrerequisite() || false; // node --test skips on any string, even ""
const require = createRequire(import.meta.url);

// A hot-shots client to `tallyd`; its datagrams are also recorded (the transport's send is
// wrapped, the bytes still go out) so the test knows what went on the wire.
function client(tallyd, options = {}) {
  const StatsD = require("hot-shots");
  const errors = [];
  const statsd = new StatsD({
    host: "127.0.0.1",
    port: tallyd.statsdPort,
    protocol: "udp",
    errorHandler: (e) => errors.push(e),
    ...options,
  });
  const datagrams = [];
  const send = statsd.socket.send.bind(statsd.socket);
  statsd.socket.send = (buf, cb) => {
    datagrams.push(buf.toString());
    return send(buf, cb);
  };
  statsd.errors = errors;
  statsd.datagrams = datagrams;
  statsd.closed = () => new Promise((resolve, reject) => statsd.close((e) => (e ? reject(e) : resolve())));
  return statsd;
}

// Calls `fn` with Math.random pinned below every sample rate, so hot-shots keeps (and
// marks with |@rate) every sampled call: what it sends is then known exactly.
function sampledIn(fn) {
  const random = Math.random;
  Math.random = () => 0.01;
  try {
    fn();
  } finally {
    Math.random = random;
  }
}

// Latencies with distinct nearest-rank answers far more than 1 % apart: 1..400 in a
// shuffled order, as halves (exact in binary, so sums and averages are exact).
function latencies(n, seed) {
  const values = Array.from({ length: n }, (_, i) => (i + 1) * 0.5 + (i % 7) * 3);
  let s = seed;
  for (let i = values.length - 1; i > 0; --i) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (i + 1);
    [values[i], values[j]] = [values[j], values[i]];
  }
  return values;
}

async function checkDistribution(tallyd, name, values, tags = {}) {
  const c = await tallyd.currentWhen(name, values.length, { tags });
  assert.equal(c.type, "percentile", `${name} type`);
  assert.equal(c.count, values.length, `${name} count`);
  assert.equal(c.min, Math.min(...values), `${name} min`);
  assert.equal(c.max, Math.max(...values), `${name} max`);
  assert.equal(c.avg, sum(values) / values.length, `${name} avg`);
  for (const [key, p] of [["p50", 0.5], ["p90", 0.9], ["p95", 0.95], ["p99", 0.99]])
    within1Percent(assert, c.percentiles[key], nearestRank(values, p), `${name} ${key}`);
  within1Percent(assert, c.value, nearestRank(values, 0.5), `${name} value (p50)`);
  return c;
}

// The same traffic through a client built with `options`; every name starts with `prefix`.
async function sendAndCheck(tallyd, prefix, options) {
  const statsd = client(tallyd, options);
  const p = (name) => `${prefix}.${name}`;
  // UDP drops what the receiver has no room for: a pause every 25 calls keeps a busy
  // machine's tallyd (and its socket buffer) ahead of the burst.
  let calls = 0;
  const pace = async () => {
    if (++calls % 25 === 0) await sleep(5);
  };

  // Counters: plain values, tags as an object and as an array, and a sample rate of 0.5.
  for (let i = 0; i < 10; ++i) statsd.increment(p("hits"), 5, { route: "/a" }), await pace();
  for (let i = 0; i < 4; ++i) statsd.increment(p("hits"), 3, ["route:/b"]);
  statsd.increment(p("hits"), { route: "/c" }); // no value: 1
  statsd.decrement(p("hits"), 2, { route: "/c" });
  sampledIn(() => {
    for (let i = 0; i < 6; ++i) statsd.increment(p("sampled"), 7, 0.5, { route: "/s" });
  });
  // A tag value holding ':' (split at the first one only).
  statsd.increment(p("links"), 2, { url: "http://example.com:8080/a" });

  // Distributions, one of each StatsD type.
  const timings = latencies(300, 1);
  const histogram = latencies(200, 2).map((v) => v * 4);
  const distribution = latencies(120, 3).map((v) => v + 1000);
  for (const v of timings) statsd.timing(p("latency"), v, { route: "/a" }), await pace();
  for (const v of histogram) statsd.histogram(p("size"), v, ["kind:body"]), await pace();
  for (const v of distribution) statsd.distribution(p("dist"), v), await pace();
  // A sampled timing (@0.25): each value stands for four.
  const sampledTimings = [10, 20, 30, 40, 50];
  sampledIn(() => {
    for (const v of sampledTimings) statsd.timing(p("sampled_latency"), v, 0.25);
  });

  // A gauge, then its changes.
  statsd.gauge(p("temp"), 20, { room: "lab" });
  statsd.gaugeDelta(p("temp"), 5, { room: "lab" });
  statsd.gaugeDelta(p("temp"), -2.5, { room: "lab" });
  statsd.gauge(p("temp"), 7, { room: "hall" });

  // A set: 12 distinct members, each sent up to three times.
  const members = Array.from({ length: 12 }, (_, i) => `user-${i}`);
  for (let round = 0; round < 3; ++round)
    for (const m of members.slice(0, 12 - round * 3)) statsd.set(p("users"), m, { site: "s1" }), await pace();

  await statsd.closed();
  assert.deepEqual(statsd.errors, [], "hot-shots reported errors");

  // Counters: the sum of the values, and the number of points.
  const all = await tallyd.currentWhen(p("hits"), 16);
  assert.equal(all.type, "count");
  assert.equal(all.value, 10 * 5 + 4 * 3 + 1 - 2);
  assert.equal(all.count, 16);
  const a = await tallyd.current(p("hits"), { tags: { route: "/a" } });
  assert.deepEqual([a.value, a.count], [50, 10], "route /a (tags as an object)");
  const b = await tallyd.current(p("hits"), { tags: { route: "/b" } });
  assert.deepEqual([b.value, b.count], [12, 4], "route /b (tags as an array)");
  const c = await tallyd.current(p("hits"), { tags: { route: "/c" } });
  assert.deepEqual([c.value, c.count], [-1, 2], "route /c (increment without value, decrement)");

  // @0.5: each line stands for two points of value 7.
  const sampledLines = statsd.datagrams.join("\n").split("\n").filter((l) => l.startsWith(`${p("sampled")}:`));
  assert.equal(sampledLines.length, 6);
  assert.ok(sampledLines.every((l) => l.includes("|@0.5")), `sampled lines: ${sampledLines}`);
  const s = await tallyd.currentWhen(p("sampled"), 12);
  assert.equal(s.count, 12, "a line with @0.5 counts twice");
  assert.equal(s.value, 6 * 7 * 2, "a line with @0.5 adds its value twice");

  const links = await tallyd.currentWhen(p("links"), 1, { tags: { url: "http://example.com:8080/a" } });
  assert.deepEqual([links.value, links.count], [2, 1], "a tag value with ':'");

  // @0.25 on a timing: four points per value; the percentiles, min, max and avg unchanged.
  const st = await checkDistribution(tallyd, p("sampled_latency"), sampledTimings.flatMap((v) => [v, v, v, v]));
  assert.equal(st.count, 20);

  // Distributions.
  await checkDistribution(tallyd, p("latency"), timings, { route: "/a" });
  await checkDistribution(tallyd, p("latency"), timings);
  await checkDistribution(tallyd, p("size"), histogram, { kind: "body" });
  await checkDistribution(tallyd, p("dist"), distribution);

  // Gauges: the last value, deltas applied to it.
  const lab = await tallyd.currentWhen(p("temp"), 3, { tags: { room: "lab" } });
  assert.equal(lab.type, "gauge");
  assert.equal(lab.value, 22.5, "20, then +5, then -2.5");
  const hall = await tallyd.current(p("temp"), { tags: { room: "hall" } });
  assert.equal(hall.value, 7);

  // The set: distinct members (exact for a small set).
  const users = await tallyd.currentWhen(p("users"), 12 + 9 + 6, { tags: { site: "s1" } });
  assert.equal(users.type, "unique");
  assert.equal(users.value, 12);
  return statsd;
}

test("hot-shots over UDP, one datagram a call, tags as objects and arrays, globalTags, telegraf", { skip }, async (t) => {
  const tallyd = await Tallyd.start(t, { statsd: true });
  const statsd = await sendAndCheck(tallyd, "hs", { globalTags: { env: "test" } });
  assert.ok(statsd.datagrams.every((d) => !d.includes("\n")), "one line a datagram");
  assert.ok(statsd.datagrams.every((d) => d.includes("env:test")), "globalTags on every line");
  // The global tag is a tag of every series: filtering on it finds them all.
  const hits = await tallyd.current("hs.hits", { tags: { env: "test" } });
  assert.deepEqual([hits.value, hits.count], [61, 16]);
  const none = await tallyd.current("hs.hits", { tags: { env: "prod" } });
  assert.equal(none.count, 0);
  // Telegraf's variant (tags in the name: `name,k=v:1|c`), from the same client library.
  const telegraf = client(tallyd, { telegraf: true, globalTags: { env: "tg" } });
  telegraf.increment("tg.hits", 4, { route: "/t" });
  telegraf.gauge("tg.level", 3.5, { route: "/t" });
  await telegraf.closed();
  assert.deepEqual(telegraf.errors, []);
  assert.ok(telegraf.datagrams.every((d) => d.includes(",route=/t")), `${telegraf.datagrams}`);
  const tg = await tallyd.currentWhen("tg.hits", 1, { tags: { route: "/t", env: "tg" } });
  assert.deepEqual([tg.value, tg.count], [4, 1]);
  const level = await tallyd.currentWhen("tg.level", 1, { tags: { route: "/t", env: "tg" } });
  assert.equal(level.value, 3.5);

  const listed = await tallyd.get("/api/v1/metrics");
  const names = Object.fromEntries(listed.metrics.map((m) => [m.name, m]));
  assert.equal(names["hs.hits"].type, "count");
  assert.equal(names["hs.hits"].series, 3);
  assert.equal(names["hs.latency"].type, "percentile");
  assert.equal(names["hs.temp"].series, 2);
  assert.equal(names["hs.users"].type, "unique");
});

test("hot-shots over UDP, batched into multi-line datagrams (maxBufferSize)", { skip }, async (t) => {
  const tallyd = await Tallyd.start(t, { statsd: true });
  const statsd = await sendAndCheck(tallyd, "hsb", {
    globalTags: ["env:batch", "team:core"],
    maxBufferSize: 1400,
    bufferFlushInterval: 20,
  });
  const lines = statsd.datagrams.map((d) => d.split("\n").length);
  assert.ok(lines.length > 1 && Math.max(...lines) > 10, `datagram line counts: ${lines}`);
  assert.ok(statsd.datagrams.every((d) => Buffer.byteLength(d) <= 1400));
  const hits = await tallyd.current("hsb.hits", { tags: { env: "batch", team: "core" } });
  assert.deepEqual([hits.value, hits.count], [61, 16]);
});
