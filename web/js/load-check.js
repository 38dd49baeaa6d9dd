// A page whose scripts or style sheets did not load says so, instead of staying blank or
// half drawn. The usual cause is a web root without its npm packages: `npm ci` in web/
// (scripts/install-deps.sh runs it). A classic script in <head>, so it listens before the
// files it watches are requested; load errors do not bubble, so it hears them on their way
// down (the capture phase). A block, so that nothing here becomes a page global.
{
  const missing = [];

  const show = () => {
    let note = document.getElementById("load-error");
    if (!note) {
      note = document.createElement("p");
      note.id = "load-error";
      note.className = "load-error";
      note.setAttribute("role", "alert");
      document.body.prepend(note);
    }
    note.textContent =
      `This page could not load ${missing.join(", ")}. If tallyd serves a copy of web/, ` +
      "run `npm ci` in it (scripts/install-deps.sh does) and reload.";
  };

  addEventListener(
    "error",
    (event) => {
      const element = event.target;
      if (!(element instanceof HTMLScriptElement || element instanceof HTMLLinkElement)) return;
      const file = new URL(element.src || element.href, location.href).pathname;
      // A module's element also fails when a module it imports could not be fetched.
      missing.push(element.type === "module" ? `${file} (or a module it imports)` : file);
      if (document.body) show();
    },
    true,
  );
  // What failed before there was a body to show it in.
  addEventListener("DOMContentLoaded", () => missing.length > 0 && show());
}
