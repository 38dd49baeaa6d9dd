// The theme before the first paint (a blocking script in <head>; the page's module keeps it
// up to date), so a dark page does not flash light.
try {
  document.documentElement.dataset.theme =
    localStorage.getItem("tally_theme") || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
} catch {
  // No storage: the system's choice.
}
