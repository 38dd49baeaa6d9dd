// A benchmark, not a test: how long from POST /track/pageview to the new figure on the
// dashboard in Chromium (tallyd's live.batch_ms, the /ws frame, the page's drawing).
//
//   node tests/browser/latency-bench.mjs [events]      (default 200; needs a build)
//
// The page stamps each change of the page-views figure with Date.now() (a
// MutationObserver), so the node side's polling adds nothing to the figures.
// Same machine, so the page's and node's Date.now() are the same clock.

import { launchBrowser, newPage, Tallyd, waitFor } from "./support.mjs";

const events = Number(process.argv[2] || 200);

// A minimal stand-in for node:test's context: cleanups run at the end, last first.
const cleanups = [];
const t = { after: (fn) => cleanups.push(fn) };

try {
  const tallyd = await Tallyd.start(t);
  const browser = await launchBrowser(t);
  const page = await newPage(browser);
  await page.goto(`${tallyd.base}/`);
  await page.waitForSelector('#status[data-state="live"]');
  await page.evaluate(() => {
    window.seen = new Map();
    const node = document.getElementById("page-views");
    new MutationObserver(() => window.seen.set(Number(node.dataset.value), Date.now())).observe(node, {
      attributes: true,
      attributeFilter: ["data-value"],
    });
  });

  const latencies = [];
  for (let i = 1; i <= events; i++) {
    // A random pause, so that events fall at every phase of the server's batch timer
    // (one at a time right after a frame would all wait nearly a whole batch).
    await new Promise((r) => setTimeout(r, Math.random() * 100));
    const sent = Date.now();
    await tallyd.post("/track/pageview", { page_url: `/p${i % 10}`, session_id: `s${i}` });
    const shown = await waitFor(() => page.evaluate((n) => window.seen.get(n), i), {
      interval: 5,
      what: `page view ${i} on the page`,
    });
    latencies.push(shown - sent);
  }
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  console.log(
    `${events} page views, one at a time: POST -> figure on the page ` +
      `p50 ${q(0.5)} ms, p90 ${q(0.9)} ms, p99 ${q(0.99)} ms, max ${latencies.at(-1)} ms`,
  );
} finally {
  for (const fn of cleanups.reverse()) await fn();
}
