// Tally: <script defer data-site="SITE" src="https://HOST/tracker.js"></script>
// Sends page views (History API navigations too) and tally("event", name, props) to the
// script's origin. Opt out: localStorage.tally_ignore = "1".
(function (w, d) {
  var me = d.currentScript, site, base, sid, last, ss, h = w.history;
  if (!me) return;
  site = me.getAttribute("data-site") || "default";
  base = new URL(me.src).origin + "/track/";

  // One session id per tab, kept across reloads.
  try { ss = w.sessionStorage; sid = ss.getItem("tally_sid"); } catch (e) {}
  if (!sid) {
    sid = Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
    try { ss.setItem("tally_sid", sid); } catch (e) {}
  }

  // A string body is sent as text/plain, CORS-simple: no pre-flight.
  function send(kind, body) {
    try { if (w.localStorage.getItem("tally_ignore") === "1") return; } catch (e) {}
    body.site = site;
    body.session_id = sid;
    var url = base + kind, text = JSON.stringify(body);
    if (!(navigator.sendBeacon && navigator.sendBeacon(url, text)))
      fetch(url, { method: "POST", body: text, keepalive: true }).catch(function () {});
  }

  // A new path is a new page; a hash or query change is not.
  function pageview() {
    if (last === location.pathname) return;
    last = location.pathname;
    send("pageview", { page_url: location.href, referrer: d.referrer || undefined });
  }

  function tally(what, name, props) {
    if (what === "event" && name) send("event", { event_name: name, properties: props });
  }

  ["pushState", "replaceState"].forEach(function (m) {
    var orig = h[m];
    h[m] = function () {
      var r = orig.apply(this, arguments);
      pageview();
      return r;
    };
  });
  w.addEventListener("popstate", pageview);

  // Calls made before this ran, queued by the snippet's stub.
  var q = (w.tally && w.tally.q) || [];
  w.tally = tally;
  pageview();
  for (var i = 0; i < q.length; i++) tally.apply(null, q[i]);
})(window, document);
