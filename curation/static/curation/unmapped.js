// Unmapped queue: j/k move, x selects, 1-9 and 0 map to that label, l picks a label, n marks
// "no label", i ignores, u undoes. Decisions POST to the API; the list is swapped in afterwards.
(() => {
  "use strict";
  const root = document.getElementById("unmapped");
  if (!root) return;
  const dialog = document.getElementById("unmapped-label-dialog");
  const items = () => [...root.querySelectorAll(".unmapped-item")];
  const labelIds = [...dialog.querySelectorAll("option")].map((o) => Number(o.value));
  const list = CurationKeys.list(items, (el) => el.dataset.text);
  const say = CurationKeys.flash(document.getElementById("flash"));

  async function refresh() {
    const response = await fetch(root.dataset.partial, { credentials: "same-origin" });
    if (response.ok) root.innerHTML = await response.text();
    list.settle();
  }

  async function post(path, body) {
    const { ok, message } = await CurationKeys.post(root.dataset.api + path, body);
    say(message, !ok);
    await refresh();
  }

  const decide = (verdict, label) => {
    const texts = list.targets().map((el) => el.dataset.text);
    if (texts.length) post("unmapped/decide/", { texts, verdict, label });
  };

  function askLabel() {
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok" ? Number(dialog.querySelector("select").value) : null), { once: true });
      dialog.returnValue = "";
      dialog.showModal();
      dialog.querySelector("select").focus();
    });
  }

  const actions = {
    j: () => list.move(1),
    k: () => list.move(-1),
    x: () => list.toggle(),
    l: async () => { const label = await askLabel(); if (label) decide("label", label); },
    n: () => decide("no_label"),
    i: () => decide("ignored"),
    u: () => post("actions/undo/"),
  };

  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, select, textarea, dialog") || event.ctrlKey || event.metaKey || event.altKey) return;
    let action = actions[event.key];
    if (/^[0-9]$/.test(event.key)) {
      const label = labelIds[event.key === "0" ? 9 : Number(event.key) - 1];
      action = label ? () => decide("label", label) : null;
    }
    if (!action) return;
    if (root.dataset.canCurate !== "1" && !"jk".includes(event.key)) return;
    event.preventDefault();
    event.stopPropagation();
    action();
  }, true);

  root.addEventListener("click", (event) => {
    const el = event.target.closest(".unmapped-item");
    if (!el || event.target.closest("a")) return;
    list.click(el, event);
  });
  list.paint();
})();
