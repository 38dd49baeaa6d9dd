// The live connection: /ws snapshot then deltas, with automatic reconnect.
//
// Each attempt first reads /dashboard/<range> over REST: it tells a stopped server
// (network error: retry), a missing token (401: ask for it) and a running one apart, and
// it draws the page at once. Then /ws: its snapshot replaces the figures and its deltas
// update them. A socket that closes is reopened after an exponential back-off with
// jitter, capped, and reset by the next snapshot.
//
// A server whose /ws does not take the range (weeks and months, before they were added
// there) refuses the upgrade or sends an error frame; the page then polls
// /dashboard/<range> every POLL_MS instead, which is what the socket would have sent.
// So does a server whose /dashboard answers for the whole fleet from Redis (query_source
// redis, X-Tally-Source: redis): its /ws would stream only its own events.
//
// States given to onStatus: "connecting", "live", "polling", "reconnecting", "auth", and
// "stale" (detail: the age in seconds of the fleet figures shown, Redis being unreadable).

import * as api from "./api.js";
import { rangeKind } from "./model.js";

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 15_000;
const POLL_MS = 5_000;

// Full back-off for attempt n (0, 1, ...), then a random 50–100 % of it, so that many
// dashboards cut off together do not come back in lock step.
export function backoffDelay(n, random = Math.random) {
  const full = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** n);
  return Math.round(full * (0.5 + 0.5 * random()));
}

export class Live {
  constructor({ range, site, props = "", onSnapshot, onDelta, onStatus }) {
    this.range = range;
    this.site = site;
    this.props = props;
    this.onSnapshot = onSnapshot;
    this.onDelta = onDelta;
    this.onStatus = onStatus;
    this.failures = 0;
    this.stopped = false;
    this.everLive = false;
    this.ws = null;
    this.fleet = false;
    this.timer = 0;
    this.abort = null;
  }

  start() {
    this.attempt();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort?.abort();
    if (this.ws) {
      this.ws.onclose = this.ws.onmessage = this.ws.onerror = null;
      this.ws.close();
      this.ws = null;
    }
  }

  status(state, detail = "") {
    if (!this.stopped) this.onStatus(state, detail);
  }

  retry() {
    if (this.stopped) return;
    const delay = backoffDelay(this.failures++);
    this.status("reconnecting", `retry in ${(delay / 1000).toFixed(1)} s`);
    this.timer = setTimeout(() => this.attempt(), delay);
  }

  // REST read; true when it worked. A 401 stops everything until a token is given.
  async read() {
    this.abort = new AbortController();
    try {
      const { metrics, fleet } = await api.dashboard(this.range, this.site, this.abort.signal, this.props);
      if (this.stopped) return false;
      this.fleet = fleet;
      // A fleet server that cannot read Redis answers its last good figures, with their age.
      this.staleSeconds = metrics.stale_seconds ?? null;
      this.onSnapshot(metrics, "rest");
      return true;
    } catch (e) {
      if (this.stopped) return false;
      if (e instanceof api.AuthError) {
        this.status("auth");
        this.stopped = true;
      } else if (e instanceof TypeError || e.name === "AbortError") {
        this.retry();  // the server is not answering
      } else {
        this.status("reconnecting", e.message);
        this.retry();
      }
      return false;
    }
  }

  async attempt() {
    if (this.stopped) return;
    this.status(this.everLive ? "reconnecting" : "connecting");
    if (!(await this.read())) return;
    if (this.fleet) this.pollLater();
    else this.open();
  }

  open() {
    const ws = new WebSocket(api.liveURL(this.range, this.site, this.props));
    this.ws = ws;
    let snapshots = 0;
    let refused = false;
    ws.onmessage = (message) => {
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      if (frame.type === "snapshot") {
        snapshots++;
        this.failures = 0;
        this.everLive = true;
        this.onSnapshot(frame.metrics, "ws");
        this.status("live");
      } else if (frame.type === "delta" && snapshots > 0) {
        this.onDelta(frame);
      } else if (frame.type === "error") {
        refused = true;
        ws.close();
      }
    };
    ws.onclose = () => {
      if (this.stopped || this.ws !== ws) return;
      this.ws = null;
      if (snapshots === 0 && (refused || rangeKind(this.range) !== "day")) {
        // The server answered REST a moment ago but will not stream this range.
        this.poll();
      } else {
        this.retry();
      }
    };
  }

  async poll() {
    if (this.stopped) return;
    this.pollingStatus();
    if (await this.read()) {
      this.failures = 0;
      this.pollLater();
    }
  }

  pollLater() {
    this.pollingStatus();
    this.timer = setTimeout(() => this.poll(), POLL_MS);
  }

  pollingStatus() {
    if (this.staleSeconds !== null && this.staleSeconds !== undefined) {
      this.status("stale", String(this.staleSeconds));
      return;
    }
    this.status("polling", `every ${POLL_MS / 1000} s${this.fleet ? ": the fleet, from Redis" : ""}`);
  }
}
