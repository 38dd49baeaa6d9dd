// The alerts page: /alerts lists the workspace's rules, what needs someone first (firing,
// pending, resolved, inactive), with a form for a new one; /alerts/<id> shows one rule, its
// state and the history of its states (the page an alert's generatorURL opens, from
// Alertmanager or a webhook's receiver). Rules are evaluated on the server's timer, so the
// page reads again every REFRESH_MS; a slow answer is never overtaken by the next read.
// The token and what its role may use are js/session.js's.

import * as api from "../api.js";
import * as session from "../session.js";
import { wireThemeButton } from "../theme.js";
import { byUrgency, describeActions, describeCondition, formatValue, ruleFromForm } from "./rules.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 5_000;

function setStatus(state, label) {
  $("status").dataset.state = state;
  $("status").querySelector(".label").textContent = label;
}

const stateBadge = (state) => Object.assign(document.createElement("span"), { className: `state ${state}`, textContent: state });
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");

// Reads `load` now and every REFRESH_MS after the previous read ended; a 401 signs in.
function keepReading(load) {
  const read = async () => {
    try {
      await load();
      setStatus("live", `updated ${new Date().toLocaleTimeString()}`);
    } catch (error) {
      if (error instanceof api.AuthError) return session.askToken();
      setStatus("error", error.message);
    }
    setTimeout(read, REFRESH_MS);
  };
  return read();
}

function drawList(alerts) {
  $("list-empty").hidden = alerts.length > 0;
  $("alert-table").hidden = alerts.length === 0;
  $("alert-rows").replaceChildren(
    ...alerts.sort(byUrgency).map((rule) => {
      const row = document.createElement("tr");
      row.dataset.state = rule.state;
      const link = Object.assign(document.createElement("a"), { href: `/alerts/${rule.id}`, textContent: rule.alert_name });
      const cells = [stateBadge(rule.state), link, describeCondition(rule), formatValue(rule.value), when(rule.since)];
      row.append(...cells.map((content) => {
        const td = document.createElement("td");
        td.append(content);
        return td;
      }));
      return row;
    }),
  );
}

async function loadMetricNames() {
  try {
    const { metrics } = await api.getJSON("/api/v1/metrics");
    const names = metrics.map((m) => m.name || m);
    $("metric-names").replaceChildren(...names.map((n) => new Option(n, n)));
  } catch {
    // Only a convenience: the name can be typed.
  }
}

function formValues() {
  const v = (id) => $(id).value;
  return {
    name: v("a-name"), metric: v("a-metric"), tags: v("a-tags"), aggregation: v("a-aggregation"),
    window: v("a-window"), operator: v("a-operator"), threshold: v("a-threshold"), duration: v("a-duration"),
    resolve: v("a-resolve"), noData: v("a-no-data"), actionType: v("a-action-type"), actionTarget: v("a-action-target"),
  };
}

// A refusal is shown with the field the server names ("condition.threshold: …").
async function create(refresh) {
  const error = $("create-error");
  error.hidden = true;
  let rule;
  try {
    rule = ruleFromForm(formValues());
  } catch (e) {
    error.textContent = e.message;
    error.hidden = false;
    return;
  }
  const res = await api.send("POST", "/api/v1/alerts", rule);
  if (res.status !== 201) {
    error.textContent = api.refusalText(res);
    error.hidden = false;
    return;
  }
  $("create-form").reset();
  $("a-action-target").disabled = true;
  await refresh();
}

function wireForm(refresh) {
  $("a-operator").addEventListener("change", () => {
    const anomaly = $("a-operator").value === "anomaly";
    $("a-threshold-label").firstChild.textContent = anomaly ? "Sensitivity (σ) " : "Threshold ";
    $("a-threshold").value = anomaly ? "3" : "0";
    $("a-resolve").disabled = anomaly;
  });
  $("a-action-type").addEventListener("change", () => {
    const type = $("a-action-type").value;
    $("a-action-target").disabled = !type;
    $("a-action-target").required = Boolean(type);
    $("a-action-target").placeholder = type === "channel" ? "email" : "http://…";
  });
  $("create-form").addEventListener("submit", (event) => {
    event.preventDefault();
    create(refresh).catch((e) => (e instanceof api.AuthError ? session.askToken() : setStatus("error", e.message)));
  });
}

function showList(mayEdit) {
  $("list-view").hidden = false;
  const refresh = async () => drawList((await api.getJSON("/api/v1/alerts")).alerts);
  if (mayEdit) {
    wireForm(refresh);
    loadMetricNames();
  }
  keepReading(refresh);
}

function drawRule(rule, history) {
  $("alert-panel").hidden = false;
  $("alert-error").hidden = true;
  document.title = `${rule.alert_name} · Alerts · Tally`;
  $("alert-state").replaceWith(Object.assign(stateBadge(rule.state), { id: "alert-state" }));
  $("alert-name").textContent = rule.alert_name;
  $("alert-condition").textContent = describeCondition(rule);
  $("alert-value").textContent = formatValue(rule.value);
  $("alert-since").textContent = when(rule.since);
  $("alert-no-data").textContent = rule.no_data;
  $("alert-actions").textContent = describeActions(rule.actions);
  const labels = Object.entries(rule.labels || {}).map(([k, v]) => `${k}=${v}`);
  $("alert-labels").textContent = labels.length ? labels.join(", ") : "—";
  $("history-empty").hidden = history.length > 0;
  $("alert-history").replaceChildren(
    ...history.slice().reverse().map((h) => {
      const li = document.createElement("li");
      li.append(`${when(h.at)}: ${h.from} → `, stateBadge(h.to), ` at ${formatValue(h.value)}`);
      return li;
    }),
  );
}

function showRule(id, mayEdit) {
  $("alert-view").hidden = false;
  const refresh = async () => {
    const res = await api.send("GET", `/api/v1/alerts/${id}`);
    if (res.status === 404) throw new Error("No such alert (deleted, or another workspace's).");
    if (res.status !== 200) throw new Error(res.body?.error || `the server answered ${res.status}`);
    const { history } = await api.getJSON(`/api/v1/alerts/${id}/history`);
    drawRule(res.body, history);
  };
  if (mayEdit) {
    $("alert-delete").addEventListener("click", async () => {
      if (!confirm(`Delete the alert "${$("alert-name").textContent}"?`)) return;
      const res = await api.send("DELETE", `/api/v1/alerts/${id}`);
      if (res.status === 204 || res.status === 404) location.assign("/alerts");
      else setStatus("error", res.body?.error || `delete: ${res.status}`);
    });
  }
  keepReading(async () => {
    try {
      await refresh();
    } catch (error) {
      if (error instanceof api.AuthError) throw error;
      $("alert-panel").hidden = true;
      $("alert-error").textContent = error.message;
      $("alert-error").hidden = false;
      throw error;
    }
  });
}

wireThemeButton();
const match = location.pathname.match(/^\/alerts\/([a-z0-9_-]+)\/?$/);
let started = false;
session.begin((who) => {
  if (started) return location.reload();
  started = true;
  if (!session.mayRead(who)) return;
  if (match) showRule(match[1], session.mayEdit(who));
  else showList(session.mayEdit(who));
});
