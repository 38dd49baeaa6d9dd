// The read API as the dashboard uses it: every request carries the token (kept in
// localStorage) as a bearer header; a 401 becomes an AuthError so the page can ask for it.

const TOKEN_KEY = "tally_token";

export class AuthError extends Error {}

export function token() {
  try {
    return localStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

export function setToken(value) {
  try {
    if (value) localStorage.setItem(TOKEN_KEY, value);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // Private mode without storage: the token lasts until the tab closes.
  }
}

// A path plus query parameters, the token added when `withToken` (links and /ws cannot
// send headers).
export function url(path, params = {}, withToken = false) {
  const q = new URLSearchParams(params);
  if (withToken && token()) q.set("token", token());
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export async function getJSON(path, params, signal) {
  return (await getResponse(path, params, signal)).json();
}

// A JSON body sent with POST (the metrics query), its JSON answer; errors as getJSON's.
export async function postJSON(path, body, signal) {
  const headers = { "Content-Type": "application/json", ...authHeader() };
  const init = { method: "POST", headers, body: JSON.stringify(body), signal, cache: "no-store" };
  return (await checked(await fetch(path, init))).json();
}

function authHeader() {
  return token() ? { Authorization: `Bearer ${token()}` } : {};
}

// The response of a read that succeeded (its body not yet read); errors as getJSON's.
async function getResponse(path, params, signal) {
  return checked(await fetch(url(path, params), { headers: authHeader(), signal, cache: "no-store" }));
}

// `res` when it succeeded; else an AuthError (401) or an Error with the server's message.
async function checked(res) {
  if (res.status === 401) throw new AuthError("token required");
  if (!res.ok) {
    let message = `${res.status}`;
    try {
      message = (await res.json()).error || message;
    } catch {
      // Not JSON: the status says enough.
    }
    throw new Error(message);
  }
  return res;
}

// The dashboard's figures, and whether they are the whole fleet's: a server started with
// query_source redis answers /dashboard from Redis and says so in X-Tally-Source.
// With `props` (an event name), its custom-property breakdown too, in "properties".
export async function dashboard(range, site, signal, props = "") {
  const res = await getResponse(`/dashboard/${range}`, props ? { site, props } : { site }, signal);
  return { metrics: await res.json(), fleet: res.headers.get("X-Tally-Source") === "redis" };
}

export function pageviewSeries(bounds, site, signal) {
  return getJSON(
    "/timeseries/pageviews",
    { site, from: bounds.from, to: bounds.to, bucket_size: bounds.bucket, aggregation: "sum" },
    signal,
  );
}

export function liveURL(range, site, props = "") {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const params = props ? { site, date: range, props } : { site, date: range };
  return `${scheme}//${location.host}${url("/ws", params, true)}`;
}

// A request that changes something (POST, PUT, DELETE): the status and the JSON answer
// (null when there is none), so the caller can read a 409's current document. A 401 is an
// AuthError, as for reads.
export async function send(method, path, body) {
  const headers = { ...authHeader() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await fetch(path, init);
  if (res.status === 401) throw new AuthError("token required");
  let answer = null;
  try {
    answer = await res.json();
  } catch {
    // 204, or not JSON.
  }
  return { status: res.status, body: answer };
}

// The URL of a /ws/metrics/<client> socket.
export function metricsLiveURL(clientId) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${url(`/ws/metrics/${clientId}`, {}, true)}`;
}

// Why the server refused a change (a send() result), with the field it names when the
// message does not already start with it: "condition.threshold: must be a number".
export function refusalText(res) {
  const why = res.body?.error || `the server answered ${res.status}`;
  const field = res.body?.field;
  return field && !why.startsWith(field) ? `${field}: ${why}` : why;
}
