/* Research export job page: poll the job's JSON status and move the progress bar.
   Served from our own static files (the CSP allows scripts from 'self' only). */
(function () {
  "use strict";
  var box = document.getElementById("export-job");
  if (!box) return;
  var url = box.getAttribute("data-status-url");
  var bar = document.getElementById("export-progress");
  var text = document.getElementById("export-progress-text");
  var statusEl = document.getElementById("export-status");
  var download = document.getElementById("export-download");
  var error = document.getElementById("export-error");
  var counts = document.getElementById("export-counts");
  var sha = document.getElementById("export-sha");
  var size = document.getElementById("export-size");
  var expires = document.getElementById("export-expires");
  var LABELS = { queued: "Queued", running: "Running", done: "Done", failed: "Failed", expired: "Expired" };
  var delay = 1000;

  function show(job) {
    bar.value = job.progress;
    bar.textContent = job.progress + " %";
    text.textContent = job.progress + " % (" + job.rows_done + " of " + job.rows_total + " rows)";
    statusEl.textContent = LABELS[job.status] || job.status;
    if (job.error) { error.textContent = job.error; error.hidden = false; }
    if (job.download_url) { download.hidden = false; }
    if (job.sha256) { sha.textContent = job.sha256; }
    if (job.size_bytes) { size.textContent = (job.size_bytes / 1024).toFixed(1) + " KB"; }
    if (job.expires_at) { expires.textContent = new Date(job.expires_at).toLocaleString(); }
    var parts = Object.keys(job.counts || {}).map(function (k) { return k + " " + job.counts[k]; });
    if (parts.length) { counts.textContent = parts.join(", "); }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (job) {
        show(job);
        if (job.status === "queued" || job.status === "running") {
          delay = Math.min(delay * 1.3, 5000);
          window.setTimeout(poll, delay);
        }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  var initial = statusEl.textContent.trim().toLowerCase();
  if (initial === "queued" || initial === "running") poll();
})();
