// The light/dark switch of the dashboards and alerts pages: the #theme button flips
// <html data-theme>, remembered under the main page's key (theme-early.js applies it before
// the first paint), and "tally-theme" tells the page's charts to redraw in the new colours.

const THEME_KEY = "tally_theme";

function show(theme) {
  document.documentElement.dataset.theme = theme;
  document.getElementById("theme").setAttribute("aria-pressed", String(theme === "dark"));
}

export function wireThemeButton() {
  document.getElementById("theme").addEventListener("click", () => {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    try {
      localStorage.setItem(THEME_KEY, next);
    } catch {
      // No storage: the choice lasts for this page.
    }
    show(next);
    document.dispatchEvent(new Event("tally-theme"));
  });
  show(document.documentElement.dataset.theme || "light");
}
