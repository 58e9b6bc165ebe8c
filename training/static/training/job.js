// A job's live page: polls the job's API entry every two seconds until the job has finished,
// and redraws the progress bar, ETA, curves and log tail without reloading.
(function () {
  const root = document.getElementById("job");
  if (!root) return;
  const text = JSON.parse(document.getElementById("job-strings").textContent);
  const $ = (id) => document.getElementById(id);

  function duration(seconds) {
    if (seconds == null || !isFinite(seconds)) return "—";
    const s = Math.round(seconds), u = text.units;
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return h ? `${h} ${u.h} ${m} ${u.min}` : m ? `${m} ${u.min} ${s % 60} ${u.s}` : `${s} ${u.s}`;
  }

  // A slow CPU run does well under one image a second: keep a digit there.
  function rate(value) {
    const n = Number(value);
    return n >= 10 ? String(Math.round(n)) : n.toFixed(n >= 1 ? 1 : 2);
  }

  // "training · epoch 1 of 3 · batch 5 of 90 (5.6 %) · 12 images/s · about 4 min left"
  function phaseLine(p, running) {
    if (!p.phase) return "";
    const parts = [text.phases[p.phase] || p.phase];
    if (p.epochs) parts.push(fill(text.epoch, { epoch: p.epoch, epochs: p.epochs }));
    if (p.total_steps) {
      const percent = (100 * p.step / p.total_steps).toFixed(1) + " %";
      parts.push(fill(text.step, { step: p.step, total: p.total_steps, percent }));
    }
    if (p.images_per_s != null) parts.push(fill(text.rate, { rate: rate(p.images_per_s) }));
    if (running && p.phase === "train") {
      parts.push(p.eta_s != null ? fill(text.eta, { eta: duration(p.eta_s) }) : text.eta_pending);
    }
    return parts.join(" · ");
  }

  function fill(template, values) {
    return template.replace(/%\((\w+)\)s/g, (_, key) => values[key] ?? "");
  }

  let charted = -1;

  function drawChart(history) {
    // The bundled ECharts (dist/charts.js) draws loss and validation metrics against steps.
    if (!window.CXRCharts || history.length === charted) return;
    charted = history.length;
    const points = history.map((p) => ({
      step: p.step,
      train_loss: p.loss,
      ...Object.fromEntries(Object.entries(p.val || {}).map(([k, v]) => ["val_" + k, v])),
    }));
    window.CXRCharts.curves($("job-chart"), points, { strings: text.chart });
  }

  function drawCurve(history) {
    const body = $("job-curve").tBodies[0];
    body.replaceChildren();
    history.filter((p) => p.loss != null || p.val).slice(-30).forEach((p) => {
      const row = body.insertRow();
      const val = p.val ? Object.entries(p.val).map(([k, v]) => `${(text.metrics || {})[k] || k} ${Number(v).toFixed(3)}`).join(", ") : "";
      [p.epoch, p.step, p.loss != null ? Number(p.loss).toFixed(4) : "", p.images_per_s != null ? rate(p.images_per_s) : "", val]
        .forEach((value) => { row.insertCell().textContent = value; });
    });
  }

  function render(job) {
    const finished = ["succeeded", "failed", "cancelled"].includes(job.status);
    const cancelling = job.cancel_requested && !finished;
    $("job-status").textContent = cancelling ? text.cancelling : text.status[job.status] || job.status;
    $("job-status").className = "status-" + job.status + (cancelling ? " status-cancelling" : "");
    if (cancelling && $("job-cancel")) $("job-cancel").disabled = true;
    $("job-attempts").textContent = job.attempts;
    $("job-worker").textContent = job.worker || "—";
    $("job-progress").value = job.fraction_done;
    $("job-position").textContent = job.queue_position ? fill(text.position, { position: job.queue_position }) : "";
    const p = job.progress || {};
    $("job-phase").textContent = phaseLine(p, job.status === "running");
    if ($("job-error")) $("job-error").textContent = job.error || "";
    $("job-log").textContent = job.log_tail;
    drawCurve(job.history || []);
    drawChart(job.history || []);
    return finished;
  }

  async function poll() {
    try {
      const response = await fetch(root.dataset.url, { headers: { Accept: "application/json" } });
      if (response.ok && render(await response.json())) {
        if (root.dataset.finished === "0") window.location.reload(); // show the final actions
        return;
      }
    } catch (err) {
      $("job-phase").textContent = text.offline;
    }
    setTimeout(poll, 2000);
  }
  poll();
})();
