// The dashboard's data, as pure functions (no DOM, no network): ranges and their time
// bounds, and the /ws protocol's delta rule.
//
// A range is what /dashboard/<range> takes: "today", a UTC day "YYYY-MM-DD", an ISO week
// "YYYY-Www" or a month "YYYY-MM". Its bounds are [from, to) in epoch milliseconds, UTC,
// and its chart has one bucket per minute (a day) or per day (a week or a month).
//
// applyDelta() turns a snapshot plus the deltas after it into what /dashboard says
// (the /ws contract): additive counters add, top-list members take their new totals and each
// list keeps its 10 best (count descending, ties by name), the uniques are absolute.

export const MINUTE = 60_000;
export const DAY = 86_400_000;
export const TOP_N = 10;

export function utcDay(ms = Date.now()) {
  return new Date(ms).toISOString().slice(0, 10);
}

export function rangeKind(range) {
  if (range === "today" || /^\d{4}-\d{2}-\d{2}$/.test(range)) return "day";
  if (/^\d{4}-W\d{2}$/.test(range)) return "week";
  if (/^\d{4}-\d{2}$/.test(range)) return "month";
  return null;
}

// Monday 00:00 UTC of ISO week `week` of `year`: week 1 holds January 4th.
function isoWeekStart(year, week) {
  const jan4 = Date.UTC(year, 0, 4);
  const mondayOfWeek1 = jan4 - ((new Date(jan4).getUTCDay() + 6) % 7) * DAY;
  return mondayOfWeek1 + (week - 1) * 7 * DAY;
}

export function rangeBounds(range, now = Date.now()) {
  switch (rangeKind(range)) {
    case "day": {
      const from = Date.parse((range === "today" ? utcDay(now) : range) + "T00:00:00Z");
      return { from, to: from + DAY, bucket: MINUTE };
    }
    case "week": {
      const from = isoWeekStart(Number(range.slice(0, 4)), Number(range.slice(6)));
      return { from, to: from + 7 * DAY, bucket: DAY };
    }
    case "month": {
      const y = Number(range.slice(0, 4)), m = Number(range.slice(5)) - 1;
      return { from: Date.UTC(y, m, 1), to: Date.UTC(y, m + 1, 1), bucket: DAY };
    }
    default:
      return null;
  }
}

// True when the range holds the current UTC day (real-time users mean something).
export function rangeHoldsToday(range, now = Date.now()) {
  const b = rangeBounds(range, now);
  return b !== null && b.from <= now && now < b.to;
}

function compareTop(a, b) {
  return b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
}

// Members [name, new_total] into a top list of [name, count]: replace or add, keep TOP_N.
export function mergeTop(list, changed) {
  const byName = new Map(list);
  for (const [name, total] of changed) byName.set(name, total);
  return [...byName].sort(compareTop).slice(0, TOP_N);
}

function addCounts(into, increments) {
  const out = { ...into };
  for (const [k, n] of Object.entries(increments)) out[k] = (out[k] || 0) + n;
  return out;
}

// A new metrics object: `m` (the /dashboard JSON) with delta frame `d` applied.
export function applyDelta(m, d) {
  return {
    ...m,
    page_views: m.page_views + (d.page_views || 0),
    devices: d.devices ? addCounts(m.devices, d.devices) : m.devices,
    events: d.events ? addCounts(m.events, d.events) : m.events,
    properties: d.properties ?? m.properties,
    top_pages: d.pages ? mergeTop(m.top_pages, d.pages) : m.top_pages,
    top_referrers: d.referrers ? mergeTop(m.top_referrers, d.referrers) : m.top_referrers,
    countries: d.countries ? mergeTop(m.countries, d.countries) : m.countries,
    unique_visitors: d.unique_visitors ?? m.unique_visitors,
    unique_sessions: d.unique_sessions ?? m.unique_sessions,
    real_time_users: d.real_time_users ?? m.real_time_users,
    real_time_users_capped: d.real_time_users_capped ?? m.real_time_users_capped,
  };
}

// Page views of a delta placed in chart buckets: each `recent` page view in its own
// bucket, and those `recent` left out (it holds at most 50) in the bucket of `now`.
// Returns [[bucketIndex, n], ...]; the periodic re-fetch corrects any approximation.
export function deltaBuckets(d, bounds, now = Date.now()) {
  const out = new Map();
  const put = (ts, n) => {
    if (ts < bounds.from || ts >= bounds.to || n <= 0) return;
    const i = Math.floor((ts - bounds.from) / bounds.bucket);
    out.set(i, (out.get(i) || 0) + n);
  };
  let placed = 0;
  for (const e of d.recent || []) {
    if (e.type !== "pageview") continue;
    put(e.ts, 1);
    placed++;
  }
  put(now, (d.page_views || 0) - placed);
  return [...out];
}

const NUMBER = new Intl.NumberFormat("en-US");
export function formatCount(n) {
  if (n === undefined || n === null) return "–";
  if (n >= 10_000_000) return (n / 1_000_000).toFixed(1) + "M";
  return NUMBER.format(n);
}
