// Draws one widget's data (the /data answer's "data" and "compare_data") into its body:
// ECharts for every chart, plain HTML for numbers and tables. Each drawing returns a
// handle: { chart (the ECharts instance, or null), previous (how many dashed comparison
// series it drew) }.
//
// Time charts zoom and pan (mouse wheel and drag, or the slider), draw the comparison as
// dashed series moved onto the range, and report a click on a series (a group) through
// `onGroup(series)`.

import * as echarts from "/node_modules/echarts/dist/echarts.esm.min.mjs";
import { worldMap } from "./world.js";

const TIME_TYPES = new Set(["line_chart", "area_chart", "bar_chart", "scatter"]);

export function formatValue(value, unit = "") {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : 2;
  const text = new Intl.NumberFormat(undefined, { maximumFractionDigits: digits }).format(value);
  return unit ? `${text} ${unit}` : text;
}

function theme() {
  const dark = document.documentElement.dataset.theme === "dark";
  return {
    dark,
    text: dark ? "#d7dce2" : "#28303a",
    muted: dark ? "#8b95a1" : "#6b7480",
    grid: dark ? "#2c333b" : "#e6e9ee",
  };
}

function baseOption(t) {
  return {
    animation: false,
    textStyle: { color: t.text },
    tooltip: { trigger: "axis", confine: true },
    grid: { left: 48, right: 16, top: 28, bottom: 44 },
    legend: { type: "scroll", top: 0, textStyle: { color: t.muted } },
  };
}

// A series' label: its group ("endpoint=/a") when every series is of one metric.
function labeller(series) {
  const metrics = new Set((series || []).map((s) => s.name.split(" ")[0]));
  const grouped = (series || []).some((s) => Object.keys(s.group || {}).length);
  return (s) => (metrics.size === 1 && grouped ? s.name.slice(s.name.indexOf(" ") + 1) : s.name);
}

// The series of a time chart: the range's, then the comparison's moved by offsetMs.
function timeSeries(type, data, compare, offsetMs, config) {
  const label = labeller(data.series);
  const kind = type === "bar_chart" ? "bar" : type === "scatter" ? "scatter" : "line";
  const out = [];
  const add = (series, shifted) => {
    for (const s of series || []) {
      out.push({
        name: shifted ? `${label(s)} (previous)` : label(s),
        type: kind,
        showSymbol: kind === "scatter",
        connectNulls: false,
        stack: config.stacked && !shifted ? "total" : undefined,
        areaStyle: type === "area_chart" && !shifted ? { opacity: 0.25 } : undefined,
        lineStyle: shifted ? { type: "dashed", width: 1.5 } : { width: 1.8 },
        itemStyle: shifted ? { opacity: 0.6 } : undefined,
        data: s.points.map(([t, v]) => [shifted ? t + offsetMs : t, v]),
        tallyGroup: shifted ? null : s,
      });
    }
  };
  add(data.series, false);
  if (compare && offsetMs) add(compare.series, true);
  return out;
}

function timeOption(widget, data, compare, offsetMs, t) {
  const config = widget.visualization_config || {};
  const series = timeSeries(widget.type, data, compare, offsetMs, config);
  return {
    ...baseOption(t),
    xAxis: { type: "time", axisLine: { lineStyle: { color: t.grid } }, axisLabel: { color: t.muted } },
    yAxis: {
      type: "value",
      min: config.min ?? null,
      max: config.max ?? null,
      axisLabel: { color: t.muted, formatter: (v) => formatValue(v) },
      splitLine: { lineStyle: { color: t.grid } },
    },
    dataZoom: [{ type: "inside", filterMode: "none" }, { type: "slider", height: 14, bottom: 6 }],
    series,
  };
}

// Breakdown rows as categories (bar charts of pages, events...).
function rowsBarOption(widget, data, compare, t) {
  const rows = data.rows || [];
  const previous = new Map((compare?.rows || []).map((r) => [r.name, r.value]));
  const series = [{ name: widget.title || "value", type: "bar", data: rows.map((r) => r.value) }];
  if (compare) series.push({ name: "previous", type: "bar", itemStyle: { opacity: 0.45 }, data: rows.map((r) => previous.get(r.name) ?? 0) });
  return {
    ...baseOption(t),
    tooltip: { trigger: "axis", confine: true },
    xAxis: { type: "category", data: rows.map((r) => r.name), axisLabel: { color: t.muted, rotate: rows.length > 6 ? 30 : 0 } },
    yAxis: { type: "value", axisLabel: { color: t.muted }, splitLine: { lineStyle: { color: t.grid } } },
    series,
  };
}

// Slices: breakdown rows, or each series' figure.
function slices(data) {
  if (data.rows) return data.rows.map((r) => ({ name: r.name, value: r.value }));
  return (data.series || []).map((s) => ({ name: s.name, value: s.value ?? lastValue(s) ?? 0 }));
}

function lastValue(series) {
  for (let i = series.points.length - 1; i >= 0; i--) if (series.points[i][1] !== null) return series.points[i][1];
  return null;
}

function pieOption(widget, data, t) {
  return {
    ...baseOption(t),
    tooltip: { trigger: "item", confine: true },
    series: [{ type: "pie", radius: ["40%", "70%"], top: 20, data: slices(data), label: { color: t.text } }],
  };
}

function heatmapOption(widget, data, t) {
  const series = data.series || [];
  const times = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const index = new Map(times.map((time, i) => [time, i]));
  const cells = [];
  let max = 0;
  series.forEach((s, y) => {
    for (const [time, v] of s.points) {
      if (v === null) continue;
      cells.push([index.get(time), y, v]);
      max = Math.max(max, v);
    }
  });
  const label = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  return {
    ...baseOption(t),
    tooltip: { trigger: "item", confine: true },
    grid: { left: 110, right: 16, top: 12, bottom: 56 },
    xAxis: { type: "category", data: times.map(label), axisLabel: { color: t.muted } },
    yAxis: { type: "category", data: series.map(labeller(series)), axisLabel: { color: t.muted, width: 100, overflow: "truncate" } },
    visualMap: { min: 0, max: max || 1, calculable: false, orient: "horizontal", left: "center", bottom: 0, itemHeight: 80, textStyle: { color: t.muted } },
    series: [{ type: "heatmap", data: cells }],
  };
}

// The gauge's colour bands: thresholds [{value, color}] between min and max.
function gaugeBands(config, min, max) {
  const thresholds = [...(config.thresholds || [])].sort((a, b) => a.value - b.value);
  if (!thresholds.length) return [[1, "#4c8bf5"]];
  const bands = [];
  for (let i = 0; i < thresholds.length; i++) {
    const end = i + 1 < thresholds.length ? thresholds[i + 1].value : max;
    bands.push([Math.min(1, Math.max(0, (end - min) / (max - min || 1))), thresholds[i].color]);
  }
  bands[bands.length - 1][0] = 1;
  return bands;
}

function gaugeOption(widget, data, t) {
  const config = widget.visualization_config || {};
  const value = data.value ?? null;
  const min = config.min ?? 0;
  const max = config.max ?? Math.max(100, Math.ceil((value ?? 0) * 1.25));
  return {
    series: [{
      type: "gauge",
      min,
      max,
      progress: { show: false },
      axisLine: { lineStyle: { width: 14, color: gaugeBands(config, min, max) } },
      splitNumber: 4,
      axisLabel: { color: t.muted, distance: 16, fontSize: 10 },
      pointer: { itemStyle: { color: t.text } },
      detail: { valueAnimation: false, color: t.text, fontSize: 20, formatter: () => formatValue(value, config.unit) },
      data: [{ value: value ?? min }],
    }],
  };
}

async function mapOption(widget, data, t) {
  await worldMap(echarts);
  const rows = data.rows || [];
  const max = Math.max(1, ...rows.map((r) => r.value));
  return {
    tooltip: { trigger: "item", confine: true, formatter: (p) => `${p.name}: ${formatValue(p.value)}` },
    visualMap: { min: 0, max, left: 8, bottom: 8, itemHeight: 80, calculable: false, textStyle: { color: t.muted }, inRange: { color: t.dark ? ["#23344a", "#5aa0ff"] : ["#dbe8fb", "#2763c4"] } },
    series: [{ type: "map", map: "world", roam: true, emphasis: { label: { show: false } }, itemStyle: { areaColor: t.dark ? "#1c2229" : "#f1f3f6", borderColor: t.grid }, data: rows.map((r) => ({ name: r.name, value: r.value })) }],
  };
}

function numberView(el, widget, data, compare, t) {
  const config = widget.visualization_config || {};
  const value = data.value ?? null;
  const wrap = document.createElement("div");
  wrap.className = "number-widget";
  const big = document.createElement("div");
  big.className = "big-number";
  big.textContent = formatValue(value, config.unit);
  const color = thresholdColor(config, value);
  if (color) big.style.color = color;
  wrap.append(big);
  if (compare) {
    const before = compare.value ?? null;
    const change = document.createElement("div");
    change.className = "change";
    if (value !== null && before) {
      const pct = ((value - before) / Math.abs(before)) * 100;
      change.textContent = `${pct >= 0 ? "▲" : "▼"} ${formatValue(Math.abs(pct))} % vs previous`;
      change.dataset.direction = pct >= 0 ? "up" : "down";
    } else {
      change.textContent = "no previous figure";
    }
    wrap.append(change);
  }
  const spark = document.createElement("div");
  spark.className = "sparkline";
  wrap.append(spark);
  el.replaceChildren(wrap);
  const points = data.series?.[0]?.points || [];
  if (points.length < 2) return { chart: null };
  const chart = echarts.init(spark, null, { renderer: "canvas" });
  chart.setOption({
    animation: false,
    grid: { left: 0, right: 0, top: 2, bottom: 2 },
    xAxis: { type: "time", show: false },
    yAxis: { type: "value", show: false, scale: true },
    series: [{ type: "line", showSymbol: false, data: points, lineStyle: { width: 1.5 }, areaStyle: { opacity: 0.15 } }],
  });
  return { chart };
}

function thresholdColor(config, value) {
  if (value === null || !config.thresholds?.length) return "";
  let color = "";
  for (const th of [...config.thresholds].sort((a, b) => a.value - b.value)) if (value >= th.value) color = th.color;
  return color;
}

function tableView(el, widget, data, compare) {
  const config = widget.visualization_config || {};
  const table = document.createElement("table");
  table.className = "widget-table";
  const label = labeller(data.series);
  const rows = data.rows
    ? data.rows.map((r) => [r.name, r.value])
    : (data.series || []).map((s) => [label(s), s.value ?? lastValue(s)]);
  const previous = new Map(
    (compare?.rows || (compare?.series || []).map((s) => ({ name: label(s), value: s.value ?? lastValue(s) }))).map((r) => [r.name, r.value]),
  );
  const head = table.createTHead().insertRow();
  for (const label of compare ? ["Name", "Value", "Previous"] : ["Name", "Value"]) {
    const th = document.createElement("th");
    th.textContent = label;
    head.append(th);
  }
  const body = table.createTBody();
  for (const [name, value] of rows) {
    const tr = body.insertRow();
    tr.insertCell().textContent = name;
    const cell = tr.insertCell();
    cell.textContent = formatValue(value, config.unit);
    cell.className = "num";
    if (compare) {
      const prev = tr.insertCell();
      prev.textContent = formatValue(previous.get(name) ?? null, config.unit);
      prev.className = "num";
    }
  }
  el.replaceChildren(table);
  return { chart: null };
}

// Draws `widget` into `el` from `data` (and `compare`, offsetMs); returns its handle.
export async function render(el, widget, data, compare, offsetMs, { onGroup } = {}) {
  const t = theme();
  if (!data || data.error) {
    const p = document.createElement("p");
    p.className = "widget-error";
    p.textContent = data?.error ? `Cannot draw: ${data.error}` : "No data";
    el.replaceChildren(p);
    return { chart: null };
  }
  if (widget.type === "number") return numberView(el, widget, data, compare, t);
  if (widget.type === "table") return tableView(el, widget, data, compare);
  const empty = !(data.series?.length || data.rows?.length || data.value !== undefined);
  if (empty) {
    el.replaceChildren(Object.assign(document.createElement("p"), { className: "empty", textContent: "Nothing in this range yet" }));
    return { chart: null };
  }
  let option;
  if (TIME_TYPES.has(widget.type)) option = data.rows ? rowsBarOption(widget, data, compare, t) : timeOption(widget, data, compare, offsetMs, t);
  else if (widget.type === "pie_chart") option = pieOption(widget, data, t);
  else if (widget.type === "heatmap") option = heatmapOption(widget, data, t);
  else if (widget.type === "gauge") option = gaugeOption(widget, data, t);
  else option = await mapOption(widget, data, t);
  const holder = document.createElement("div");
  holder.className = "chart";
  el.replaceChildren(holder);
  const chart = echarts.init(holder, null, { renderer: "canvas" });
  chart.setOption(option);
  if (onGroup) {
    chart.on("click", (p) => {
      const series = option.series?.[p.seriesIndex]?.tallyGroup;
      if (series && Object.keys(series.group || {}).length) onGroup(series);
    });
  }
  const previous = (option.series || []).filter((x) => x.lineStyle?.type === "dashed").length;
  return { chart, previous };
}

// Disposes a widget's chart. zrender paints an incremental layer (a heatmap's cells always
// use one) over several frames; a chart disposed before its next frame threw from that frame
// ("reading 'layerStack'"). That frame returns at once when the painter's redraw id has
// moved on, so it is moved on here (a private field of zrender's canvas painter).
export function disposeChart(chart) {
  if (!chart) return;
  const painter = chart.getZr()?.painter;
  chart.dispose();
  if (painter) painter._redrawId = NaN;
}

// A chart's PNG, as a data URL (white or dark background as the page).
export function chartPNG(handle) {
  if (!handle?.chart) return null;
  const background = document.documentElement.dataset.theme === "dark" ? "#14181d" : "#ffffff";
  return handle.chart.getDataURL({ type: "png", pixelRatio: 2, backgroundColor: background });
}
