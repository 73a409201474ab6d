// Bürgerkoffer UI: live status over server-sent events, busy buttons, the signature pad.
// Pages work without this script except the signature pad (the checkbox is the alternative).
(function () {
  "use strict";

  // Remember which page to come back to when the caseworker locks the kit.
  document.querySelectorAll("input[data-hier]").forEach(function (el) {
    el.value = location.pathname;
  });

  // After a failed save, put the keyboard focus on the first field to correct.
  var invalid = document.querySelector("[aria-invalid=true]");
  if (invalid) { invalid.focus(); }

  // Show that a device is working; the server ignores a second submit of the same form anyway.
  document.addEventListener("submit", function (ev) {
    var btn = ev.submitter;
    if (!btn || btn.getAttribute("aria-busy") === "true") {
      if (btn) { ev.preventDefault(); }
      return;
    }
    btn.setAttribute("aria-busy", "true");
    if (btn.dataset.busy) {
      // Keep the button's value: the form reads it after this handler.
      setTimeout(function () { btn.textContent = btn.dataset.busy; }, 0);
    }
  });

  // Live status: refresh the status box on every change, and after every (re)connect so that
  // nothing sent while the stream was down is missed.
  if (document.body.dataset.angemeldet === "1" && window.EventSource) {
    var box = document.getElementById("status");
    var refresh = function () {
      if (!box) { return; }
      fetch("/status", { credentials: "same-origin" }).then(function (r) {
        if (r.status === 401) { location.assign("/gesperrt"); return null; }
        return r.ok ? r.text() : null;
      }).then(function (html) {
        if (html !== null && html !== undefined) { box.innerHTML = html; box.dataset.aktualisiert = String(Date.now()); }
      }).catch(function () {});
    };
    var es = new EventSource("/ereignisse");
    es.addEventListener("bereit", refresh);
    es.addEventListener("status", refresh);
    es.addEventListener("gesperrt", function () {
      es.close();
      // Hand what was typed but not yet saved to the server, which keeps it for after the unlock.
      var form = document.getElementById("schritt");
      if (form && navigator.sendBeacon) {
        var data = new URLSearchParams(new FormData(form));
        data.set("aktion", "sperre");
        navigator.sendBeacon(location.pathname, data);
      }
      location.assign("/gesperrt?zurueck=" + encodeURIComponent(location.pathname));
    });
  }

  // Signature pad: pointer events (finger, pen, mouse); the PNG goes into a hidden field.
  var canvas = document.getElementById("unterschrift-flaeche");
  if (canvas) {
    var field = document.getElementById("unterschrift");
    var ctx = canvas.getContext("2d");
    ctx.lineWidth = 3; ctx.lineCap = "round"; ctx.strokeStyle = "#111";
    var drawing = false, drew = false;
    var pos = function (ev) {
      var r = canvas.getBoundingClientRect();
      return { x: (ev.clientX - r.left) * canvas.width / r.width, y: (ev.clientY - r.top) * canvas.height / r.height };
    };
    canvas.addEventListener("pointerdown", function (ev) {
      drawing = true; canvas.setPointerCapture(ev.pointerId);
      var p = pos(ev); ctx.beginPath(); ctx.moveTo(p.x, p.y);
    });
    canvas.addEventListener("pointermove", function (ev) {
      if (!drawing) { return; }
      var p = pos(ev); ctx.lineTo(p.x, p.y); ctx.stroke(); drew = true;
    });
    var end = function () {
      if (drawing && drew) { field.value = canvas.toDataURL("image/png"); }
      drawing = false;
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    document.getElementById("unterschrift-loeschen").addEventListener("click", function () {
      ctx.clearRect(0, 0, canvas.width, canvas.height); field.value = ""; drew = false;
    });
  }
})();
