// Tally's drop-in for Plausible's script: a site tagged with Plausible's snippet,
//   <script defer data-domain="example.com" src="https://TALLY/js/script.js"></script>
// counts in Tally by changing only the host in `src`. It sends what Plausible's script
// sends to POST /api/event (the script's origin, or `data-api`): a page view on load and on
// every history navigation (pushState, popstate; hash changes too with
// `data-hash-based-routing` or a "hash" in the script's name), and window.plausible(name,
// {props, revenue, interactive, callback, u}) for custom events, including the calls the
// snippet's stub queued in plausible.q before this script ran.
// Written for Tally (not a copy of Plausible's tracker), in plain ES2017 for every browser
// that runs Plausible's.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var domain = script.getAttribute("data-domain") || location.hostname;
  var endpoint = script.getAttribute("data-api") || new URL(script.src).origin + "/api/event";
  var hashMode = script.hasAttribute("data-hash-based-routing") || /\.hash\./.test(script.src);
  var lastPage = null;

  function ignored() {
    try {
      if (localStorage.getItem("plausible_ignore") === "true") return true;
    } catch (e) {
      // No storage: nothing is ignored.
    }
    return location.protocol === "file:";
  }

  function send(name, options) {
    options = options || {};
    if (ignored()) {
      if (options.callback) options.callback({ status: 0 });
      return;
    }
    var body = { n: name, u: options.u || location.href, d: domain, r: document.referrer || null };
    if (options.props) body.p = options.props;
    if (options.revenue) body.$ = options.revenue;
    if (options.interactive === false) body.i = false;
    if (hashMode) body.h = 1;
    var request = fetch(endpoint, {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      keepalive: true,
      body: JSON.stringify(body),
    });
    request.then(
      function (response) {
        if (options.callback) options.callback({ status: response.status });
      },
      function (error) {
        if (options.callback) options.callback({ error: error });
      },
    );
  }

  function pageview() {
    var page = location.pathname + (hashMode ? location.hash : "");
    if (page === lastPage) return; // a pushState to the same page is not a new view
    lastPage = page;
    send("pageview");
  }

  var queued = (window.plausible && window.plausible.q) || [];
  window.plausible = function (name, options) {
    if (name === "pageview") lastPage = location.pathname + (hashMode ? location.hash : "");
    send(name, options);
  };
  for (var i = 0; i < queued.length; i++) window.plausible.apply(this, queued[i]);

  var push = history.pushState;
  if (push) {
    history.pushState = function () {
      push.apply(this, arguments);
      pageview();
    };
    window.addEventListener("popstate", pageview);
  }
  if (hashMode) window.addEventListener("hashchange", pageview);

  if (document.visibilityState === "prerender") {
    document.addEventListener("visibilitychange", function once() {
      if (document.visibilityState === "prerender") return;
      document.removeEventListener("visibilitychange", once);
      pageview();
    });
  } else {
    pageview();
  }
})();
