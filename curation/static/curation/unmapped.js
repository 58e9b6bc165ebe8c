// Unmapped queue, with the workspace's selection behaviour: j/k move, x (or Shift+click) selects,
// the selection bar counts what an action will change and Esc clears it; 1-9 and 0 map to that
// label, l picks a label, n marks "no label", i ignores, u undoes. A decision POSTs to the API,
// the list is swapped in, the selection clears and a toast says what changed, with Undo; a
// refusal keeps the selection and says why.
(() => {
  "use strict";
  const root = document.getElementById("unmapped");
  if (!root) return;
  const dialog = document.getElementById("unmapped-label-dialog");
  const strings = JSON.parse(document.getElementById("unmapped-strings").textContent);
  const { fill, count } = CurationKeys;
  const items = () => [...root.querySelectorAll(".unmapped-item")];
  const options = [...dialog.querySelectorAll("option")];
  const bar = document.getElementById("selection-bar");
  const list = CurationKeys.list(items, (el) => el.dataset.text, { onChange: show });
  const toast = CurationKeys.toaster(document.getElementById("toast"), strings.undo, () => run("u"));
  const canCurate = root.dataset.canCurate === "1";
  let busy = false;

  function show() {
    const n = list.selected.size;
    bar.querySelector(".selection-text").textContent = n ? count(strings.selected, n) : strings.none;
    bar.classList.toggle("has-selection", n > 0);
    bar.querySelector("button").disabled = n === 0;
  }

  async function refresh() {
    const response = await fetch(root.dataset.partial, { credentials: "same-origin" });
    if (response.ok) root.innerHTML = await response.text();
    list.settle();
  }

  async function act(path, body, said) {
    const { ok, message } = await CurationKeys.post(root.dataset.api + path, body);
    await refresh();
    if (ok) {
      list.clear();
      toast(said, { undoable: path !== "actions/undo/" });
    } else {
      toast(message, { error: true });
    }
  }

  function decide(verdict, option) {
    const texts = list.targets().map((el) => el.dataset.text);
    if (!texts.length) return toast(strings.none, { error: true });
    const label = option ? Number(option.value) : undefined;
    const said = count(strings[verdict], texts.length, { label: option?.dataset.name, text: texts[0] });
    return act("unmapped/decide/", { texts, verdict, label }, said);
  }

  function askLabel() {
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok" ? dialog.querySelector("select").selectedOptions[0] : null), { once: true });
      dialog.returnValue = "";
      dialog.showModal();
      dialog.querySelector("select").focus();
    });
  }

  const actions = {
    j: () => list.move(1),
    k: () => list.move(-1),
    x: () => list.toggle(),
    Escape: () => list.clear(),
    l: async () => { const option = await askLabel(); if (option) await decide("label", option); },
    n: () => decide("no_label"),
    i: () => decide("ignored"),
    u: () => act("actions/undo/", {}, strings.undone),
  };
  const CURATING = new Set(["l", "n", "i", "u"]);

  async function run(key, action = actions[key]) {
    if (busy || !action || ((CURATING.has(key) || /^[0-9]$/.test(key)) && !canCurate)) return;
    busy = true;
    try {
      await action();
    } finally {
      busy = false;
      show();
    }
  }

  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, select, textarea, dialog") || event.ctrlKey || event.metaKey || event.altKey) return;
    let action = actions[event.key];
    if (/^[0-9]$/.test(event.key)) {
      const option = options[event.key === "0" ? 9 : Number(event.key) - 1];
      action = option ? () => decide("label", option) : null;
    }
    if (!action) return;
    event.preventDefault();
    event.stopPropagation();
    run(event.key, action);
  }, true);

  bar.querySelector("button").addEventListener("click", () => run("Escape"));
  root.addEventListener("click", (event) => {
    const el = event.target.closest(".unmapped-item");
    if (!el || event.target.closest("a")) return;
    list.click(el, event);
  });
  list.paint();
})();
