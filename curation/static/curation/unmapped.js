// Unmapped queue: j/k move, x selects, 1-9 and 0 map to that label, l picks a label, n marks
// "no label", i ignores, u undoes. Decisions POST to the API; the list is swapped in afterwards.
(() => {
  "use strict";
  const root = document.getElementById("unmapped");
  if (!root) return;
  const flash = document.getElementById("flash");
  const dialog = document.getElementById("unmapped-label-dialog");
  const csrf = () => document.querySelector("[name=csrfmiddlewaretoken]")?.value || "";
  const items = () => [...root.querySelectorAll(".unmapped-item")];
  const labelIds = [...dialog.querySelectorAll("option")].map((o) => Number(o.value));
  const selected = new Set();
  let cursor = 0;

  function say(text, isError) {
    flash.textContent = text;
    flash.hidden = !text;
    flash.classList.toggle("error", Boolean(isError));
  }

  function paint() {
    const list = items();
    cursor = Math.max(0, Math.min(cursor, list.length - 1));
    list.forEach((el, i) => {
      el.classList.toggle("current", i === cursor);
      el.classList.toggle("selected", selected.has(el.dataset.text));
      el.setAttribute("aria-selected", selected.has(el.dataset.text) ? "true" : "false");
    });
    list[cursor]?.scrollIntoView({ block: "nearest" });
  }

  async function refresh() {
    const response = await fetch(root.dataset.partial, { credentials: "same-origin" });
    if (response.ok) root.innerHTML = await response.text();
    const texts = new Set(items().map((el) => el.dataset.text));
    [...selected].forEach((t) => texts.has(t) || selected.delete(t));
    paint();
  }

  async function post(path, body) {
    const response = await fetch(root.dataset.api + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify(body || {}),
    });
    const data = await response.json().catch(() => ({}));
    say(response.ok ? "" : data.detail || Object.values(data).flat().join(" ") || response.statusText, !response.ok);
    await refresh();
  }

  const targets = () => {
    const chosen = items().filter((el) => selected.has(el.dataset.text));
    const list = chosen.length ? chosen : [items()[cursor]].filter(Boolean);
    return list.map((el) => el.dataset.text);
  };
  const decide = (verdict, label) => {
    const texts = targets();
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
    j: () => { cursor += 1; paint(); },
    k: () => { cursor -= 1; paint(); },
    x: () => {
      const text = items()[cursor]?.dataset.text;
      if (text === undefined) return;
      selected.has(text) ? selected.delete(text) : selected.add(text);
      paint();
    },
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
    cursor = items().indexOf(el);
    if (event.shiftKey || event.metaKey || event.ctrlKey) actions.x();
    paint();
  });
  paint();
})();
