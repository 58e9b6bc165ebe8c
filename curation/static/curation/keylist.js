// What the keyboard-first curation pages share: a cursor over a list of items (j/k), a
// selection (x, or a modified click), a flash line for messages, and JSON POSTs to the API.
// Loaded before the page's own script (both deferred, so they run in order).
window.CurationKeys = (() => {
  "use strict";
  const csrf = () => document.querySelector("[name=csrfmiddlewaretoken]")?.value || "";

  // items(): the list's elements now (partials are swapped in); keyOf(el): a stable key.
  // options.clickSelects: a plain click makes the clicked item the whole selection (as in a
  // file manager) instead of only moving the cursor; options.onChange: called after each paint.
  //
  // "This step" (see chosenThisStep): the user's pointing since the last action that changed
  // something, or since Esc or the page load. An item counts as chosen in this step when the
  // user clicked it, toggled it with x, or moved the cursor onto it with j/k during the step.
  // Items merely left under the cursor or in the selection by an earlier step do not count.
  function list(items, keyOf, options = {}) {
    const selected = new Set();
    const touched = new Set(); // keys chosen in this step
    const state = {
      cursor: 0,
      selected,
      touched,
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
        options.onChange?.(state);
      },
      move(step) {
        state.cursor = Math.max(0, Math.min(state.cursor + step, items().length - 1));
        const el = state.current();
        if (el) touched.add(keyOf(el));
        state.paint();
      },
      toggle() {
        const el = state.current();
        if (!el) return;
        const key = keyOf(el);
        touched.add(key);
        selected.has(key) ? selected.delete(key) : selected.add(key);
        state.paint();
      },
      // Esc, and every action that changed something: nothing selected, a new step begins.
      clear() {
        selected.clear();
        touched.clear();
        state.paint();
      },
      // Of these items, the ones the user did not choose in this step.
      notChosenThisStep: (els) => els.filter((el) => !touched.has(keyOf(el))),
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
        touched.add(keyOf(el));
        if (event.shiftKey || event.metaKey || event.ctrlKey) state.toggle();
        else if (options.clickSelects) {
          selected.clear();
          selected.add(keyOf(el));
        }
        state.paint();
      },
    };
    return state;
  }

  // The toast: what the last action changed, with an Undo link; or why it was refused.
  // toaster(element, undoLabel, onUndo) -> toast(text, {error, undoable}); "" hides it.
  function toaster(element, undoLabel, onUndo) {
    const undoLink = element.querySelector(".toast-undo");
    undoLink.textContent = undoLabel;
    undoLink.addEventListener("click", onUndo);
    const toast = (text, { error = false, undoable = false } = {}) => {
      element.querySelector(".toast-text").textContent = text;
      element.classList.toggle("error", error);
      undoLink.hidden = !undoable;
      element.hidden = !text;
    };
    element.querySelector(".toast-close").addEventListener("click", () => toast(""));
    return toast;
  }

  // "%(name)s" placeholders filled from values; count() picks the one or the many form.
  const fill = (text, values) => text.replace(/%\((\w+)\)s/g, (_, key) => String(values[key] ?? ""));
  const count = (pair, n, values = {}) => fill(Array.isArray(pair) ? pair[n === 1 ? 0 : 1] : pair, { n, ...values });

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

  return { list, flash, post, toaster, fill, count };
})();
