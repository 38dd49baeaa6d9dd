// The dashboard's pure parts in node, without a browser: ranges, the delta rule, the
// chart's live buckets, the reconnect back-off, and the alerts page's rules from its form.

import assert from "node:assert/strict";
import { test } from "node:test";

import { byUrgency, describeCondition, formatValue, parseTags, ruleFromForm } from "../../web/js/alerts/rules.js";
import { backoffDelay } from "../../web/js/live.js";
import { applyDelta, deltaBuckets, mergeTop, rangeBounds, rangeHoldsToday, rangeKind } from "../../web/js/model.js";

const DAY = 86_400_000;

test("ranges: kinds and UTC bounds", () => {
  assert.equal(rangeKind("today"), "day");
  assert.equal(rangeKind("2026-11-22"), "day");
  assert.equal(rangeKind("2026-W47"), "week");
  assert.equal(rangeKind("2026-11"), "month");
  assert.equal(rangeKind("2026-11-22x"), null);

  assert.deepEqual(rangeBounds("2026-11-22"), { from: Date.UTC(2026, 10, 22), to: Date.UTC(2026, 10, 23), bucket: 60_000 });
  const now = Date.UTC(2026, 10, 22, 13, 5);
  assert.equal(rangeBounds("today", now).from, Date.UTC(2026, 10, 22));
  // ISO weeks: Monday to Monday; week 1 holds January 4th.
  assert.deepEqual(rangeBounds("2026-W47"), { from: Date.UTC(2026, 10, 16), to: Date.UTC(2026, 10, 23), bucket: DAY });
  assert.equal(rangeBounds("2021-W01").from, Date.UTC(2021, 0, 4));
  assert.equal(rangeBounds("2020-W53").from, Date.UTC(2020, 11, 28));
  assert.equal(rangeBounds("2025-W01").from, Date.UTC(2024, 11, 30));
  assert.deepEqual(rangeBounds("2026-02"), { from: Date.UTC(2026, 1, 1), to: Date.UTC(2026, 2, 1), bucket: DAY });
  assert.deepEqual(rangeBounds("2026-12"), { from: Date.UTC(2026, 11, 1), to: Date.UTC(2027, 0, 1), bucket: DAY });

  assert.equal(rangeHoldsToday("2026-W47", now), true);
  assert.equal(rangeHoldsToday("2026-10", now), false);
});

test("deltas: increments add, list members take new totals, the 10 best stay", () => {
  const top = Array.from({ length: 10 }, (_, i) => [`/p${i}`, 20 - i]);
  const m = {
    page_views: 100,
    unique_visitors: 7,
    unique_sessions: 9,
    real_time_users: 3,
    devices: { desktop: 60, mobile: 40, tablet: 0 },
    events: { signup: 2 },
    top_pages: top,
    top_referrers: [["direct", 100]],
    countries: [],
  };
  const d = {
    type: "delta",
    page_views: 5,
    devices: { mobile: 5 },
    events: { signup: 1, purchase: 1 },
    pages: [["/new", 30], ["/p9", 12]],
    countries: [["DE", 5]],
    unique_visitors: 8,
    unique_sessions: 10,
    real_time_users: 4,
  };
  const r = applyDelta(m, d);
  assert.equal(r.page_views, 105);
  assert.deepEqual(r.devices, { desktop: 60, mobile: 45, tablet: 0 });
  assert.deepEqual(r.events, { signup: 3, purchase: 1 });
  assert.equal(r.top_pages.length, 10);
  assert.deepEqual(r.top_pages[0], ["/new", 30]);
  assert.deepEqual(r.top_pages.at(-1), ["/p8", 12], "ties by name: /p8 before /p9");
  assert.deepEqual(r.top_referrers, [["direct", 100]]);
  assert.deepEqual(r.countries, [["DE", 5]]);
  assert.equal(r.unique_visitors, 8);
  assert.equal(r.real_time_users, 4);
  assert.equal(m.page_views, 100, "the snapshot is not changed in place");
  assert.deepEqual(mergeTop([["b", 1], ["a", 1]], []), [["a", 1], ["b", 1]]);
});

test("the chart's live buckets: recent page views by time, the rest now", () => {
  const bounds = rangeBounds("2026-11-22");
  const t = (h, m) => Date.UTC(2026, 10, 22, h, m, 30);
  const d = {
    page_views: 5,
    recent: [
      { type: "pageview", page: "/", ts: t(10, 0) },
      { type: "event", name: "signup", ts: t(10, 0) },
      { type: "pageview", page: "/", ts: t(10, 1) },
      { type: "pageview", page: "/", ts: t(10, 1) },
    ],
  };
  assert.deepEqual(new Map(deltaBuckets(d, bounds, t(10, 2))), new Map([[600, 1], [601, 2], [602, 2]]));
  assert.deepEqual(deltaBuckets({ page_views: 0 }, bounds, t(10, 2)), []);
});

test("back-off: doubles from 0.5 s to a 15 s cap, with 50-100 % jitter", () => {
  assert.equal(backoffDelay(0, () => 1), 500);
  assert.equal(backoffDelay(0, () => 0), 250);
  assert.equal(backoffDelay(3, () => 1), 4000);
  assert.equal(backoffDelay(10, () => 1), 15_000);
  assert.equal(backoffDelay(50, () => 0), 7500);
  for (let n = 0; n < 20; n++) {
    const ms = backoffDelay(n);
    assert.ok(ms >= 250 && ms <= 15_000, `${ms}`);
  }
});

test("alert rules from the form: tags, analytics figures, anomaly, channels; in one line", () => {
  const form = {
    name: " Slow ", metric: "api.latency", tags: "env=prod, route=/pay", aggregation: "p99", window: "5m",
    operator: ">", threshold: "250", duration: "1m", resolve: "200", noData: "ok", actionType: "webhook",
    actionTarget: " http://127.0.0.1:9/hook ",
  };
  const rule = ruleFromForm(form);
  assert.deepEqual(rule, {
    alert_name: "Slow", metric: "api.latency", aggregation: "p99", window: "5m",
    condition: { operator: ">", duration: "1m", threshold: 250 }, no_data: "ok",
    tags: { env: "prod", route: "/pay" }, resolve_threshold: 200,
    actions: [{ type: "webhook", url: "http://127.0.0.1:9/hook" }],
  });
  assert.equal(describeCondition(rule), "p99 of api.latency{env=prod, route=/pay} over 5m > 250 for 1m, resolved at 200");

  const anomaly = ruleFromForm({ ...form, metric: "analytics:pageviews:shop", operator: "anomaly", threshold: "4",
    tags: "", actionType: "channel", actionTarget: "email" });
  assert.equal(anomaly.aggregation, "sum", "analytics figures are counts");
  assert.deepEqual(anomaly.condition, { operator: "anomaly", duration: "1m", sensitivity: 4 });
  assert.equal(anomaly.resolve_threshold, undefined);
  assert.deepEqual(anomaly.actions, ["email"]);
  assert.equal(describeCondition({ ...anomaly, condition: { operator: "anomaly", duration: "0s" } }),
    "sum of analytics:pageviews:shop over 5m anomaly (3σ from the previous 60 windows)");

  assert.equal(ruleFromForm({ ...form, actionType: "" }).actions, undefined);
  assert.throws(() => parseTags("env"), /key=value: "env"/);
  assert.deepEqual(parseTags(" a = 1 ,, b=x=y "), { a: "1", b: "x=y" });
  assert.equal(formatValue(null), "no data");
  assert.equal(formatValue(0.123456), "0.1235");
  assert.equal(formatValue(12000.5), "12000");
  const states = ["inactive", "firing", "resolved", "pending"].map((state) => ({ state, alert_name: state }));
  assert.deepEqual(states.sort(byUrgency).map((r) => r.state), ["firing", "pending", "resolved", "inactive"]);
});
