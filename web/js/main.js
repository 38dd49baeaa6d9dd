// The dashboard page: the pickers, the live connection and the drawing, wired together.
//
// What is shown is `metrics` (the /dashboard/<range> JSON, kept up to date by /ws
// deltas) and the chart's series (/timeseries/pageviews, bumped by the same deltas and
// re-read at most every SERIES_REFRESH_MS while they arrive, so it stays exact). The
// choice of site and range lives in the address (?site=&range=) so that a reload or a
// shared link shows the same thing; sites used before are offered in a list.

import * as api from "./api.js";
import { PageViewChart } from "./chart.js";
import * as session from "./session.js";
import { Live } from "./live.js";
import { MetricsView } from "./metrics-view.js";
import { applyDelta, deltaBuckets, rangeBounds, rangeHoldsToday, rangeKind, utcDay } from "./model.js";
import * as w from "./widgets.js";

const SERIES_REFRESH_MS = 5_000;
// When a delta's page views outnumber its `recent` list (at most 50), the rest were put
// in the current minute for want of their times: re-read the series sooner.
const SERIES_REFRESH_APPROX_MS = 1_000;
const SITES_KEY = "tally_sites";
const SITE_KEY = "tally_site";
const THEME_KEY = "tally_theme";

const $ = (id) => document.getElementById(id);

const view = {
  site: "default",
  range: "today",
  props: "",
  bounds: null,
  metrics: null,
  live: null,
  seriesTimer: 0,
  seriesLast: 0,
  seriesDue: 0,
  seriesAbort: null,
  drawQueued: false,
};

const chart = new PageViewChart($("chart"));
const metricsView = new MetricsView({ onAuth: () => session.askToken() });

function stored(key, fallback) {
  try {
    return localStorage.getItem(key) ?? fallback;
  } catch {
    return fallback;
  }
}

function store(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    // No storage (private mode): the choice lasts for this page only.
  }
}

// ---- Ranges and pickers ---------------------------------------------------------

function isoWeek(ms) {
  const d = new Date(ms);
  const thursday = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 3 - ((d.getUTCDay() + 6) % 7));
  const year = new Date(thursday).getUTCFullYear();
  const week = 1 + Math.floor((thursday - Date.UTC(year, 0, 1)) / (7 * 86_400_000));
  return `${year}-W${String(week).padStart(2, "0")}`;
}

const PICKER = { day: "date", week: "week", month: "month" };

function defaultValue(kind) {
  const today = utcDay();
  return kind === "day" ? today : kind === "week" ? isoWeek(Date.now()) : today.slice(0, 7);
}

function showPicker(kind, value) {
  const input = $("when");
  $("kind").value = kind;
  input.type = PICKER[kind];
  input.value = value === "today" ? utcDay() : value;
}

function pickedRange() {
  const kind = $("kind").value;
  const value = $("when").value || defaultValue(kind);
  return kind === "day" && value === utcDay() ? "today" : value;
}

function rememberSite(site) {
  store(SITE_KEY, site);
  let sites = [];
  try {
    sites = JSON.parse(stored(SITES_KEY, "[]"));
  } catch {
    sites = [];
  }
  sites = [site, ...sites.filter((s) => s !== site)].slice(0, 20);
  store(SITES_KEY, JSON.stringify(sites));
  $("sites").replaceChildren(...sites.map((s) => Object.assign(document.createElement("option"), { value: s })));
}

// ---- Drawing -----------------------------------------------------------------------

function draw() {
  if (view.drawQueued) return;
  view.drawQueued = true;
  requestAnimationFrame(() => {
    view.drawQueued = false;
    const m = view.metrics;
    if (!m) return;
    w.setNumber($("page-views"), m.page_views);
    w.setNumber($("unique-visitors"), m.unique_visitors);
    w.setNumber($("unique-sessions"), m.unique_sessions);
    w.setNumber($("real-time-users"), rangeHoldsToday(view.range) ? m.real_time_users : null);
    // The server held no more sessions than its budget (limits.active_sessions): at least.
    const capped = Boolean(m.real_time_users_capped) && rangeHoldsToday(view.range);
    $("real-time-users").classList.toggle("capped", capped);
    $("real-time-users").title = capped
      ? "At least this many: more sessions arrived than the server's budget holds (limits.active_sessions)"
      : "";
    w.bars($("top-pages"), m.top_pages);
    w.bars($("top-referrers"), m.top_referrers);
    w.bars($("countries"), m.countries);
    w.deviceBars($("devices"), m.devices);
    w.eventBars($("events"), m.events, view.props, pickEvent);
    $("props-card").hidden = !view.props;
    if (view.props) {
      $("props-event").textContent = view.props;
      w.propertyTables($("props"), m.properties);
    }
    $("approx").hidden = !(m.top_error_bound > 0);
    $("approx").textContent = `top lists ±${m.top_error_bound}`;
  });
}

async function fetchSeries() {
  view.seriesTimer = 0;
  view.seriesLast = Date.now();
  view.seriesAbort?.abort();
  const abort = (view.seriesAbort = new AbortController());
  try {
    chart.setSeries(await api.pageviewSeries(view.bounds, view.site, abort.signal));
  } catch {
    // The live connection reports the server's state; the next delta retries.
  }
}

// Re-read the series soon, but not more than once per `every` ms.
function refreshSeriesSoon(every = SERIES_REFRESH_MS) {
  const due = Math.max(Date.now(), view.seriesLast + every);
  if (view.seriesTimer && view.seriesDue <= due) return;
  clearTimeout(view.seriesTimer);
  view.seriesDue = due;
  view.seriesTimer = setTimeout(fetchSeries, due - Date.now());
}

const STATUS_TEXT = {
  connecting: "connecting",
  live: "live",
  polling: "polling",
  reconnecting: "reconnecting",
  auth: "token needed",
};

function showStatus(state, detail) {
  const s = $("status");
  s.dataset.state = state;
  if (state === "stale") {
    s.querySelector(".label").textContent = `stale: ${detail} s old`;
    s.title = `The fleet's last good figures, ${detail} s old: Redis cannot be read now.`;
  } else {
    s.querySelector(".label").textContent = STATUS_TEXT[state] || state;
    s.title = detail || "";
  }
  if (state === "auth") session.askToken();
  if (state === "polling" && $("feed").querySelector(".empty"))
    w.clearFeed($("feed"), "No live feed for this range yet: figures are read every 5 s.");
}

// ---- The live connection ------------------------------------------------------------

function start() {
  view.live?.stop();
  clearTimeout(view.seriesTimer);
  view.seriesTimer = 0;
  view.metrics = null;
  view.bounds = rangeBounds(view.range);
  if (view.range === "today") $("when").value = utcDay();
  const u = new URL(location.href);
  u.searchParams.set("site", view.site);
  u.searchParams.set("range", view.range);
  if (view.props) u.searchParams.set("props", view.props);
  else u.searchParams.delete("props");
  history.replaceState(null, "", u);
  $("csv").href = api.url(`/dashboard/${view.range}`, { format: "csv", site: view.site }, true);
  $("chart-title").textContent = rangeKind(view.range) === "day" ? "Page views per minute (UTC)" : "Page views per day";
  w.clearFeed($("feed"), "Waiting for events…");
  chart.setRange(view.bounds);
  fetchSeries();

  view.live = new Live({
    range: view.range,
    site: view.site,
    props: view.props,
    onStatus: showStatus,
    onSnapshot(metrics) {
      view.metrics = metrics;
      draw();
      refreshSeriesSoon();
    },
    onDelta(delta) {
      // Past midnight UTC "today" is a new day: start again from its snapshot.
      if (view.range === "today" && delta.date && view.metrics?.date && delta.date !== view.metrics.date) {
        start();
        return;
      }
      view.metrics = applyDelta(view.metrics, delta);
      draw();
      chart.bump(deltaBuckets(delta, view.bounds));
      w.feed($("feed"), delta.recent);
      const timed = (delta.recent || []).filter((e) => e.type === "pageview").length;
      refreshSeriesSoon((delta.page_views || 0) > timed ? SERIES_REFRESH_APPROX_MS : SERIES_REFRESH_MS);
    },
  });
  view.live.start();
}

// An event picked in the list: its property breakdown comes with the figures (REST and
// /ws), so the connection starts again with it.
function pickEvent(name) {
  view.props = name;
  start();
}

$("props-close").addEventListener("click", () => pickEvent(""));

function choose() {
  const site = $("site").value.trim() || "default";
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(site)) {
    $("site").setCustomValidity("letters, digits, . _ - (at most 64)");
    $("site").reportValidity();
    return;
  }
  $("site").setCustomValidity("");
  view.site = site;
  view.range = pickedRange();
  rememberSite(site);
  start();
}

// ---- Tabs: web analytics or metrics ---------------------------------------------------

function showView(name) {
  const metrics = name === "metrics";
  $("tab-web").setAttribute("aria-selected", String(!metrics));
  $("tab-metrics").setAttribute("aria-selected", String(metrics));
  $("web-view").hidden = metrics;
  document.querySelector(".controls").hidden = metrics;
  $("metrics-view").hidden = !metrics;
  if (metrics) metricsView.show();
  else metricsView.hide();
  const u = new URL(location.href);
  if (metrics) u.searchParams.set("view", "metrics");
  else u.searchParams.delete("view");
  history.replaceState(null, "", u);
}

$("tab-web").addEventListener("click", () => showView("web"));
$("tab-metrics").addEventListener("click", () => showView("metrics"));

// ---- Theme --------------------------------------------------------------------------

const dark = matchMedia("(prefers-color-scheme: dark)");

function applyTheme() {
  const theme = stored(THEME_KEY, "") || (dark.matches ? "dark" : "light");
  document.documentElement.dataset.theme = theme;
  $("theme").setAttribute("aria-pressed", String(theme === "dark"));
  chart.rebuild();
  metricsView.rebuild();
}

$("theme").addEventListener("click", () => {
  store(THEME_KEY, document.documentElement.dataset.theme === "dark" ? "light" : "dark");
  applyTheme();
});
dark.addEventListener("change", applyTheme);

// ---- Start ----------------------------------------------------------------------------

$("kind").addEventListener("change", () => {
  showPicker($("kind").value, defaultValue($("kind").value));
  choose();
});
$("when").addEventListener("change", choose);
$("site").addEventListener("change", choose);
$("today").addEventListener("click", () => {
  showPicker("day", "today");
  choose();
});

{
  const params = new URLSearchParams(location.search);
  const range = params.get("range") || "today";
  view.range = rangeKind(range) ? range : "today";
  const site = params.get("site") || stored(SITE_KEY, "default");
  view.site = /^[A-Za-z0-9._-]{1,64}$/.test(site) ? site : "default";
  const props = params.get("props") || "";
  view.props = /^[A-Za-z0-9_.:-]{1,64}$/.test(props) ? props : "";
  $("site").value = view.site;
  showPicker(rangeKind(view.range), view.range);
  rememberSite(view.site);
  applyTheme();
  // Once the token is known (after a sign-in, again); an ingest token reads nothing.
  let first = true;
  session.begin((who) => {
    if (!session.mayRead(who)) return;
    start();
    if (first) showView(params.get("view") === "metrics" ? "metrics" : "web");
    else if (!$("metrics-view").hidden) {
      metricsView.hide();
      metricsView.show();
    }
    first = false;
  }, { onRefused: () => showStatus("auth") });
}
