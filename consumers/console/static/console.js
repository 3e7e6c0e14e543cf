// Live lead list: poll the JSON twin of the page and swap the table when the leads changed.
(function () {
  "use strict";
  var box = document.getElementById("lead-table");
  if (!box) { return; }
  var seconds = Number(box.dataset.pollSeconds) || 5;
  function refresh() {
    fetch(box.dataset.poll, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data && data.signature !== box.dataset.signature) {
          box.innerHTML = data.html;
          box.dataset.signature = data.signature;
        }
        var stamp = document.getElementById("refreshed");
        if (data && stamp) { stamp.textContent = data.now; }
      })
      .catch(function () { /* the next poll tries again */ })
      .finally(function () { window.setTimeout(refresh, seconds * 1000); });
  }
  window.setTimeout(refresh, seconds * 1000);
}());
