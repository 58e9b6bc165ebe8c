// What the keyboard-first curation pages share: a cursor over a list of items (j/k), a
// selection (x, or a modified click), a flash line for messages, and JSON POSTs to the API.
// Loaded before the page's own script (both deferred, so they run in order).
window.CurationKeys = (() => {
  "use strict";
  const csrf = () => document.querySelector("[name=csrfmiddlewaretoken]")?.value || "";

  // items(): the list's elements now (partials are swapped in); keyOf(el): a stable key.
  function list(items, keyOf) {
    const selected = new Set();
    const state = {
      cursor: 0,
      selected,
      current: () => items()[state.cursor],
      paint() {
        const all = items();
        state.cursor = Math.max(0, Math.min(state.cursor, all.length - 1));
        all.forEach((el, i) => {
          const chosen = selected.has(keyOf(el));
          el.classList.toggle("current", i === state.cursor);
          el.classList.toggle("selected", chosen);
          el.setAttribute("aria-selected", chosen ? "true" : "false");
        });
        all[state.cursor]?.scrollIntoView({ block: "nearest" });
      },
      move(step) {
        state.cursor += step;
        state.paint();
      },
      toggle() {
        const el = state.current();
        if (!el) return;
        const key = keyOf(el);
        selected.has(key) ? selected.delete(key) : selected.add(key);
        state.paint();
      },
      // After a refresh: forget selected keys that are gone, keep the cursor on `keep`.
      settle(keep) {
        const keys = new Set(items().map(keyOf));
        [...selected].forEach((key) => keys.has(key) || selected.delete(key));
        const index = items().findIndex((el) => keyOf(el) === keep);
        if (index >= 0) state.cursor = index;
        state.paint();
      },
      // The selected items, or the one under the cursor when nothing is selected.
      targets() {
        const chosen = items().filter((el) => selected.has(keyOf(el)));
        return chosen.length ? chosen : [state.current()].filter(Boolean);
      },
      // A click points the cursor at an item; with a modifier key it also toggles it.
      click(el, event) {
        state.cursor = items().indexOf(el);
        if (event.shiftKey || event.metaKey || event.ctrlKey) state.toggle();
        state.paint();
      },
    };
    return state;
  }

  function flash(element) {
    return (text, isError) => {
      element.textContent = text;
      element.hidden = !text;
      element.classList.toggle("error", Boolean(isError));
    };
  }

  // Send JSON; resolves to {ok, data, message}, message being the API's error in one line.
  async function post(url, body, method = "POST") {
    const response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify(body || {}),
    });
    const data = await response.json().catch(() => ({}));
    const message = response.ok
      ? ""
      : data.detail || Object.values(data).flat().join(" ") || response.statusText;
    return { ok: response.ok, data, message };
  }

  return { list, flash, post };
})();
