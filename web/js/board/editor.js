// The widget dialog of edit mode: type, title, the query (a metric with its aggregation,
// group-by and tag filter, with the names from GET /api/v1/metrics; a web-analytics figure
// or breakdown; or the query's JSON, for formulas), unit, min, max, stacking and
// thresholds. edit() resolves with the widget as edited, "remove", or null (cancelled).

import * as api from "../api.js";

const $ = (id) => document.getElementById(id);
const TYPES = ["line_chart", "area_chart", "bar_chart", "scatter", "pie_chart", "heatmap", "gauge", "number", "table", "map"];

// "0:#2e9d5b, 250:#e0a526" <-> [{value, color}]
function parseThresholds(text) {
  const out = [];
  for (const part of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const [value, color] = part.split(":").map((s) => s.trim());
    if (value === undefined || color === undefined || Number.isNaN(Number(value)) || !color) {
      throw new Error(`thresholds: “${part}” is not value:color`);
    }
    out.push({ value: Number(value), color });
  }
  return out;
}

// "status=500,502" -> {status: ["500", "502"]}
function parseFilter(text) {
  const filters = {};
  for (const part of text.split(";").map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new Error(`filter: “${part}” is not tag=value`);
    filters[part.slice(0, eq).trim()] = part.slice(eq + 1).split(",").map((s) => s.trim()).filter(Boolean);
  }
  return filters;
}

function sourceOf(query) {
  if (query.formula) return "json";
  if (query.source === "analytics") return "analytics";
  return [].concat(query.metrics || []).length <= 1 ? "metric" : "json";
}

export class WidgetDialog {
  constructor() {
    this.dialog = $("widget-dialog");
    $("w-type").replaceChildren(...TYPES.map((t) => new Option(t.replace("_", " "), t)));
    $("w-source").addEventListener("change", () => this.showSource());
    this.namesLoaded = false;
  }

  async loadNames() {
    if (this.namesLoaded) return;
    try {
      const names = await api.getJSON("/api/v1/metrics");
      $("metric-names").replaceChildren(...(names.metrics || names).map((m) => new Option(`${m.type}, ${m.series} series`, m.name)));
      this.namesLoaded = true;
    } catch {
      // The picker is a help: without it the name is typed.
    }
  }

  showSource() {
    const source = $("w-source").value;
    $("w-metric-fields").hidden = source !== "metric";
    $("w-analytics-fields").hidden = source !== "analytics";
    $("w-json-label").hidden = source !== "json";
  }

  fill(widget) {
    const q = widget.query || {};
    const c = widget.visualization_config || {};
    $("w-type").value = widget.type;
    $("w-title").value = widget.title || "";
    $("w-source").value = sourceOf(q);
    $("w-metric").value = [].concat(q.metrics || [])[0] || "";
    $("w-aggregation").value = q.aggregation || "";
    $("w-group").value = (q.group_by || []).join(",");
    $("w-filter").value = Object.entries(q.filters || {}).map(([k, v]) => `${k.replace(/^tags\./, "")}=${[].concat(v).join(",")}`).join("; ");
    $("w-site").value = q.site || "default";
    const metric = q.metric || "pageviews";
    $("w-figure").value = metric.startsWith("events:") ? "events:" : metric;
    $("w-event").value = metric.startsWith("events:") ? metric.slice(7) : "";
    const props = /^props:([^:]+):(.+)$/.exec(q.breakdown || "");
    $("w-breakdown").value = props ? "props" : q.breakdown || "";
    if (props) $("w-event").value = props[1];
    $("w-prop").value = props ? props[2] : "";
    $("w-json").value = JSON.stringify(q, null, 2);
    $("w-unit").value = c.unit || "";
    $("w-min").value = c.min ?? "";
    $("w-max").value = c.max ?? "";
    $("w-stacked").checked = !!c.stacked;
    $("w-thresholds").value = (c.thresholds || []).map((t) => `${t.value}:${t.color}`).join(", ");
    $("w-error").hidden = true;
    this.showSource();
  }

  query() {
    const source = $("w-source").value;
    if (source === "json") return JSON.parse($("w-json").value);
    if (source === "analytics") {
      const figure = $("w-figure").value;
      const q = { source: "analytics", site: $("w-site").value.trim(), metric: figure === "events:" ? `events:${$("w-event").value.trim()}` : figure };
      const breakdown = $("w-breakdown").value;
      if (breakdown === "props") q.breakdown = `props:${$("w-event").value.trim()}:${$("w-prop").value.trim()}`;
      else if (breakdown) q.breakdown = breakdown;
      return q;
    }
    const q = { metrics: [$("w-metric").value.trim()] };
    if ($("w-aggregation").value) q.aggregation = $("w-aggregation").value;
    const groups = $("w-group").value.split(",").map((s) => s.trim()).filter(Boolean);
    if (groups.length) q.group_by = groups;
    const filters = parseFilter($("w-filter").value);
    if (Object.keys(filters).length) q.filters = filters;
    return q;
  }

  read(widget) {
    const config = { ...(widget.visualization_config || {}) };
    for (const key of ["unit", "min", "max", "stacked", "thresholds"]) delete config[key];
    if ($("w-unit").value.trim()) config.unit = $("w-unit").value.trim();
    if ($("w-min").value !== "") config.min = Number($("w-min").value);
    if ($("w-max").value !== "") config.max = Number($("w-max").value);
    if ($("w-stacked").checked) config.stacked = true;
    const thresholds = parseThresholds($("w-thresholds").value);
    if (thresholds.length) config.thresholds = thresholds;
    return { ...widget, type: $("w-type").value, title: $("w-title").value.trim(), query: this.query(), visualization_config: config };
  }

  // Resolves once the dialog closes.
  edit(widget, { isNew }) {
    this.fill(widget);
    this.loadNames();
    $("w-remove").hidden = isNew;
    return new Promise((resolve) => {
      const form = $("widget-form");
      const onRemove = () => finish("remove");
      const onSubmit = (event) => {
        if (event.submitter?.value !== "ok") return finish(null);
        try {
          const edited = this.read(widget);
          finish(edited);
        } catch (error) {
          event.preventDefault();
          $("w-error").textContent = error.message;
          $("w-error").hidden = false;
        }
      };
      const onCancel = () => finish(null);
      const finish = (result) => {
        form.removeEventListener("submit", onSubmit);
        $("w-remove").removeEventListener("click", onRemove);
        this.dialog.removeEventListener("cancel", onCancel);
        if (this.dialog.open) this.dialog.close();
        resolve(result);
      };
      form.addEventListener("submit", onSubmit);
      $("w-remove").addEventListener("click", onRemove);
      this.dialog.addEventListener("cancel", onCancel);
      this.dialog.showModal();
      $("w-type").focus();
    });
  }
}
