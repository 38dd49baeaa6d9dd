// /dashboards: the list (each a link, its widget count and last change), a new one blank
// or from a template (GET /api/v1/dashboards/templates), and a dashboard JSON imported
// from a file (what "Dashboard JSON" exports).

import * as api from "../api.js";

const $ = (id) => document.getElementById(id);

export async function showList({ onAuth, mayEdit = true }) {
  try {
    const [{ dashboards }, { templates }] = await Promise.all([
      api.getJSON("/api/v1/dashboards"),
      api.getJSON("/api/v1/dashboards/templates"),
    ]);
    $("create-template").append(...templates.map((t) => new Option(t.name, t.id)));
    drawList(dashboards);
    if (mayEdit) loadSites();
  } catch (error) {
    if (error instanceof api.AuthError) return onAuth();
    throw error;
  }
  if (!mayEdit) return; // the form is hidden: a viewer makes nothing
  $("create-form").addEventListener("submit", (event) => {
    event.preventDefault();
    create();
  });
  $("import-file").addEventListener("change", () => importFile($("import-file").files[0]));
}

function drawList(dashboards) {
  $("list-empty").hidden = dashboards.length > 0;
  $("dashboard-list").replaceChildren(
    ...dashboards.map((d) => {
      const li = document.createElement("li");
      const a = Object.assign(document.createElement("a"), { href: `/dashboards/${d.id}`, textContent: d.name });
      const meta = Object.assign(document.createElement("span"), {
        className: "meta",
        textContent: `${d.widgets} widgets · version ${d.version} · ${new Date(d.updated_at).toLocaleString()}`,
      });
      const description = Object.assign(document.createElement("p"), { textContent: d.description || "" });
      li.append(a, meta, description);
      return li;
    }),
  );
}

async function loadSites() {
  try {
    const sites = await api.getJSON("/api/v1/sites");
    $("sites").replaceChildren(...(sites.sites || sites).map((s) => new Option(s.site || s.name || s, s.site || s.name || s)));
  } catch {
    // Only a help for typing.
  }
}

async function create() {
  const template = $("create-template").value;
  const name = $("create-name").value.trim();
  const body = template ? { template, name, site: $("create-site").value.trim() || "default" } : { name, widgets: [] };
  const res = await api.send("POST", "/api/v1/dashboards", body);
  if (res.status === 201) location.href = `/dashboards/${res.body.id}`;
  else alert(`Not created: ${res.body?.error || res.status}`);
}

async function importFile(file) {
  if (!file) return;
  let doc;
  try {
    doc = JSON.parse(await file.text());
  } catch {
    return alert(`${file.name} is not JSON`);
  }
  const res = await api.send("POST", "/api/v1/dashboards", doc);
  if (res.status === 201) location.href = `/dashboards/${res.body.id}`;
  else alert(`Not imported: ${res.body?.error || res.status}${res.body?.field ? ` (${res.body.field})` : ""}`);
}
