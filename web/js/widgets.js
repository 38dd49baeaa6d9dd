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

// Each event's name is a button: `onPick(name)` shows its properties; `picked` is marked.
export function eventBars(list, events = {}, picked = "", onPick = null) {
  const rows = Object.entries(events).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  bars(list, rows, "No custom events yet");
  if (!onPick) return;
  list.querySelectorAll("li:not(.empty)").forEach((li, i) => {
    const name = rows[i][0];
    const button = el("button", "pick", name);
    button.type = "button";
    button.title = `Properties of ${name}`;
    button.setAttribute("aria-pressed", String(name === picked));
    button.addEventListener("click", () => onPick(name === picked ? "" : name));
    li.querySelector(".name").replaceChildren(button);
  });
}

// An event's property breakdown (/dashboard's "properties"): per key, its values with
// their counts (visitors in the tooltip) and the values past the key's cap as "(other)".
export function propertyTables(container, properties) {
  const keys = properties?.keys || [];
  if (keys.length === 0) {
    container.replaceChildren(el("p", "muted", "No properties sent with this event in this range."));
    return;
  }
  const blocks = keys.map((key) => {
    const rows = key.values.map((v) => [v.value, v.count, v.visitors]);
    if (key.other.count > 0) rows.push([`(other: ${key.distinct_values}+ values)`, key.other.count, key.other.visitors]);
    const block = el("div", "prop");
    const head = el("h3", "", key.key);
    head.append(el("small", "muted", ` ${formatCount(key.count)} · ${formatCount(key.visitors)} visitors`));
    const list = el("ol", "bars");
    bars(list, rows.map(([name, n]) => [name, n]));
    list.querySelectorAll("li:not(.empty)").forEach((li, i) => {
      li.title = `${rows[i][0]}: ${rows[i][1]} events, ${rows[i][2]} visitors`;
    });
    block.append(head, list);
    return block;
  });
  if (properties.keys_not_broken_down > 0)
    blocks.push(el("p", "muted", `${formatCount(properties.keys_not_broken_down)} values of further keys not broken down (at most 30 keys an event).`));
  container.replaceChildren(...blocks);
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
