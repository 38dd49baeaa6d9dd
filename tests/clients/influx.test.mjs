// npm @influxdata/influxdb-client (the InfluxDB 2 JavaScript client, 1.x) writing line
// protocol to tallyd's /api/v2/write with its default options: bodies over 1,000 bytes go
// gzipped and chunked. Every measurement.field series is read back through /current and
// /api/v1/query exactly; a bad point and a wrong token surface as errors in the client.

import assert from "node:assert/strict";
import { createRequire } from "node:module";
import net from "node:net";
import { test } from "node:test";

import { Tallyd, freePort, missingPrerequisite } from "./support.mjs";

const skip = missingPrerequisite() || false; // node --test skips on any string, even ""
const require = createRequire(import.meta.url);

// A TCP relay in front of tallyd that keeps what the client sent, so the test can see the
// client really used gzip and chunked encoding. Closed when `t` ends.
async function recordingRelay(t, tallyd) {
  const sent = [];
  const sockets = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(tallyd.port, "127.0.0.1");
    sockets.add(client).add(upstream);
    client.on("data", (b) => sent.push(b.toString("latin1")));
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${port}`, sent: () => sent.join("") };
}

// The client's own logger would print its (expected) write errors; keep them instead.
function quietLogger() {
  const { setLogger } = require("@influxdata/influxdb-client");
  const logged = [];
  setLogger({ error: (m, e) => logged.push(`${m} ${e ?? ""}`), warn: (m, e) => logged.push(`${m} ${e ?? ""}`) });
  return logged;
}

const hosts = ["h1", "h2", "h3"];

// `perHost` points per host of measurement `m`: a float field `usage` (quarters, so sums are
// exact in any order), an integer field `procs`, and a second tag; timestamps in the last
// 20 s, 7 ms apart, each host's last point last. Returns the points and what to expect.
function makePoints(m, perHost, nowMs, stamp) {
  const { Point } = require("@influxdata/influxdb-client");
  const points = [];
  const expected = {};
  for (const h of hosts) expected[h] = { usage: [], procs: [] };
  for (let i = 0; i < perHost; ++i) {
    hosts.forEach((h, k) => {
      const usage = ((i * 37 + k * 11) % 400) / 4;
      const procs = (i * 13 + k) % 50;
      const ms = nowMs - 20_000 + (i * hosts.length + k) * 7;
      points.push(
        new Point(m)
          .tag("host", h)
          .tag("region", k === 2 ? "us" : "eu")
          .floatField("usage", usage)
          .intField("procs", procs)
          .timestamp(stamp(ms, i)),
      );
      expected[h].usage.push(usage);
      expected[h].procs.push(procs);
    });
  }
  return { points, expected };
}

const total = (xs) => xs.reduce((a, b) => a + b, 0);

// /current and /query (grouped by host) for both fields of `m` against what was sent.
async function checkSeries(tallyd, m, expected) {
  for (const field of ["usage", "procs"]) {
    const name = `${m}.${field}`;
    const everything = hosts.flatMap((h) => expected[h][field]);
    const c = await tallyd.current(name);
    assert.ok(c, `${name} exists`);
    assert.equal(c.type, "gauge", `${name} type`);
    assert.equal(c.count, everything.length, `${name} count`);
    // Merged over hosts the last value is that of the last timestamp: h3's last point.
    assert.equal(c.value, expected.h3[field].at(-1), `${name} last`);
    for (const h of hosts) {
      const one = await tallyd.current(name, { tags: { host: h } });
      assert.equal(one.count, expected[h][field].length, `${name} host=${h} count`);
      assert.equal(one.value, expected[h][field].at(-1), `${name} host=${h} last`);
    }
    const eu = await tallyd.current(name, { tags: { region: "eu" } });
    assert.equal(eu.count, expected.h1[field].length + expected.h2[field].length, `${name} region=eu`);

    for (const aggregation of ["sum", "count", "min", "max", "avg", "last"]) {
      const answer = await tallyd.post("/api/v1/query", {
        metrics: [name],
        aggregation,
        window: "1m",
        group_by: ["host"],
      });
      const byHost = Object.fromEntries(answer.results.map((r) => [r.group.host, r]));
      assert.deepEqual(Object.keys(byHost).sort(), hosts, `${name} ${aggregation} groups`);
      for (const h of hosts) {
        const xs = expected[h][field];
        const want = {
          sum: total(xs),
          count: xs.length,
          min: Math.min(...xs),
          max: Math.max(...xs),
          avg: total(xs) / xs.length,
          last: xs.at(-1),
        }[aggregation];
        const r = byHost[h];
        assert.equal(r.metric, name);
        assert.equal(r.aggregation, aggregation);
        assert.equal(r.points.length, 1, `${name} ${aggregation} one point without a range`);
        assert.equal(r.points[0].value, want, `${name} ${aggregation} host=${h}`);
      }
    }
  }
}

async function writeAll(writeApi, points) {
  writeApi.writePoints(points);
  await writeApi.flush();
}

test("influxdb-client 1.x: gzip + chunked batches, precision ms and ns, /current and /query exact", { skip }, async (t) => {
  const { InfluxDB } = require("@influxdata/influxdb-client");
  const logged = quietLogger();
  const tallyd = await Tallyd.start(t);
  const relay = await recordingRelay(t, tallyd);
  const influx = new InfluxDB({ url: relay.url, token: "anything" });
  const now = Date.now();

  // precision ms, default write options: 3 × 120 points, ~20 kB, one gzipped request; sent
  // newest first, so "last" is only right when it goes by the points' timestamps.
  const ms = makePoints("cpu", 120, now, (t) => t);
  const msApi = influx.getWriteApi("some-org", "some-bucket", "ms");
  await writeAll(msApi, [...ms.points].reverse());
  await msApi.close();

  // precision ns: timestamps as nanosecond strings (beyond a double's precision).
  const ns = makePoints("mem", 80, now, (t, i) => `${BigInt(t) * 1_000_000n + BigInt(i % 1000)}`);
  const nsApi = influx.getWriteApi("some-org", "some-bucket", "ns");
  await writeAll(nsApi, ns.points);
  await nsApi.close();

  // A small body (under gzipThreshold): sent as it is, server time.
  const { Point } = require("@influxdata/influxdb-client");
  const smallApi = influx.getWriteApi("some-org", "some-bucket", "s");
  smallApi.writePoint(new Point("disk").tag("host", "h1").floatField("free", 12.5));
  smallApi.writePoint(new Point("disk").tag("host", "h2").intField("free", 7));
  // Escaped tag values (comma, equals sign, space), unsigned and non-numeric fields: the
  // string and the boolean are no series, the rest are.
  smallApi.writePoint(
    new Point("disk")
      .tag("host", "h3")
      .tag("path", "/var/a,b=c d")
      .uintField("free", 9)
      .stringField("label", 'x "y"')
      .booleanField("mounted", true),
  );
  await smallApi.close();

  const wire = relay.sent();
  assert.match(wire, /^POST \/api\/v2\/write\?org=some-org&bucket=some-bucket&precision=ms /m);
  assert.match(wire, /^POST \/api\/v2\/write\?org=some-org&bucket=some-bucket&precision=ns /m);
  assert.match(wire, /^content-encoding: gzip\r$/im, "the client gzipped a body");
  assert.match(wire, /^transfer-encoding: chunked\r$/im, "the client sent a chunked body");
  assert.match(wire, /^authorization: Token anything\r$/im);

  await checkSeries(tallyd, "cpu", ms.expected);
  await checkSeries(tallyd, "mem", ns.expected);
  const h1 = await tallyd.current("disk.free", { tags: { host: "h1" } });
  const h2 = await tallyd.current("disk.free", { tags: { host: "h2" } });
  assert.deepEqual([h1.value, h1.count, h2.value, h2.count], [12.5, 1, 7, 1]);
  const escaped = await tallyd.current("disk.free", { tags: { path: "/var/a,b=c d" } });
  assert.deepEqual([escaped.value, escaped.count], [9, 1], "escaped tag value");
  assert.equal(await tallyd.current("disk.label"), null, "a string field is no series");
  assert.equal(await tallyd.current("disk.mounted"), null, "a boolean field is no series");
  assert.deepEqual(logged, [], "the client logged no errors");
});

test("influxdb-client 1.x: a bad point and a wrong token are errors in the client", { skip }, async (t) => {
  const { InfluxDB, Point, HttpError } = require("@influxdata/influxdb-client");
  quietLogger();
  const tallyd = await Tallyd.start(t, { token: "s3cret" });
  const now = Date.now();

  // With the right token: written.
  const good = new InfluxDB({ url: tallyd.base, token: "s3cret" });
  const { points, expected } = makePoints("net", 40, now, (t) => t);
  const api = good.getWriteApi("o", "b", "ms");
  await writeAll(api, points);
  await api.close();
  await checkSeries(tallyd, "net", expected);

  // A field name that makes an invalid metric name ("bad field": a space): 400, not retried.
  const bad = good.getWriteApi("o", "b", "ms", { maxRetries: 0 });
  bad.writePoint(new Point("ok").floatField("fine", 1).timestamp(now));
  bad.writePoint(new Point("net").floatField("bad field", 2).timestamp(now));
  await assert.rejects(bad.flush(), (e) => {
    assert.ok(e instanceof HttpError, `${e}`);
    assert.equal(e.statusCode, 400);
    assert.match(e.body, /bad field|line 2/);
    return true;
  });
  await bad.close().catch(() => {});
  // The good line before the bad one stands.
  const ok = await tallyd.current("ok.fine");
  assert.deepEqual([ok.value, ok.count], [1, 1]);

  // A wrong token: 401 in the client, nothing written.
  const wrong = new InfluxDB({ url: tallyd.base, token: "not-it" }).getWriteApi("o", "b", "ms", { maxRetries: 0 });
  wrong.writePoint(new Point("sneaky").floatField("v", 1).timestamp(now));
  await assert.rejects(wrong.flush(), (e) => e instanceof HttpError && e.statusCode === 401);
  await wrong.close().catch(() => {});
  assert.equal(await tallyd.current("sneaky.v"), null);
});
