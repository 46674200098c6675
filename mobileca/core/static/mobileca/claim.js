// 「立即申领」: the claim QR code follows its claim — the countdown, then greyed out with 「二维码已过期」 when the
// ticket expires, then the signing service's progress (scanned, 开通成功 / 续费成功) — on the claim page and in the
// dialog that pops up over 「CA 续费申领」. Texts come from the panel's data-text-* attributes (translated there).
(function () {
  "use strict";
  var current = null; // {box, timers} of the panel being followed

  function stop() {
    if (current) { current.timers.forEach(function (id) { clearInterval(id); }); }
    current = null;
  }

  function follow(box) {
    stop();
    if (!box) { return; }
    var state = {box: box, timers: []};
    current = state;
    var countdown = box.querySelector("#countdown");
    if (countdown) {
      var expires = new Date(countdown.dataset.expires).getTime();
      var tick = function () {
        var left = Math.max(0, Math.floor((expires - Date.now()) / 1000));
        if (left > 0) {
          countdown.textContent = String(Math.floor(left / 60)).padStart(2, "0") + ":" + String(left % 60).padStart(2, "0");
          return;
        }
        countdown.textContent = box.dataset.textExpired;
        var label = box.querySelector(".countdown-label");
        if (label) { label.hidden = true; }
        var qr = box.querySelector(".qr");
        var overlay = box.querySelector("#qr-expired");
        if (qr) { qr.classList.add("expired"); }
        if (overlay) { overlay.hidden = false; }
      };
      tick();
      state.timers.push(setInterval(tick, 1000));
    }
    var show = function (data) {
      // Update in place: the QR code gives way to the claim's progress, then to the service number and expiry.
      var progress = box.querySelector("#claim-progress");
      if (!progress) {
        progress = document.createElement("p");
        progress.id = "claim-progress";
        box.appendChild(progress);
      }
      box.querySelectorAll(".qr-frame, form, .muted, .claim-hint, .notice:not(#claim-progress), .error-message").forEach(function (node) { node.remove(); });
      if (data.status === "activated") {
        progress.className = "";
        progress.textContent = data.kind === "renewal" ? box.dataset.textRenewed : box.dataset.textClaimed;
        var details = document.createElement("dl");
        details.id = "claim-result";
        [[box.dataset.textServiceNo, data.service_no],
         [box.dataset.textServiceExpires, (data.service_expires_at || "").replace("T", " ").slice(0, 19)]].forEach(function (pair) {
          var dt = document.createElement("dt"); dt.textContent = pair[0];
          var dd = document.createElement("dd"); dd.textContent = pair[1];
          details.appendChild(dt); details.appendChild(dd);
        });
        box.appendChild(details);
      } else {
        progress.className = "notice";
        progress.textContent = box.dataset.textBound;
      }
      box.dataset.status = data.status;
    };
    if (box.dataset.status !== "activated") {
      var poll = setInterval(function () {
        fetch(box.dataset.statusUrl, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
          .then(function (response) { return response.json(); })
          .then(function (data) {
            if (current !== state) { return; }
            if (data.status !== box.dataset.status) { show(data); }
            if (data.status === "activated") { clearInterval(poll); }
          })
          .catch(function () {});
      }, 2000);
      state.timers.push(poll);
    }
  }

  // In the dialog: 「刷新二维码」 without leaving it — post, then show the new panel in place.
  function refreshInPlace(form, holder) {
    var body = new FormData(form);
    body.append("panel", "1");
    fetch(form.action, {method: "POST", body: body, credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (response) { return response.text(); })
      .then(function (html) { place(holder, html); })
      .catch(function () { form.submit(); });
  }

  function place(holder, html) {
    holder.innerHTML = html;
    var box = holder.querySelector("#claim");
    var form = holder.querySelector(".refresh-form");
    if (form) {
      form.addEventListener("submit", function (event) { event.preventDefault(); refreshInPlace(form, holder); });
    }
    follow(box);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var dialog = document.getElementById("claim-dialog");
    if (!dialog) { follow(document.getElementById("claim")); return; }
    var holder = dialog.querySelector(".claim-dialog-body");
    var title = dialog.querySelector("#claim-dialog-title");
    document.querySelectorAll("a[data-claim-panel]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        if (typeof dialog.showModal !== "function") { return; } // no <dialog>: the link's own page
        event.preventDefault();
        fetch(link.dataset.claimPanel, {credentials: "same-origin", headers: {"Accept": "text/html"}})
          .then(function (response) { if (!response.ok) { throw new Error(String(response.status)); } return response.text(); })
          .then(function (html) {
            title.textContent = link.dataset.claimTitle || link.textContent;
            place(holder, html);
            if (!dialog.open) { dialog.showModal(); }
          })
          .catch(function () { window.location.href = link.href; });
      });
    });
    dialog.addEventListener("close", function () {
      var finished = current && current.box.dataset.status !== "waiting";
      stop();
      holder.innerHTML = "";
      if (finished) { window.location.reload(); } // the card's status changed: show it
    });
    dialog.querySelectorAll("[data-close-dialog]").forEach(function (button) {
      button.addEventListener("click", function () { dialog.close(); });
    });
  });
})();
