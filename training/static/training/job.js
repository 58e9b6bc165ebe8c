// A job's live page: polls the job's API entry every two seconds until the job has finished,
// and redraws the progress bar, ETA, curves and log tail without reloading.
(function () {
  const root = document.getElementById("job");
  if (!root) return;
  const text = JSON.parse(document.getElementById("job-strings").textContent);
  const $ = (id) => document.getElementById(id);

  function duration(seconds) {
    if (seconds == null || !isFinite(seconds)) return "—";
    const s = Math.round(seconds);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return h ? `${h} h ${m} min` : m ? `${m} min ${s % 60} s` : `${s} s`;
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
      const val = p.val ? Object.entries(p.val).map(([k, v]) => `${k} ${Number(v).toFixed(3)}`).join(", ") : "";
      [p.epoch, p.step, p.loss != null ? Number(p.loss).toFixed(4) : "", p.images_per_s != null ? Math.round(p.images_per_s) : "", val]
        .forEach((value) => { row.insertCell().textContent = value; });
    });
  }

  function render(job) {
    $("job-status").textContent = text.status[job.status] || job.status;
    $("job-status").className = "status-" + job.status;
    $("job-attempts").textContent = job.attempts;
    $("job-worker").textContent = job.worker || "—";
    $("job-progress").value = job.fraction_done;
    $("job-position").textContent = job.queue_position ? fill(text.position, { position: job.queue_position }) : "";
    const p = job.progress || {};
    $("job-phase").textContent = p.epoch ? fill(text.phase, {
      phase: p.phase, epoch: p.epoch, epochs: p.epochs, step: p.step, total: p.total_steps, eta: duration(p.eta_s),
    }) : "";
    $("job-error").textContent = job.error || "";
    $("job-log").textContent = job.log_tail;
    drawCurve(job.history || []);
    drawChart(job.history || []);
    return ["succeeded", "failed", "cancelled"].includes(job.status);
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
