// Bürgerkoffer UI: live status over server-sent events, busy buttons, the signature pad, the
// camera for the photo taken on site. Pages work without this script except the signature pad
// (the checkbox is the alternative) and the camera (the photographer's code is).
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

  // The photo taken on site: live preview through getUserMedia (the agent's loopback address
  // is a secure context) under the head-position guide; "Lichtbild aufnehmen" sends the whole
  // frame as JPEG and the agent checks, crops and stores it (agent/photo).
  var live = document.getElementById("kamera-live");
  if (live) {
    var video = document.getElementById("kamera-video");
    var problem = document.getElementById("kamera-fehler");
    var frame = document.getElementById("lichtbild");
    var stream = null;
    var say = function (msg) { problem.textContent = msg; problem.hidden = !msg; };
    var authority = function () {
      var r = document.querySelector("input[name=lichtbild_art]:checked");
      return r !== null && r.value === "authority";
    };
    var stop = function () {
      if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
      video.srcObject = null;
    };
    var start = function () {
      if (stream || live.hidden) { return; }
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        say("Dieser Browser gibt die Kamera nicht frei. Bitte die Seite über http://localhost öffnen.");
        return;
      }
      navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 }, facingMode: "user" }, audio: false })
        .then(function (s) { stream = s; video.srcObject = s; say(""); })
        .catch(function () { say("Keine Kamera verfügbar oder nicht freigegeben. Bitte die Kamera anschließen und im Browser erlauben."); });
    };
    var code = document.getElementById("f-lichtbild_code");
    var follow = function () {
      document.getElementById("kamera").hidden = !authority() && document.querySelector("input[name=lichtbild_art]:checked") !== null;
      if (code && code.closest(".feld")) { code.closest(".feld").hidden = authority() && code.value === ""; }
      if (authority()) { start(); } else { stop(); }
    };
    document.querySelectorAll("input[name=lichtbild_art]").forEach(function (r) { r.addEventListener("change", follow); });
    var again = document.getElementById("foto-neu");
    if (again) {
      again.addEventListener("click", function () {
        document.getElementById("foto-vorschau").hidden = true;
        again.hidden = true;
        live.hidden = false;
        start();
      });
    }
    document.getElementById("foto-aufnehmen").addEventListener("click", function (ev) {
      if (!stream || !video.videoWidth) {
        ev.preventDefault();
        say("Die Kamera zeigt noch kein Bild. Bitte warten oder die Kamera freigeben.");
        return;
      }
      var c = document.createElement("canvas");
      c.width = video.videoWidth; c.height = video.videoHeight;
      c.getContext("2d").drawImage(video, 0, 0);
      frame.value = c.toDataURL("image/jpeg", 0.92);
    });
    // The guide is laid over the frame as the camera delivers it: the box takes the frame's
    // proportions (4:3 until the camera says otherwise).
    video.addEventListener("loadedmetadata", function () {
      if (video.videoWidth && video.videoHeight) { video.style.aspectRatio = video.videoWidth + " / " + video.videoHeight; }
    });
    // The eye band of the template for the citizen's age, in mm above the bottom of 45 mm.
    var guide = live.querySelector(".schablone");
    var eyes = (guide.dataset.augen || "").split(" ").map(Number);
    if (eyes.length === 2 && eyes[1] > eyes[0]) {
      var band = guide.querySelector(".augen");
      band.style.top = ((45 - eyes[1]) / 45 * 100) + "%";
      band.style.height = ((eyes[1] - eyes[0]) / 45 * 100) + "%";
    }
    window.addEventListener("pagehide", stop);
    follow();
  }
})();
