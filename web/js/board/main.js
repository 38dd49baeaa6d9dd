// The dashboards page: /dashboards lists them, /dashboards/<id> shows one. The theme and
// the token are the main page's (the same localStorage keys).

import * as api from "../api.js";
import { showList } from "./list.js";
import { Board } from "./board.js";

const $ = (id) => document.getElementById(id);
const THEME_KEY = "tally_theme";

function setStatus(state, label) {
  $("status").dataset.state = state;
  $("status").querySelector(".label").textContent = label;
}

function askToken() {
  $("auth").hidden = false;
  $("auth-token").focus();
  $("auth-form").addEventListener("submit", (event) => {
    event.preventDefault();
    api.setToken($("auth-token").value.trim());
    location.reload();
  }, { once: true });
}

function setTheme(theme) {
  document.documentElement.dataset.theme = theme;
  $("theme").setAttribute("aria-pressed", String(theme === "dark"));
}

$("theme").addEventListener("click", () => {
  const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  try {
    localStorage.setItem(THEME_KEY, next);
  } catch {
    // No storage: the choice lasts for this page.
  }
  setTheme(next);
  document.dispatchEvent(new Event("tally-theme"));
});
setTheme(document.documentElement.dataset.theme || "light");

const match = location.pathname.match(/^\/dashboards\/([a-z0-9_-]+)\/?$/);
document.body.dataset.mode = "view";
if (match) {
  $("board-view").hidden = false;
  const board = new Board(match[1], { onStatus: setStatus, onAuth: askToken });
  board.open().catch((error) => {
    if (error instanceof api.AuthError) return askToken();
    $("board-error").textContent = error.message;
    $("board-error").hidden = false;
  });
} else {
  $("list-view").hidden = false;
  showList({ onAuth: askToken }).catch((error) => setStatus("error", error.message));
}
