// One dashboard (/dashboards/<id>): its widgets on the 12-column grid (gridstack), the
// range and comparison controls, live updates, exports, and edit mode (drag to move, the
// corner to resize, add, configure, remove; save with the version read, a 409 shown with
// the edits kept).
//
// Data: one GET /api/v1/dashboards/<id>/data for every widget. While the range ends at
// now, the page follows sockets instead of polling: /ws/metrics for the metrics the
// widgets read, /ws for the sites of the web-analytics widgets; a message schedules one
// reload of the data (at most one a second).

import * as api from "../api.js";
import { render, chartPNG, disposeChart } from "./render.js";
import { WidgetDialog } from "./editor.js";
import { download } from "./download.js";

const $ = (id) => document.getElementById(id);
const RELOAD_MIN_MS = 1000;

// A widget's heading: its title (or its type), with its unit.
function widgetTitle(widget) {
  const unit = widget.visualization_config?.unit;
  const title = widget.title || widget.type.replace("_", " ");
  return unit ? `${title} (${unit})` : title;
}

export class Board {
  constructor(id, { onStatus, onAuth, mayEdit = true }) {
    this.id = id;
    this.mayEdit = mayEdit; // the token's role may change dashboards (else the controls are hidden)
    this.onStatus = onStatus;
    this.onAuth = onAuth;
    this.doc = null; // the stored document (its version is what a save names)
    this.draft = null; // the edited copy in edit mode
    this.editing = false;
    this.handles = new Map(); // widget id -> render handle
    this.data = null;
    this.sockets = [];
    this.reloadTimer = 0;
    this.lastLoad = 0;
    this.dialog = new WidgetDialog();
  }

  async open() {
    this.bindControls();
    const res = await api.send("GET", `/api/v1/dashboards/${this.id}`);
    if (res.status !== 200) throw new Error(res.body?.error || `dashboard ${this.id}: ${res.status}`);
    this.doc = res.body;
    $("board-title").textContent = this.doc.name;
    document.title = `${this.doc.name} · Tally`;
    this.applyDocumentTime();
    this.buildGrid(this.doc.widgets);
    await this.load();
  }

  // The range select starts at the document's "time.from" when it is one of the presets.
  applyDocumentTime() {
    const from = this.doc.time?.from || "now-6h";
    const preset = [...$("range").options].find((o) => o.value === (from === "now/d" ? "now-24h" : from));
    $("range").value = preset ? preset.value : "now-6h";
    $("compare").checked = this.doc.compare && this.doc.compare !== "none";
  }

  bindControls() {
    $("range").addEventListener("change", () => {
      $("custom-range").hidden = $("range").value !== "custom";
      if ($("range").value !== "custom") this.load();
    });
    for (const input of [$("custom-from"), $("custom-to")]) input.addEventListener("change", () => this.load());
    $("compare").addEventListener("change", () => this.load());
    $("edit").addEventListener("click", () => this.startEditing());
    $("cancel").addEventListener("click", () => this.stopEditing(false));
    $("save").addEventListener("click", () => this.save());
    $("add-widget").addEventListener("click", () => this.addWidget());
    $("export-json").addEventListener("click", () => this.exportDocument());
    $("print").addEventListener("click", () => window.print());
    $("delete").addEventListener("click", () => this.remove());
    window.addEventListener("resize", () => this.resizeCharts());
    // Printing lays the widgets out again (dashboards.css): the charts follow.
    matchMedia("print").addEventListener("change", () => this.resizeCharts());
    window.addEventListener("beforeprint", () => this.resizeCharts());
    document.addEventListener("tally-theme", () => this.draw());
  }

  // The /data parameters of the controls.
  params() {
    const p = {};
    const range = $("range").value;
    if (range === "custom") {
      const from = Date.parse($("custom-from").value);
      const to = Date.parse($("custom-to").value);
      if (!Number.isNaN(from)) p.from = String(from);
      if (!Number.isNaN(to)) p.to = String(to);
    } else {
      p.from = range;
      p.to = "now";
    }
    p.compare = $("compare").checked ? "previous_period" : "none";
    return p;
  }

  endsNow() {
    return $("range").value !== "custom";
  }

  async load() {
    this.lastLoad = Date.now();
    const params = this.params();
    this.updateExportLinks(params);
    try {
      this.data = await api.getJSON(`/api/v1/dashboards/${this.id}/data`, params);
      $("board-error").hidden = true;
      this.onStatus("live", this.endsNow() ? "live" : "range");
    } catch (error) {
      if (error instanceof api.AuthError) return this.onAuth();
      $("board-error").textContent = `Could not load the data: ${error.message}`;
      $("board-error").hidden = false;
      this.onStatus("error", "error");
      return;
    }
    await this.draw();
    this.follow();
  }

  updateExportLinks(params) {
    for (const format of ["csv", "xlsx", "json"]) {
      const id = format === "json" ? "export-data-json" : `export-${format}`;
      $(id).href = api.url(`/api/v1/dashboards/${this.id}/data`, { ...params, format }, true);
    }
  }

  widgets() {
    return (this.editing ? this.draft : this.doc).widgets;
  }

  // The grid's items, one per widget, with a header (title, buttons) and a body.
  buildGrid(widgets) {
    if (this.grid) this.grid.destroy(false);
    const host = $("grid");
    host.replaceChildren();
    this.disposeCharts();
    this.grid = window.GridStack.init(
      {
        column: 12,
        cellHeight: 72,
        margin: 6,
        float: true,
        staticGrid: !this.editing,
        disableOneColumnMode: false,
        columnOpts: { breakpoints: [{ w: 700, c: 1 }] },
        resizable: { handles: "se" },
      },
      host,
    );
    for (const widget of widgets) this.addGridItem(widget);
    $("board-empty").hidden = widgets.length > 0;
  }

  addGridItem(widget) {
    const p = widget.position;
    const el = this.grid.addWidget({ x: p.x, y: p.y, w: p.width, h: p.height, id: widget.id });
    const content = el.querySelector(".grid-stack-item-content");
    content.classList.add("widget");
    content.dataset.widget = widget.id;
    content.dataset.type = widget.type;
    const header = document.createElement("div");
    header.className = "widget-header";
    const title = document.createElement("h3");
    title.textContent = widgetTitle(widget);
    const tools = document.createElement("div");
    tools.className = "widget-tools";
    const button = (label, text, fn) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = text;
      b.title = label;
      b.setAttribute("aria-label", `${label}: ${widget.title || widget.id}`);
      b.addEventListener("click", fn);
      tools.append(b);
      return b;
    };
    button("Configure", "⚙", () => this.configure(widget.id)).className = "edit-only";
    // The keyboard's way to do what the mouse does: focus it, then the arrow keys move the
    // widget a cell, Shift and the arrow keys resize it.
    const handle = button("Move or resize (arrow keys move, Shift+arrow keys resize)", "✥", () => {});
    handle.className = "edit-only move-handle";
    handle.addEventListener("keydown", (event) => this.nudge(el, event));
    button("Download CSV", "CSV", () => this.downloadWidget(widget.id, "csv"));
    button("Download JSON", "JSON", () => this.downloadWidget(widget.id, "json"));
    button("Download PNG", "PNG", () => this.downloadWidget(widget.id, "png"));
    header.append(title, tools);
    const body = document.createElement("div");
    body.className = "widget-body";
    content.replaceChildren(header, body);
    return el;
  }

  // Draws run one after another: a reload that lands while the map's shapes load must not
  // interleave with the draw it replaces.
  draw() {
    this.drawing = (this.drawing || Promise.resolve()).then(() => this.drawNow());
    return this.drawing;
  }

  async drawNow() {
    if (!this.data) return;
    this.disposeCharts();
    const byId = new Map(this.data.widgets.map((w) => [w.id, w]));
    const jobs = [];
    for (const widget of this.widgets()) {
      const body = $("grid").querySelector(`[data-widget="${CSS.escape(widget.id)}"] .widget-body`);
      const answer = byId.get(widget.id);
      if (!body) continue;
      if (!answer) {
        body.replaceChildren(Object.assign(document.createElement("p"), { className: "empty", textContent: "Save to see this widget's data" }));
        continue;
      }
      jobs.push(
        render(body, widget, answer.data, answer.compare_data, this.data.offset_ms || 0, {
          onGroup: (series) => this.openGroup(widget, series),
        }).then((handle) => {
          this.handles.set(widget.id, handle);
          body.parentElement.dataset.previousSeries = String(handle.previous || 0);
        }),
      );
    }
    await Promise.all(jobs);
    document.body.dataset.drawn = String(Date.now());
  }

  disposeCharts() {
    for (const handle of this.handles.values()) disposeChart(handle.chart);
    this.handles.clear();
  }

  resizeCharts() {
    for (const handle of this.handles.values()) handle.chart?.resize();
  }

  // A click on a group of a metric chart (an endpoint, a host): that group's series alone,
  // larger, in a dialog where it zooms and pans like any time chart.
  openGroup(widget, series) {
    const title = `${widget.title || widget.id}: ${series.name}`;
    this.showFocus({ ...widget, id: "focus", title }, series);
  }

  async showFocus(widget, series) {
    let dialog = $("focus-dialog");
    if (!dialog) {
      dialog = document.createElement("dialog");
      dialog.id = "focus-dialog";
      dialog.className = "focus-dialog";
      dialog.innerHTML = '<h2></h2><div class="widget-body"></div><form method="dialog"><button>Close</button></form>';
      document.body.append(dialog);
    }
    dialog.querySelector("h2").textContent = widget.title;
    dialog.showModal();
    const handle = await render(dialog.querySelector(".widget-body"), { ...widget, type: "line_chart" }, { series: [series] }, null, 0);
    dialog.addEventListener("close", () => disposeChart(handle.chart), { once: true });
  }

  downloadWidget(id, format) {
    const answer = this.data?.widgets.find((w) => w.id === id);
    if (!answer) return;
    const name = (answer.title || id).replace(/[^\w-]+/g, "-");
    if (format !== "png") {
      const params = { ...this.params(), widget: id, format };
      return download(`${name}.${format}`, "", api.url(`/api/v1/dashboards/${this.id}/data`, params, true));
    }
    const png = chartPNG(this.handles.get(id));
    if (png) download(`${name}.png`, "image/png", png);
  }

  // --- live

  follow() {
    this.unfollow();
    if (!this.endsNow() || this.editing) return;
    const metrics = new Set();
    const sites = new Set();
    const collect = (query) => {
      if (!query) return;
      if (query.formula) return Object.values(query.queries || {}).forEach(collect);
      if (query.source === "analytics") sites.add(query.site);
      else for (const m of [].concat(query.metrics || [])) metrics.add(m);
    };
    this.doc.widgets.forEach((w) => collect(w.query));
    if (metrics.size) {
      const ws = new WebSocket(api.metricsLiveURL(`board-${this.id}-${Math.random().toString(36).slice(2, 8)}`));
      ws.onopen = () => ws.send(JSON.stringify({ type: "subscribe", metrics: [...metrics], window: "10s" }));
      this.onChange(ws);
      this.sockets.push(ws);
    }
    const today = new Date().toISOString().slice(0, 10);
    for (const site of sites) {
      const ws = new WebSocket(api.liveURL(today, site));
      this.onChange(ws);
      this.sockets.push(ws);
    }
  }

  // A socket's first message is the state just loaded (the /ws snapshot, the answer to the
  // subscription); the ones after it are changes.
  onChange(ws) {
    let first = true;
    ws.onmessage = () => {
      if (first) first = false;
      else this.scheduleReload();
    };
  }

  unfollow() {
    for (const ws of this.sockets) ws.close();
    this.sockets = [];
  }

  scheduleReload() {
    if (this.reloadTimer || this.editing) return;
    const wait = Math.max(0, this.lastLoad + RELOAD_MIN_MS - Date.now());
    this.reloadTimer = setTimeout(async () => {
      this.reloadTimer = 0;
      this.lastLoad = Date.now();
      try {
        this.data = await api.getJSON(`/api/v1/dashboards/${this.id}/data`, this.params());
        await this.draw();
      } catch (error) {
        if (error instanceof api.AuthError) this.onAuth();
      }
    }, wait);
  }

  // --- editing

  startEditing() {
    if (!this.mayEdit) return;
    this.editing = true;
    this.unfollow();
    this.draft = structuredClone(this.doc);
    document.body.dataset.mode = "edit";
    this.grid.setStatic(false);
    for (const id of ["add-widget", "save", "cancel"]) $(id).hidden = false;
    $("edit").hidden = true;
  }

  stopEditing(saved) {
    this.editing = false;
    this.draft = null;
    document.body.dataset.mode = "view";
    for (const id of ["add-widget", "save", "cancel"]) $(id).hidden = true;
    $("edit").hidden = false;
    $("conflict").hidden = true;
    this.buildGrid(this.doc.widgets);
    if (saved) this.load();
    else this.draw().then(() => this.follow());
  }

  // One cell's move (arrow keys) or resize (Shift+arrow keys) of the widget `el`, within
  // the 12 columns; the new cell is announced for screen readers.
  nudge(el, event) {
    const steps = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    const step = steps[event.key];
    const node = el.gridstackNode;
    if (!this.editing || !step || !node) return;
    event.preventDefault();
    let { x, y, w, h } = node;
    if (event.shiftKey) {
      w = Math.min(12 - x, Math.max(1, w + step[0]));
      h = Math.max(1, h + step[1]);
    } else {
      x = Math.min(12 - w, Math.max(0, x + step[0]));
      y = Math.max(0, y + step[1]);
    }
    this.grid.update(el, { x, y, w, h });
    const now = el.gridstackNode;
    $("announce").textContent = `${el.querySelector("h3").textContent}: column ${now.x + 1}, row ${now.y + 1}, ${now.w} wide, ${now.h} high`;
  }

  // The draft's positions from the grid (what the mouse or the keys moved).
  readLayout() {
    const byId = new Map(this.draft.widgets.map((w) => [w.id, w]));
    for (const node of this.grid.engine.nodes) {
      const widget = byId.get(node.id);
      if (widget) widget.position = { x: node.x, y: node.y, width: node.w, height: node.h };
    }
  }

  async save(overwrite = false) {
    this.readLayout();
    const body = structuredClone(this.draft);
    if (overwrite && this.conflictVersion) body.version = this.conflictVersion;
    const res = await api.send("PUT", `/api/v1/dashboards/${this.id}`, body);
    if (res.status === 409) return this.showConflict(res.body.current);
    if (res.status !== 200) {
      $("conflict").textContent = `Not saved: ${res.body?.error || res.status}${res.body?.field ? ` (${res.body.field})` : ""}`;
      $("conflict").hidden = false;
      return;
    }
    this.doc = res.body;
    $("board-title").textContent = this.doc.name;
    this.stopEditing(true);
  }

  // Someone saved in between: say so, keep the edits, offer to overwrite or to reload.
  showConflict(current) {
    this.conflictVersion = current.version;
    const box = $("conflict");
    box.replaceChildren(
      `This dashboard was changed elsewhere (now version ${current.version}, “${current.name}”) since you opened version ${this.draft.version}. Your edits are still here.`,
    );
    const overwrite = Object.assign(document.createElement("button"), { type: "button", textContent: "Save mine over it" });
    overwrite.addEventListener("click", () => this.save(true));
    const reload = Object.assign(document.createElement("button"), { type: "button", textContent: "Discard mine and reload" });
    reload.addEventListener("click", () => {
      this.doc = current;
      this.stopEditing(true);
    });
    box.append(" ", overwrite, " ", reload);
    box.hidden = false;
  }

  async addWidget() {
    const taken = new Set(this.draft.widgets.map((w) => w.id));
    let n = 1;
    while (taken.has(`w${n}`)) n++;
    const bottom = Math.max(0, ...this.grid.engine.nodes.map((node) => node.y + node.h));
    const widget = {
      id: `w${n}`,
      type: "line_chart",
      title: "",
      query: { metrics: [] },
      position: { x: 0, y: bottom, width: 6, height: 4 },
      visualization_config: {},
    };
    const edited = await this.dialog.edit(widget, { isNew: true });
    if (!edited) return;
    this.draft.widgets.push(edited);
    this.addGridItem(edited);
    $("board-empty").hidden = true;
    await this.draw();
  }

  async configure(id) {
    if (!this.editing) return;
    this.readLayout();
    const index = this.draft.widgets.findIndex((w) => w.id === id);
    const edited = await this.dialog.edit(this.draft.widgets[index], { isNew: false });
    if (edited === null) return;
    if (edited === "remove") {
      this.draft.widgets.splice(index, 1);
      this.grid.removeWidget(this.grid.engine.nodes.find((node) => node.id === id).el);
    } else {
      this.draft.widgets[index] = edited;
      const content = $("grid").querySelector(`[data-widget="${CSS.escape(id)}"]`);
      content.querySelector("h3").textContent = widgetTitle(edited);
      content.dataset.type = edited.type;
    }
    await this.draw();
  }

  exportDocument() {
    const doc = structuredClone(this.doc);
    for (const key of ["id", "version", "created_at", "updated_at"]) delete doc[key];
    download(`${this.doc.name.replace(/[^\w-]+/g, "-")}.dashboard.json`, "application/json", JSON.stringify(doc, null, 2));
  }

  async remove() {
    if (!this.mayEdit) return;
    if (!confirm(`Delete “${this.doc.name}”? This cannot be undone.`)) return;
    const res = await api.send("DELETE", `/api/v1/dashboards/${this.id}`);
    if (res.status === 204) location.href = "/dashboards";
  }
}
