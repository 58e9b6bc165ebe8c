// Curation workspace: keyboard-first, no full reloads. Actions POST to /api/curation/ and the
// cluster list and Table I are swapped in from server-rendered partials afterwards.
(() => {
  "use strict";
  const root = document.getElementById("workspace");
  if (!root) return;
  const api = root.dataset.api;
  const partials = root.dataset.partials;
  const detailBase = root.dataset.detail;
  const help = document.getElementById("curation-help");
  const items = () => [...root.querySelectorAll("#clusters .cluster")];
  const list = CurationKeys.list(items, (el) => el.dataset.id);
  const { selected, current } = list;
  const say = CurationKeys.flash(document.getElementById("flash"));

  async function swap(id, partial) {
    const response = await fetch(`${partials}partial=${partial}`, { credentials: "same-origin" });
    if (response.ok) document.getElementById(id).innerHTML = await response.text();
  }

  async function refresh() {
    const keep = current()?.dataset.id;
    await Promise.all([swap("clusters", "clusters"), swap("stats", "stats")]);
    list.settle(keep);
  }

  async function post(path, body) {
    const { ok, data, message } = await CurationKeys.post(api + path, body);
    say(message, !ok);
    await refresh(); // after a conflict our versions are stale: show what is there now
    return ok ? data : null;
  }

  const ref = (el) => ({ cluster: Number(el.dataset.id), version: Number(el.dataset.version) });
  const targets = () => list.targets();

  function ask(dialogId, prefill) {
    const dialog = document.getElementById(dialogId);
    const field = dialog.querySelector("input, select");
    if (prefill !== undefined && field.tagName === "INPUT") field.value = prefill;
    return new Promise((resolve) => {
      dialog.addEventListener(
        "close",
        () => resolve(dialog.returnValue === "ok" ? field.value : null),
        { once: true },
      );
      dialog.returnValue = "";
      dialog.showModal();
      field.focus();
      if (field.select) field.select();
    });
  }

  async function openDetail() {
    const el = current();
    if (!el) return;
    const response = await fetch(`${detailBase}${el.dataset.id}/?partial=1`, {
      credentials: "same-origin",
    });
    if (response.ok) document.getElementById("detail").innerHTML = await response.text();
  }

  const actions = {
    j: () => list.move(1),
    k: () => list.move(-1),
    Enter: openDetail,
    x: () => list.toggle(),
    m: async () => {
      const into = current();
      const chosen = new Set([...selected, into?.dataset.id]);
      if (!into || chosen.size < 2) return say(root.dataset.mergeHint, true);
      const clusters = items().filter((el) => chosen.has(el.dataset.id)).map(ref);
      if (await post("actions/merge/", { clusters, into: Number(into.dataset.id) })) selected.clear();
      list.paint();
    },
    r: async () => {
      const el = current();
      if (!el) return;
      const name = await ask("rename-dialog", el.dataset.name);
      if (name) await post("actions/rename/", { ...ref(el), name });
    },
    l: async () => {
      const label = await ask("label-dialog");
      if (label) await post("actions/map/", { clusters: targets().map(ref), label: Number(label) });
    },
    n: () => post("actions/no-label/", { clusters: targets().map(ref) }),
    i: () => post("actions/ignore/", { clusters: targets().map(ref) }),
    u: () => post("actions/undo/"),
    s: async () => {
      const form = document.querySelector("#detail form.members");
      const members = form ? [...form.querySelectorAll("input:checked")].map((c) => Number(c.value)) : [];
      if (!members.length) return say(root.dataset.splitHint, true);
      const name = await ask("split-dialog", "");
      if (name === null) return;
      const body = { cluster: Number(form.dataset.cluster), version: Number(form.dataset.version), members, name };
      if (await post("actions/split/", body)) openDetail();
    },
    "?": () => { help.hidden = !help.hidden; },
  };

  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input:not([type=checkbox]), select, textarea, dialog") || event.ctrlKey || event.metaKey || event.altKey) return;
    const action = actions[event.key];
    if (!action) return;
    if (root.dataset.canCurate !== "1" && "mrlniu s".includes(event.key)) return;
    event.preventDefault();
    event.stopPropagation();
    action();
  }, true);

  root.addEventListener("click", (event) => {
    const el = event.target.closest(".cluster");
    if (!el) return;
    list.click(el, event);
    openDetail();
  });

  document.getElementById("run-select")?.addEventListener("change", (event) => {
    window.location.search = `?run=${event.target.value}`;
  });

  const progress = document.getElementById("run-progress");
  async function poll(runId) {
    progress.hidden = false;
    const response = await fetch(`${api}runs/${runId}/`, { credentials: "same-origin" });
    const run = await response.json();
    progress.querySelector("progress").value = run.progress || 0;
    progress.querySelector(".stage").textContent = run.stage || run.status;
    const jobLink = progress.querySelector(".job-link");
    if (run.job && jobLink) {
      jobLink.href = progress.dataset.jobUrl.replace(/0\/$/, `${run.job}/`);
      jobLink.hidden = false;
    }
    if (run.status === "succeeded") window.location.search = `?run=${run.id}`;
    else if (run.status === "failed") say(run.error, true);
    else setTimeout(() => poll(runId), 1000);
  }
  if (progress?.dataset.run) poll(progress.dataset.run);

  document.getElementById("run-form")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const body = { k: Number(form.get("k")), seed: Number(form.get("seed") || 0) };
    const { ok, data, message } = await CurationKeys.post(`${api}runs/`, body);
    if (!ok) return say(message, true);
    poll(data.id);
  });

  // The elbow plot: loss against k, the suggested k marked.
  const curveData = document.getElementById("k-curve");
  const plot = document.getElementById("k-plot");
  if (curveData && plot) {
    const curve = JSON.parse(curveData.textContent || "{}");
    if (curve.ks && curve.ks.length > 1) {
      const [w, h, pad] = [220, 90, 8];
      const kMin = curve.ks[0], kMax = curve.ks[curve.ks.length - 1];
      const lMax = Math.max(...curve.losses) || 1;
      const x = (k) => pad + ((k - kMin) / (kMax - kMin || 1)) * (w - 2 * pad);
      const y = (l) => h - pad - (l / lMax) * (h - 2 * pad);
      const points = curve.ks.map((k, i) => `${x(k)},${y(curve.losses[i])}`).join(" ");
      const sx = x(curve.suggested_k);
      plot.innerHTML = `<polyline fill="none" stroke="#1f6feb" stroke-width="2" points="${points}"/>` +
        `<line x1="${sx}" x2="${sx}" y1="${pad}" y2="${h - pad}" stroke="#bf8700" stroke-dasharray="3"/>` +
        `<text x="${sx + 3}" y="${pad + 8}" font-size="9">k=${curve.suggested_k}</text>`;
    }
  }
  list.paint();
})();
