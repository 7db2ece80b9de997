// venuebox organiser dashboard: keeps the page live over Server-Sent Events.
// The page is complete without this script; each event carries the HTML of one panel
// (drawn and escaped on the box), which replaces that panel's contents.
"use strict";
(function () {
  var url = document.body.getAttribute("data-stream");
  var live = document.getElementById("live");
  if (!url || !window.EventSource) {
    return;
  }
  var panels = ["alerts", "summary", "sync", "funnel", "ingest", "box"];
  var source;
  function show(on, text) {
    live.textContent = text;
    live.className = on ? "on" : "";
  }
  function connect() {
    source = new EventSource(url);
    source.onopen = function () {
      show(true, "live");
    };
    source.onerror = function () {
      // EventSource retries by itself (the box asks for 1 s); a 401 after a logout
      // closes it for good.
      show(false, source.readyState === EventSource.CLOSED ? "offline" : "reconnecting");
    };
    panels.forEach(function (name) {
      source.addEventListener(name, function (e) {
        var el = document.getElementById("panel-" + name);
        if (el) {
          el.innerHTML = e.data;
        }
        show(true, "live");
      });
    });
  }
  connect();
})();
