// Where the metrics view gets its data: the one module that talks to the metrics API, so
// that polling can later give way to WS /ws/metrics without touching the drawing.
//
// Today it polls: every LIST_EVERY_MS the names (GET /api/v1/metrics) and each one's
// current figures (GET /api/v1/metrics/<name>/current, the name's own window), and every
// SERIES_EVERY_MS the chosen metric over the last CHART_SPAN_MS in 10-second windows
// (POST /api/v1/query). A slow answer is never overtaken: the next read starts after it.
//
//   onList([{name, type, series, current}])   current: the /current JSON, or null
//   onSeries({name, aggregation, from, to, step, points: [{t (ms), value | null}]})
//   onError(error)                            an api.AuthError when the token is refused

import * as api from "./api.js";

export const LIST_EVERY_MS = 5_000;
export const SERIES_EVERY_MS = 5_000;
export const CHART_SPAN_MS = 15 * 60_000;
export const CHART_STEP_MS = 10_000;
// /current is one request per name: beyond this many names only the list is read.
const MAX_CURRENT = 100;

export class MetricsSource {
  constructor({ onList, onSeries, onError }) {
    this.onList = onList;
    this.onSeries = onSeries;
    this.onError = onError;
    this.chosen = null; // {name, aggregation}
    this.running = false;
    this.timers = { list: 0, series: 0 };
    this.abort = null;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    this.readList();
    this.readSeries();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timers.list);
    clearTimeout(this.timers.series);
    this.abort?.abort();
  }

  // The chart's metric and aggregation; read at once.
  choose(name, aggregation) {
    this.chosen = name ? { name, aggregation } : null;
    if (!this.running) return;
    clearTimeout(this.timers.series);
    this.readSeries();
  }

  async readList() {
    const signal = this.abort.signal;
    try {
      const { metrics } = await api.getJSON("/api/v1/metrics", {}, signal);
      const currents = await Promise.all(
        metrics.map((m, i) => (i < MAX_CURRENT ? current(m.name, signal) : null)),
      );
      if (signal.aborted) return;
      this.onList(metrics.map((m, i) => ({ ...m, current: currents[i] })));
    } catch (e) {
      if (!signal.aborted) this.onError(e);
    }
    this.again("list", () => this.readList(), LIST_EVERY_MS);
  }

  async readSeries() {
    const signal = this.abort.signal;
    const chosen = this.chosen;
    if (chosen) {
      try {
        const answer = await series(chosen.name, chosen.aggregation, signal);
        // A choice made while this was read wins.
        if (!signal.aborted && this.chosen === chosen) this.onSeries(answer);
      } catch (e) {
        if (!signal.aborted) this.onError(e);
      }
    }
    if (this.chosen === chosen) this.again("series", () => this.readSeries(), SERIES_EVERY_MS);
  }

  again(which, read, ms) {
    if (!this.running) return;
    clearTimeout(this.timers[which]);
    this.timers[which] = setTimeout(read, ms);
  }
}

// The /current figures of `name`, or null when it went away meanwhile (404).
async function current(name, signal) {
  try {
    return await api.getJSON(`/api/v1/metrics/${encodeURIComponent(name)}/current`, {}, signal);
  } catch (e) {
    if (e instanceof api.AuthError) throw e;
    return null;
  }
}

// The last CHART_SPAN_MS of `name` in CHART_STEP_MS windows, the current one included.
async function series(name, aggregation, signal) {
  const to = Math.ceil((Date.now() + 1) / CHART_STEP_MS) * CHART_STEP_MS;
  const from = to - CHART_SPAN_MS;
  const body = {
    metrics: [name],
    aggregation,
    window: "10s",
    start_time: new Date(from).toISOString(),
    end_time: new Date(to).toISOString(),
  };
  const { results } = await api.postJSON("/api/v1/query", body, signal);
  const points = (results[0]?.points || []).map((p) => ({ t: Date.parse(p.timestamp), value: p.value }));
  return { name, aggregation, from, to, step: CHART_STEP_MS, points };
}
