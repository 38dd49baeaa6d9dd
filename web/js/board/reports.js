// A dashboard's scheduled reports, in a dialog opened from the board: each one with its
// schedule, format, destination, next run and last scheduled run; for an editor "Send now"
// (POST …/run), Delete and a form for a new one. The reports themselves are the server's
// (/api/v1/reports); this only lists those naming this dashboard.

import * as api from "../api.js";

const $ = (id) => document.getElementById(id);

const when = (iso) => (iso ? new Date(iso).toISOString().replace("T", " ").slice(0, 16) + " UTC" : "not yet");

// "daily@07:00" from the form's every/day/time.
export function scheduleOf(every, day, time) {
  if (every === "hourly") return "hourly";
  return every === "weekly" ? `weekly@${day} ${time}` : `daily@${time}`;
}

function showError(message) {
  $("report-error").textContent = message;
  $("report-error").hidden = !message;
}

export class Reports {
  constructor(dashboardId, { mayEdit, onAuth }) {
    this.dashboardId = dashboardId;
    this.mayEdit = mayEdit;
    this.onAuth = onAuth;
    $("reports").addEventListener("click", () => this.open().catch((e) => this.fail(e)));
    $("r-every").addEventListener("change", () => {
      $("r-day-label").hidden = $("r-every").value !== "weekly";
      $("r-time-label").hidden = $("r-every").value === "hourly";
    });
    $("r-add").addEventListener("click", () => this.add().catch((e) => this.fail(e)));
  }

  fail(error) {
    if (error instanceof api.AuthError) return this.onAuth();
    showError(error.message);
  }

  async open() {
    showError("");
    $("report-note").textContent = "";
    if (!$("reports-dialog").open) $("reports-dialog").showModal();
    await this.refresh();
  }

  async refresh() {
    const { reports } = await api.getJSON("/api/v1/reports");
    const mine = reports.filter((r) => r.dashboard_id === this.dashboardId);
    $("reports-empty").hidden = mine.length > 0;
    $("report-list").replaceChildren(...mine.map((r) => this.item(r)));
  }

  item(report) {
    const li = document.createElement("li");
    li.dataset.id = report.id;
    const what = Object.assign(document.createElement("span"), { className: "what" });
    const meta = Object.assign(document.createElement("span"), {
      className: "meta",
      textContent: `${report.format.toUpperCase()} to ${report.destination.url} · next ${when(report.next_run)} · last on schedule ${when(report.last_run)}`,
    });
    what.append(`${report.name} — ${report.schedule}`, meta);
    li.append(what);
    if (this.mayEdit) {
      const send = Object.assign(document.createElement("button"), { type: "button", textContent: "Send now" });
      send.addEventListener("click", () => this.run(report).catch((e) => this.fail(e)));
      const remove = Object.assign(document.createElement("button"), { type: "button", className: "danger", textContent: "Delete" });
      remove.addEventListener("click", () => this.remove(report).catch((e) => this.fail(e)));
      li.append(send, remove);
    }
    return li;
  }

  async run(report) {
    const res = await api.send("POST", `/api/v1/reports/${report.id}/run`);
    if (res.status !== 202) return showError(api.refusalText(res));
    const { from, to } = res.body.period || {};
    $("report-note").textContent = `"${report.name}" queued: ${when(from)} to ${when(to)}, ${res.body.bytes} bytes.`;
  }

  async remove(report) {
    const res = await api.send("DELETE", `/api/v1/reports/${report.id}`);
    if (res.status !== 204 && res.status !== 404) return showError(api.refusalText(res));
    await this.refresh();
  }

  async add() {
    showError("");
    const body = {
      name: $("r-name").value.trim() || "Report",
      dashboard_id: this.dashboardId,
      schedule: scheduleOf($("r-every").value, $("r-day").value, $("r-time").value),
      range: "previous_period",
      format: $("r-format").value,
      destination: { type: "webhook", url: $("r-url").value.trim() },
    };
    const res = await api.send("POST", "/api/v1/reports", body);
    if (res.status !== 201) return showError(api.refusalText(res));
    $("r-name").value = "";
    $("r-url").value = "";
    await this.refresh();
  }
}
