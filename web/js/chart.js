// Page views over the chosen range, drawn with uPlot: per minute for a day (a filled
// line of 1,440 points), per day for a week or a month (bars). The x values are bucket
// starts in seconds (uPlot's unit), shown in UTC like every date in Tally.
//
// The series is owned here: setSeries() replaces it with what /timeseries said, bump()
// adds live increments, and the container's data-sum / data-points attributes state what
// is drawn, data-exact whether it is the server's series unchanged since (the browser
// tests read them).

// uPlot's minified build (51 KB, against 145 KB for its unminified ES module) is loaded
// by index.html as a classic script, which defines window.uPlot.
const { uPlot } = window;

const utc = (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC");

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

export class PageViewChart {
  constructor(el) {
    this.el = el;
    this.plot = null;
    this.bounds = null;
    this.x = [];
    this.y = [];
    this.exact = false;
    this.pending = false;
    new ResizeObserver(() => this.resize()).observe(el);
  }

  size() {
    const width = Math.max(200, this.el.clientWidth);
    return { width, height: width < 500 ? 180 : 240 };
  }

  resize() {
    if (this.plot) this.plot.setSize(this.size());
  }

  // A new range: empty buckets and a new plot (the bar or line style depends on it).
  setRange(bounds) {
    this.bounds = bounds;
    const n = Math.round((bounds.to - bounds.from) / bounds.bucket);
    this.x = Array.from({ length: n }, (_, i) => (bounds.from + i * bounds.bucket) / 1000);
    this.y = new Array(n).fill(0);
    this.exact = false;
    this.rebuild();
  }

  // Colours come from the page's CSS variables, so a theme change rebuilds the plot.
  rebuild() {
    if (!this.bounds) return;
    if (!uPlot) {
      // web/node_modules is missing: the figures still work, the chart says why it cannot.
      this.el.textContent = "The chart library is not installed (run scripts/install-deps.sh).";
      return;
    }
    this.plot?.destroy();
    const perDay = this.bounds.bucket >= 86_400_000;
    const stroke = cssVar("--accent");
    const grid = cssVar("--grid");
    const text = cssVar("--muted");
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    this.plot = new uPlot(
      {
        ...this.size(),
        tzDate: utc,
        cursor: { drag: { x: false, y: false } },
        legend: { show: true, live: true },
        // Bars are centred on their day, so the x scale reaches half a day past each end.
        scales: {
          x: perDay ? { time: true, range: (u, min, max) => [min - 43_200, max + 43_200] } : { time: true },
          y: { range: (u, min, max) => [0, Math.max(4, max * 1.1)] },
        },
        axes: [
          perDay
            ? { ...axis, values: "{MMM} {D}", incrs: [86_400, 2 * 86_400, 7 * 86_400], space: 44 }
            : { ...axis, values: "{HH}:{mm}" },
          { ...axis, size: 48, values: (u, ticks) => ticks.map((t) => (Number.isInteger(t) ? t : "")) },
        ],
        series: [
          { value: perDay ? "{YYYY}-{MM}-{DD}" : "{YYYY}-{MM}-{DD} {HH}:{mm} UTC" },
          {
            label: perDay ? "Page views per day" : "Page views per minute",
            stroke,
            width: perDay ? 0 : 1.5,
            fill: perDay ? stroke : cssVar("--accent-fill"),
            points: { show: false },
            paths: perDay ? uPlot.paths.bars({ size: [0.7, 48] }) : undefined,
          },
        ],
      },
      this.shown(),
      this.el,
    );
    this.mark();
  }

  // Points of /timeseries: [{timestamp, value}], bucket starts as RFC 3339.
  setSeries(points) {
    if (!this.bounds) return;
    this.y.fill(0);
    for (const p of points) {
      const i = Math.round((Date.parse(p.timestamp) - this.bounds.from) / this.bounds.bucket);
      if (i >= 0 && i < this.y.length) this.y[i] = p.value;
    }
    this.exact = true;
    this.redraw();
  }

  // Live increments: [[bucketIndex, n], ...].
  bump(pairs) {
    for (const [i, n] of pairs) if (i >= 0 && i < this.y.length) this.y[i] += n;
    this.exact = false;
    this.redraw();
  }

  // The series as drawn: it stops at now. Buckets still to come are gaps, not zeros (a
  // flat zero line to midnight reads as a collapse).
  shown(now = Date.now()) {
    const last = Math.floor((now - this.bounds.from) / this.bounds.bucket);
    return [this.x, this.y.map((v, i) => (i > last ? null : v))];
  }

  // At most one redraw per animation frame, however many deltas arrive.
  redraw() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.plot?.setData(this.shown());
      this.mark();
    });
  }

  mark() {
    this.el.dataset.points = String(this.y.length);
    this.el.dataset.sum = String(this.y.reduce((a, b) => a + b, 0));
    this.el.dataset.exact = String(this.exact);
  }
}
