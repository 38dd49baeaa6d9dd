// Drawing the figures into the page. Every name shown (page paths, referrers, event
// names) comes from the public tracking API, so text is only ever set with textContent.

import { formatCount } from "./model.js";

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function setNumber(node, n) {
  const text = formatCount(n);
  if (node.textContent === text) return;
  node.textContent = text;
  node.dataset.value = n ?? "";
  // A short flash says "this just changed" without moving anything; at most one every
  // FLASH_EVERY_MS, or a busy site would keep the figure in the flash colour.
  const now = performance.now();
  if (now - (flashed.get(node) ?? -Infinity) < FLASH_EVERY_MS) return;
  flashed.set(node, now);
  node.classList.remove("bump");
  void node.offsetWidth;
  node.classList.add("bump");
}

const FLASH_EVERY_MS = 2_000;
const flashed = new WeakMap();

// Rows of [name, count] with a bar proportional to the largest count.
export function bars(list, rows, empty = "Nothing yet") {
  const max = rows.reduce((m, [, n]) => Math.max(m, n), 0);
  const total = rows.reduce((s, [, n]) => s + n, 0);
  const items = rows.map(([name, n]) => {
    const li = el("li");
    li.style.setProperty("--share", max > 0 ? (n / max).toFixed(4) : "0");
    li.title = `${name}: ${n}${total ? ` (${((100 * n) / total).toFixed(1)} %)` : ""}`;
    li.append(el("span", "name", name), el("span", "count", formatCount(n)));
    return li;
  });
  if (items.length === 0) items.push(el("li", "empty", empty));
  list.replaceChildren(...items);
}

export function deviceBars(list, devices = {}) {
  const rows = ["desktop", "mobile", "tablet"].map((d) => [d, devices[d] || 0]);
  bars(list, rows);
}

export function eventBars(list, events = {}) {
  const rows = Object.entries(events).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  bars(list, rows, "No custom events yet");
}

const FEED_MAX = 50;
const TIME = new Intl.DateTimeFormat("en-GB", {
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  timeZone: "UTC",
});

// Newest first; the list keeps FEED_MAX entries.
export function feed(list, recent) {
  if (!recent?.length) return;
  list.querySelector(".empty")?.remove();
  const items = recent
    .slice(-FEED_MAX)
    .reverse()
    .map((e) => {
      const li = el("li", e.type);
      const time = el("time", "", TIME.format(new Date(e.ts)));
      time.dateTime = new Date(e.ts).toISOString();
      li.append(
        time,
        el("span", "kind", e.type === "pageview" ? "view" : "event"),
        el("span", "what", e.type === "pageview" ? e.page : e.name),
        el("span", "where", [e.country, e.device].filter(Boolean).join(" · ")),
      );
      return li;
    });
  list.prepend(...items);
  while (list.children.length > FEED_MAX) list.lastElementChild.remove();
}

export function clearFeed(list, text) {
  list.replaceChildren(el("li", "empty", text));
}
