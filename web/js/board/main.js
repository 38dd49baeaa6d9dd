// The dashboards page: /dashboards lists them, /dashboards/<id> shows one (and its scheduled
// reports). The theme and the token are the main page's (the same localStorage keys); what
// the token's role may not use is hidden (js/session.js).

import * as api from "../api.js";
import * as session from "../session.js";
import { wireThemeButton } from "../theme.js";
import { showList } from "./list.js";
import { Board } from "./board.js";
import { Reports } from "./reports.js";

const $ = (id) => document.getElementById(id);

function setStatus(state, label) {
  $("status").dataset.state = state;
  $("status").querySelector(".label").textContent = label;
}

// A 401 after the page started (a token withdrawn meanwhile): sign in; the page then
// starts again (session.begin's run below reloads it).
const askToken = () => session.askToken();

wireThemeButton();

const match = location.pathname.match(/^\/dashboards\/([a-z0-9_-]+)\/?$/);
document.body.dataset.mode = "view";

// The page starts once the server has said who the token is, so a control the role may
// not use is never shown, not even for a moment.
let started = false;
session.begin((who) => {
  if (started) return location.reload();
  started = true;
  if (!session.mayRead(who)) return;
  if (match) {
    $("board-view").hidden = false;
    const board = new Board(match[1], { onStatus: setStatus, onAuth: askToken, mayEdit: session.mayEdit(who) });
    new Reports(match[1], { onAuth: askToken, mayEdit: session.mayEdit(who) });
    board.open().catch((error) => {
      if (error instanceof api.AuthError) return askToken();
      $("board-error").textContent = error.message;
      $("board-error").hidden = false;
    });
  } else {
    $("list-view").hidden = false;
    showList({ onAuth: askToken, mayEdit: session.mayEdit(who) }).catch((error) => setStatus("error", error.message));
  }
});
