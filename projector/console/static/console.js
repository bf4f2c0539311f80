// orb-sync console: the only script. A page whose <body> has
// data-refresh="N" reloads its #live part every N seconds (skipped while
// the tab is hidden or a form field has focus), without losing scroll.
(function () {
  "use strict";
  var seconds = parseInt(document.body.getAttribute("data-refresh"), 10);
  if (!(seconds > 0)) return;
  function busy() {
    var a = document.activeElement;
    return document.hidden || (a && (a.tagName === "SELECT" || a.tagName === "INPUT"));
  }
  function refresh() {
    if (busy()) return;
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var next = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        var live = document.getElementById("live");
        if (next && live) live.replaceWith(next);
      })
      .catch(function () { /* keep the last good view; try again next time */ });
  }
  setInterval(refresh, seconds * 1000);
})();
