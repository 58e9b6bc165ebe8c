// Curation workspace: keyboard-first, no full reloads. Actions POST to /api/curation/ and the
// cluster list and Table I are swapped in from server-rendered partials afterwards.
(() => {
  "use strict";
  const root = document.getElementById("workspace");
  if (!root) return;
  const api = root.dataset.api;
  const partials = root.dataset.partials;
  const detailBase = root.dataset.detail;
  const canCurate = root.dataset.canCurate === "1";
  const help = document.getElementById("curation-help");
  const strings = JSON.parse(document.getElementById("workspace-strings").textContent);
  const items = () => [...root.querySelectorAll("#clusters .cluster")];
  // A plain click chooses that one cluster, Shift (or Ctrl/Cmd) + click adds or removes one:
  // what is highlighted is exactly what an action changes. keylist.js defines "this step".
  const list = CurationKeys.list(items, (el) => el.dataset.id, { clickSelects: true, onChange: show });
  const { selected, current } = list;
  let lastDone = ""; // what the toast said about this page's last action, for its undo
  let busy = false; // one action at a time: a second key press never acts on a half-refreshed list

  const { fill, count } = CurationKeys;
  const toast = CurationKeys.toaster(document.getElementById("toast"), strings.undo, () => run("u"));

  function show() {
    const n = selected.size;
    const focused = current();
    // With nothing selected an action takes the focused cluster; the bar names it only when it
    // was chosen in this step (otherwise the action asks first, see confirmChosen).
    const pointed = focused && !list.notChosenThisStep([focused]).length;
    const text = n
      ? count(strings.selected, n)
      : pointed ? fill(strings.focused, { name: focused.dataset.name }) : strings.none;
    const bar = document.getElementById("selection-bar");
    bar.querySelector(".selection-text").textContent = text;
    bar.classList.toggle("has-selection", n > 0);
    bar.querySelector("button").disabled = n === 0 || busy;
    const ticked = document.querySelectorAll("#detail form.members input:checked").length;
    const enabled = {
      l: list.targets().length, n: list.targets().length, i: list.targets().length,
      o: list.targets().length, m: selected.size >= 2, r: focused, s: ticked, u: true, "?": true,
    };
    root.querySelectorAll("#toolbar button[data-key]").forEach((button) => {
      button.disabled = busy || !enabled[button.dataset.key];
    });
    root.classList.toggle("busy", busy);
  }

  async function swap(id, partial) {
    const response = await fetch(`${partials}partial=${partial}`, { credentials: "same-origin" });
    if (response.ok) document.getElementById(id).innerHTML = await response.text();
  }

  async function refresh() {
    const keep = current()?.dataset.id;
    await Promise.all([swap("clusters", "clusters"), swap("stats", "stats")]);
    list.settle(keep);
  }

  // Send one action. Success ends the step: the selection clears and the toast says what
  // changed, with Undo. A refusal keeps the selection (nothing changed) and says why.
  async function act(path, body, describe, undoable = true) {
    const { ok, data, message } = await CurationKeys.post(api + path, body);
    await refresh(); // after a conflict our versions are stale: show what is there now
    // Said once the list shows the change, so whoever reads the toast sees the new list.
    if (ok) {
      list.clear();
      const said = describe(data);
      lastDone = undoable ? said : "";
      toast(said, { undoable });
    } else {
      toast(message, { error: true });
    }
    return ok ? data : null;
  }

  const ref = (el) => ({ cluster: Number(el.dataset.id), version: Number(el.dataset.version) });

  function ask(dialogId, prefill) {
    const dialog = document.getElementById(dialogId);
    const field = dialog.querySelector("input, select");
    if (prefill !== undefined && field.tagName === "INPUT") field.value = prefill;
    return new Promise((resolve) => {
      dialog.addEventListener(
        "close",
        () => resolve(dialog.returnValue === "ok" ? field : null),
        { once: true },
      );
      dialog.returnValue = "";
      dialog.showModal();
      field.focus();
      if (field.select) field.select();
    });
  }

  // Before an action changes clusters the user did not choose in this step (left under the
  // cursor or selected before the last action), name them and ask; Cancel is the default.
  function confirmChosen(els) {
    const stale = list.notChosenThisStep(els);
    if (!stale.length) return Promise.resolve(true);
    const dialog = document.getElementById("confirm-dialog");
    dialog.querySelector(".confirm-title").textContent = count(strings.confirm_title, stale.length);
    dialog.querySelector(".confirm-text").textContent = count(strings.confirm_text, stale.length);
    const names = dialog.querySelector(".confirm-list");
    names.replaceChildren(...stale.map((el) => {
      const item = document.createElement("li");
      item.textContent = el.dataset.name;
      return item;
    }));
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
      dialog.returnValue = "";
      dialog.showModal();
      dialog.querySelector("button[value=cancel]").focus();
    });
  }

  async function openDetail() {
    const el = current();
    if (!el) return;
    const response = await fetch(`${detailBase}${el.dataset.id}/?partial=1`, {
      credentials: "same-origin",
    });
    if (response.ok) document.getElementById("detail").innerHTML = await response.text();
    show();
  }

  // Mapping clusters with outliers asks what to do with them, each choice with the number of
  // images it labels (from the API); the dialog's fieldset stays hidden when there are none.
  const labelDialog = document.getElementById("label-dialog");
  const choice = labelDialog.querySelector(".outlier-choice");
  async function prepareOutlierChoice(els) {
    const outliers = els.reduce((sum, el) => sum + Number(el.dataset.outliers || 0), 0);
    choice.hidden = true;
    if (!outliers) return true;
    const ids = els.map((el) => el.dataset.id).join(",");
    const response = await fetch(`${api}clusters/outlier-choices/?clusters=${ids}`, { credentials: "same-origin" });
    if (!response.ok) return false;
    const counts = await response.json();
    choice.querySelector(".outlier-title").textContent = count(strings.choice_title, counts.outliers);
    for (const key of ["keep", "unmapped", "split"]) {
      choice.querySelector(`.choice-${key}`).textContent = count(strings[`choice_${key}`], counts[key]);
    }
    choice.querySelector("input[value=unmapped]").checked = true;
    choice.hidden = false;
    return true;
  }
  const CHOICE_KEYS = { k: "keep", q: "unmapped", s: "split" };
  labelDialog.addEventListener("keydown", (event) => {
    const value = CHOICE_KEYS[event.key];
    if (!value || choice.hidden || event.ctrlKey || event.metaKey || event.altKey) return;
    event.preventDefault();
    const radio = choice.querySelector(`input[value=${value}]`);
    radio.checked = true;
    radio.focus();
  });

  // Map, no label, ignore, reopen: the selection, or the focused cluster when none.
  async function decide(verdict, path) {
    const els = list.targets();
    if (!els.length) return toast(strings.none, { error: true });
    if (!(await confirmChosen(els))) return;
    let label = null;
    let outliers = "keep";
    if (verdict === "label") {
      if (!(await prepareOutlierChoice(els))) return toast(strings.none, { error: true });
      const field = await ask("label-dialog");
      if (!field) return;
      label = field.selectedOptions[0];
      if (!choice.hidden) outliers = choice.querySelector("input:checked").value;
    }
    const moved = choice.hidden ? 0 : els.reduce((sum, el) => sum + Number(el.dataset.outliers || 0), 0);
    const body = { clusters: els.map(ref), outliers, ...(label ? { label: Number(label.value) } : {}) };
    await act(path, body, (data) => {
      const said = count(strings[verdict], data.length, { name: data[0]?.name, label: label?.dataset.name });
      const aside = strings[`outliers_${outliers}`];
      return aside && moved ? `${said} ${count(aside, moved)}` : said;
    });
  }

  async function merge() {
    const els = items().filter((el) => selected.has(el.dataset.id));
    if (els.length < 2) return toast(root.dataset.mergeHint, { error: true });
    if (!(await confirmChosen(els))) return;
    // Into the focused cluster when it is one of them; otherwise the server takes the largest.
    const into = selected.has(current()?.dataset.id) ? Number(current().dataset.id) : null;
    await act("actions/merge/", { clusters: els.map(ref), into }, (data) =>
      count(strings.merge, els.length, { name: data.name }));
  }

  async function rename() {
    const el = current();
    if (!el || !(await confirmChosen([el]))) return;
    const field = await ask("rename-dialog", el.dataset.name);
    if (!field || !field.value) return;
    const old = el.dataset.name;
    await act("actions/rename/", { ...ref(el), name: field.value }, (data) =>
      fill(strings.rename, { old, name: data.name }));
  }

  async function split() {
    const form = document.querySelector("#detail form.members");
    const members = form ? [...form.querySelectorAll("input:checked")].map((c) => Number(c.value)) : [];
    if (!members.length) return toast(root.dataset.splitHint, { error: true });
    const field = await ask("split-dialog", "");
    if (!field) return;
    const body = { cluster: Number(form.dataset.cluster), version: Number(form.dataset.version), members, name: field.value };
    if (await act("actions/split/", body, (data) => count(strings.split, members.length, { name: data.name }))) openDetail();
  }

  const actions = {
    j: () => list.move(1),
    k: () => list.move(-1),
    Enter: openDetail,
    x: () => list.toggle(),
    Escape: () => { list.clear(); help.hidden = true; },
    m: merge,
    r: rename,
    l: () => decide("label", "actions/map/"),
    n: () => decide("no_label", "actions/no-label/"),
    i: () => decide("ignored", "actions/ignore/"),
    o: () => decide("open", "actions/reopen/"),
    // Undo names what it took back: this page's own words when it made that action, otherwise
    // the audit log's summary.
    u: () => act("actions/undo/", {}, (data) => {
      const summary = lastDone || data.undone.replace(/^undo /, "");
      lastDone = "";
      return fill(strings.undone, { summary });
    }, false),
    s: split,
    "?": () => { help.hidden = !help.hidden; },
  };
  const CURATING = new Set(["m", "r", "l", "n", "i", "o", "u", "s"]);

  async function run(key) {
    if (busy || !actions[key] || (CURATING.has(key) && !canCurate)) return;
    busy = true;
    show();
    try {
      await actions[key]();
    } finally {
      busy = false;
      show();
    }
  }

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (target.closest("input:not([type=checkbox]), select, textarea, dialog") || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Enter" && target.closest("button, a")) return; // a focused button's own Enter
    if (!actions[event.key]) return;
    event.preventDefault();
    event.stopPropagation();
    run(event.key);
  }, true);

  root.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-key]");
    if (button) return run(button.dataset.key);
    const el = event.target.closest(".cluster");
    if (!el || busy) return;
    list.click(el, event);
    openDetail();
  });
  document.getElementById("detail").addEventListener("change", show);

  document.getElementById("run-select")?.addEventListener("change", (event) => {
    window.location.search = `?run=${event.target.value}&sort=${root.dataset.sort}`;
  });
  document.getElementById("sort-select")?.addEventListener("change", (event) => {
    const params = new URLSearchParams(window.location.search);
    params.set("sort", event.target.value);
    window.location.search = `?${params}`;
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
    else if (run.status === "failed") toast(run.error, { error: true });
    else setTimeout(() => poll(runId), 1000);
  }
  if (progress?.dataset.run) poll(progress.dataset.run);

  document.getElementById("run-form")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const body = { k: Number(form.get("k")), seed: Number(form.get("seed") || 0), distance: form.get("distance") };
    const { ok, data, message } = await CurationKeys.post(`${api}runs/`, body);
    if (!ok) return toast(message, { error: true });
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
