// The Metrics tab: every metric name with its type, series and current figures (p50, p95,
// p99 for distributions), and a live chart of the chosen one. The data comes from
// MetricsSource (metrics-source.js); this module only draws and keeps the choice, which
// lives in the address (?metric=&agg=) so a reload or a shared link shows the same chart.
// Metric names and tags come from whoever sends points: text is set with textContent only.

import { AuthError } from "./api.js";
import { MetricChart } from "./metric-chart.js";
import { MetricsSource } from "./metrics-source.js";

const $ = (id) => document.getElementById(id);

// What the chart may draw, by the type of a name's first point; the first is the default.
const AGGREGATIONS = {
  count: ["sum", "rate", "count"],
  sum: ["sum", "rate", "count"],
  rate: ["rate", "sum", "count"],
  average: ["avg", "min", "max", "last"],
  min: ["min", "avg", "max", "last"],
  max: ["max", "avg", "min", "last"],
  gauge: ["avg", "last", "min", "max"],
  percentile: ["p99", "p95", "p90", "p50", "avg", "max", "min", "count"],
  unique: ["unique"],
};
const DEFAULT_METRIC = { name: "demo.http.latency_ms", aggregation: "p99" };
const TIME = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit", timeZone: "UTC" });

export function formatValue(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a > 0 && a < 1) return v.toLocaleString("en-US", { maximumSignificantDigits: 3 });
  return v.toLocaleString("en-US", { maximumFractionDigits: a >= 100 ? 0 : a >= 10 ? 1 : 2 });
}

// A unit read from the name's usual suffixes ("latency_ms", "memory_mb", "response.time").
export function unitOf(name) {
  if (/(_ms|\.time)$/.test(name)) return "ms";
  if (/_mb$/.test(name)) return "MB";
  if (/_(s|seconds)$/.test(name)) return "s";
  if (/_bytes$/.test(name)) return "B";
  return "";
}

const own = (name) => name.startsWith("tally.");

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function figure(value, unit) {
  const td = el("td", "num");
  td.textContent = formatValue(value);
  if (unit && Number.isFinite(value)) td.append(el("span", "unit", ` ${unit}`));
  if (Number.isFinite(value)) td.dataset.value = String(value);
  return td;
}

export class MetricsView {
  constructor({ onAuth }) {
    this.onAuth = onAuth;
    this.metrics = null; // the last list, sorted
    this.chosen = null; // {name, aggregation}
    this.chart = new MetricChart($("metric-chart"), formatValue);
    this.source = new MetricsSource({
      onList: (list) => this.showList(list),
      onSeries: (answer) => this.showSeries(answer),
      onError: (e) => this.showError(e),
    });
    const params = new URLSearchParams(location.search);
    if (params.get("metric")) this.chosen = { name: params.get("metric"), aggregation: params.get("agg") || "" };
    this.picked = !!this.chosen; // by someone (or a link), not by default
    $("metric-agg").addEventListener("change", () => this.pick(this.chosen.name, $("metric-agg").value));
    $("metrics-curl").textContent = curlExample();
  }

  show() {
    this.source.start();
  }

  hide() {
    this.source.stop();
  }

  rebuild() {
    this.chart.rebuild();
  }

  pick(name, aggregation) {
    this.picked = true;
    this.choose(name, aggregation);
  }

  choose(name, aggregation) {
    const type = this.metrics?.find((m) => m.name === name)?.type;
    const allowed = AGGREGATIONS[type] || [aggregation];
    this.chosen = { name, aggregation: allowed.includes(aggregation) ? aggregation : allowed[0] };
    const u = new URL(location.href);
    u.searchParams.set("metric", this.chosen.name);
    u.searchParams.set("agg", this.chosen.aggregation);
    history.replaceState(null, "", u);
    $("metric-agg").replaceChildren(...allowed.map((a) => el("option", "", a)));
    $("metric-agg").value = this.chosen.aggregation;
    $("metric-chart-title").textContent = this.chosen.name;
    $("metric-chart-sub").textContent = `${this.chosen.aggregation} per 10 s, last 15 minutes (UTC)`;
    this.source.choose(this.chosen.name, this.chosen.aggregation);
    this.markChosen();
  }

  showList(list) {
    this.metrics = list.sort((a, b) => own(a.name) - own(b.name) || (a.name < b.name ? -1 : 1));
    $("metrics-updated").textContent = `updated ${TIME.format(new Date())} UTC`;
    $("metrics-updated").classList.remove("refused");
    $("metrics-empty").hidden = list.some((m) => !own(m.name));
    $("metric-chart-card").hidden = list.length === 0;
    $("metrics-table-card").hidden = list.length === 0;
    $("metrics-list").replaceChildren(...list.map((m) => this.row(m)));
    $("metrics-list").dataset.count = String(list.length);
    // Until someone picks one, the chart follows the default: the demo's latency, else the
    // first metric sent (Tally's own come last), so the first metric sent shows up at once.
    const known = (name) => list.some((m) => m.name === name);
    if (this.chosen && known(this.chosen.name) && (this.picked || this.chosen.name === defaultFor(list).name)) {
      if (!$("metric-agg").options.length) this.choose(this.chosen.name, this.chosen.aggregation);
    } else if (list.length) {
      const first = defaultFor(list);
      this.choose(first.name, first.aggregation);
    }
    this.markChosen();
  }

  row(m) {
    const c = m.current || {};
    const p = c.percentiles || {};
    const unit = unitOf(m.name);
    const tr = el("tr");
    tr.dataset.name = m.name;
    // A break allowed after each dot, for a phone's narrow column.
    const name = el("button", "metric-name");
    m.name.split(/(?<=\.)/).forEach((part, i) => name.append(...(i ? [el("wbr"), part] : [part])));
    name.type = "button";
    name.title = `Chart ${m.name}`;
    name.addEventListener("click", () => this.pick(m.name, ""));
    const nameCell = el("td", "name");
    nameCell.append(name);
    const type = el("td");
    type.append(el("span", `type ${m.type}`, m.type));
    tr.append(nameCell, type, el("td", "num", formatValue(m.series)), el("td", "num muted", c.window || "–"));
    const counted = m.type === "unique" || ["count", "sum"].includes(m.type);
    tr.append(figure(c.value, counted ? "" : unit));
    for (const q of ["p50", "p95", "p99"]) tr.append(c.percentiles ? figure(p[q], unit) : el("td", "num muted", ""));
    return tr;
  }

  markChosen() {
    for (const tr of $("metrics-list").children) tr.classList.toggle("chosen", tr.dataset.name === this.chosen?.name);
  }

  showSeries(answer) {
    const unit = unitOf(answer.name);
    const counted = ["sum", "count", "unique"].includes(answer.aggregation);
    this.chart.set(answer, `${answer.aggregation}${unit && !counted ? ` (${unit})` : ""}`);
    const last = [...answer.points].reverse().find((p) => p.value !== null);
    $("metric-latest").textContent = last ? formatValue(last.value) : "–";
    $("metric-latest-unit").textContent = last && !counted ? unit : "";
  }

  showError(e) {
    if (e instanceof AuthError) {
      this.onAuth();
      return;
    }
    $("metrics-updated").textContent = `cannot read the metrics (${e.message}); retrying`;
    $("metrics-updated").classList.add("refused");
  }
}

function defaultFor(sorted) {
  if (sorted.some((m) => m.name === DEFAULT_METRIC.name)) return DEFAULT_METRIC;
  return { name: sorted[0].name, aggregation: "" };
}

function curlExample() {
  return [
    `curl -X POST ${location.origin}/api/v1/metrics \\`,
    `  -H 'Content-Type: application/json' \\`,
    `  -H "Authorization: Bearer $TALLY_TOKEN" \\`,
    `  -d '{"metrics":[{"name":"shop.checkout.time","type":"percentile","value":182,"tags":{"region":"eu"}}]}'`,
  ].join("\n");
}
