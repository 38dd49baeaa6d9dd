// Who is signed in, on every page: the token (kept by api.js in localStorage and sent as
// "Authorization: Bearer"), the sign-in form a 401 opens, the sign-out control, and what
// the token's role may use.
//
// GET /api/v1/whoami names the token's workspace and role. The page's root element then
// carries data-role="admin|editor|viewer|ingest", and the style sheet hides what the role
// may not use: `.needs-edit` (new, edit, save, delete) for a viewer, everything but a note
// for an ingest token, which may only send metrics. Hiding is a courtesy: the server
// answers 403 to whatever a role may not do, whoever asks.
//
// The page's markup holds the header controls (#who, #sign-out); the sign-in form
// (#token-dialog: #token, #token-refused) is the same on every page, so it is made here.

import * as api from "./api.js";

const $ = (id) => document.getElementById(id);

// What a daemon without /api/v1/whoami (one from before workspaces) grants: everything.
const EVERYTHING = { workspace: "default", role: "admin", token_id: "", server_admin: true, workspaces_enabled: false };

export function mayEdit(who) {
  return who?.role === "admin" || who?.role === "editor";
}

export function mayRead(who) {
  return who?.role !== "ingest";
}

// The token's identity, or null when no token is given or the server refuses it (401).
export async function whoami() {
  const res = await fetch("/api/v1/whoami", {
    headers: api.token() ? { Authorization: `Bearer ${api.token()}` } : {},
    cache: "no-store",
  });
  if (res.status === 401) return null;
  if (res.status === 404) return EVERYTHING;
  if (!res.ok) throw new Error(`whoami: ${res.status}`);
  return res.json();
}

// Shows who is signed in and hides what the role may not use.
export function applyRole(who) {
  document.documentElement.dataset.role = who.role;
  const signedIn = Boolean(api.token());
  $("who").hidden = !signedIn;
  $("who").textContent = who.server_admin && who.workspaces_enabled
    ? `${who.workspace} · ${who.role} · server admin`
    : `${who.workspace} · ${who.role}`;
  $("who").title = who.token_id ? `token ${who.token_id}` : "";
  $("sign-out").hidden = !signedIn;
  let note = $("role-note");
  if (!mayRead(who) && !note) {
    note = Object.assign(document.createElement("p"), { id: "role-note", className: "role-note" });
    note.setAttribute("role", "status");
    note.textContent =
      "This token can only send metrics (POST /api/v1/metrics, StatsD, InfluxDB's /write): " +
      "it cannot read dashboards or figures. Sign out and sign in with a viewer's, editor's or admin's token to see them.";
    document.querySelector("header").after(note);
  }
}

const SIGN_IN = `
  <form method="dialog" id="token-form">
    <h2>Sign in</h2>
    <p>This Tally needs a token: ask whoever runs it for yours. It is kept in this browser
      until you sign out.</p>
    <p id="token-refused" class="refused" hidden>That token was refused.</p>
    <input id="token" type="password" autocomplete="current-password" required aria-label="Token">
    <button type="submit">Sign in</button>
  </form>`;

function addSignInForm() {
  const dialog = Object.assign(document.createElement("dialog"), { id: "token-dialog", innerHTML: SIGN_IN });
  document.body.append(dialog);
}

// Opens the sign-in form; a stored token the server refused is said to be refused.
export function askToken() {
  const dialog = $("token-dialog");
  $("token-refused").hidden = !api.token();
  if (!dialog.open) dialog.showModal();
  $("token").focus();
}

// A token in the address (?token=, as in a shared link) is kept like a typed one, and
// taken out of the address so that it is not bookmarked or shown.
function tokenFromAddress() {
  const u = new URL(location.href);
  if (!u.searchParams.has("token")) return;
  api.setToken(u.searchParams.get("token").trim());
  u.searchParams.delete("token");
  history.replaceState(null, "", u);
}

const RETRY_MS = 2_000;

// Starts the page once the server says who the token is: `run(who)` then, and again after
// every sign-in (a 401 later, from any request, calls askToken()). Without a token the
// server accepts, the sign-in form is shown instead; while the server cannot be reached,
// whoami is asked again every RETRY_MS. `onRefused` is told each time a token is needed
// (the main page shows it in its connection status).
export function begin(run, { onRefused } = {}) {
  const attempt = async () => {
    let who;
    try {
      who = await whoami();
    } catch {
      setTimeout(attempt, RETRY_MS);
      return;
    }
    if (!who) {
      onRefused?.();
      return askToken();
    }
    if ($("token-dialog").open) $("token-dialog").close();
    applyRole(who);
    run(who);
  };
  addSignInForm();
  $("token-form").addEventListener("submit", () => {
    api.setToken($("token").value.trim());
    $("token").value = "";
    attempt();
  });
  $("sign-out").addEventListener("click", () => {
    api.setToken("");
    location.reload();
  });
  tokenFromAddress();
  attempt();
}
