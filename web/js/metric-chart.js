// One metric over time, drawn with uPlot: a line per 10-second window over the last 15
// minutes, gaps where a window had no points (the query's nulls). The x values are window
// starts in seconds (uPlot's unit), shown in UTC like every time in Tally.
//
// The container's data-points / data-drawn attributes say how many windows there are and
// how many hold a value, data-metric what is drawn (the browser tests read them).

const { uPlot } = window;

const utc = (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC");

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// The indices of the values with no value either side, or null when there are none.
function isolated(y) {
  const idxs = [];
  for (let i = 0; i < y.length; i++) if (y[i] !== null && y[i - 1] == null && y[i + 1] == null) idxs.push(i);
  return idxs.length ? idxs : null;
}

export class MetricChart {
  constructor(el, format) {
    this.el = el;
    this.format = format; // value -> text, for the axis and the legend
    this.plot = null;
    this.label = "";
    this.x = [];
    this.y = [];
    new ResizeObserver(() => this.plot?.setSize(this.size())).observe(el);
  }

  size() {
    const width = Math.max(200, this.el.clientWidth);
    return { width, height: width < 500 ? 200 : 260 };
  }

  // A /query answer from MetricsSource: every window of [from, to), null where empty
  // (0 for what counts: no points in a window is a count of 0).
  set({ name, aggregation, from, to, step, points }, label) {
    const counted = ["sum", "count", "rate", "unique"].includes(aggregation);
    const n = Math.round((to - from) / step);
    this.x = Array.from({ length: n }, (_, i) => (from + i * step) / 1000);
    this.y = new Array(n).fill(counted ? 0 : null);
    for (const p of points) {
      const i = Math.round((p.t - from) / step);
      if (i >= 0 && i < n && p.value !== null) this.y[i] = p.value;
    }
    const metric = `${name} ${aggregation}`;
    if (!this.plot || label !== this.label || this.el.dataset.metric !== metric) {
      this.label = label;
      this.el.dataset.metric = metric;
      this.rebuild();
    } else {
      this.plot.setData([this.x, this.y]);
    }
    this.mark();
  }

  // Colours come from the page's CSS variables, so a theme change rebuilds the plot.
  rebuild() {
    if (!this.label) return;
    if (!uPlot) {
      this.el.textContent = "The chart library is not installed (run scripts/install-deps.sh).";
      return;
    }
    this.plot?.destroy();
    const stroke = cssVar("--accent");
    const grid = cssVar("--grid");
    const axis = { stroke: cssVar("--muted"), grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const fmt = (v) => (v === null || v === undefined ? "–" : this.format(v));
    this.plot = new uPlot(
      {
        ...this.size(),
        tzDate: utc,
        cursor: { drag: { x: false, y: false } },
        legend: { show: true, live: true },
        scales: { x: { time: true }, y: { range: (u, min, max) => [Math.min(0, min ?? 0), Math.max(1, (max ?? 0) * 1.1)] } },
        axes: [
          { ...axis, values: "{HH}:{mm}" },
          { ...axis, size: 60, values: (u, ticks) => ticks.map(fmt) },
        ],
        series: [
          { value: "{YYYY}-{MM}-{DD} {HH}:{mm}:{ss} UTC" },
          {
            label: this.label,
            stroke,
            width: 1.75,
            fill: cssVar("--accent-fill"),
            // A window between two empty ones has no line to be part of: a dot shows it.
            points: { show: false, size: 5, fill: stroke, filter: (u) => isolated(u.data[1]) },
            spanGaps: false,
            value: (u, v) => fmt(v),
          },
        ],
      },
      [this.x, this.y],
      this.el,
    );
  }

  mark() {
    this.el.dataset.points = String(this.y.length);
    this.el.dataset.drawn = String(this.y.filter((v) => v !== null).length);
  }
}
