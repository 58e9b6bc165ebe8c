// The design system's behaviour (lab/static/lab/app.css has its look), loaded by base.html.
//
// Toasts: Django's messages arrive rendered in #toasts; a page's script adds one with
//   document.dispatchEvent(new CustomEvent("cxr:toast", { detail: { message, kind } }))
// (kind: "success", "info", "warning" or "error"), or by importing toast() from this module.
// Success and info toasts leave after a few seconds; warnings and errors stay until closed.
//
// Busy buttons: when a POST form is submitted (and no script stopped it), the button that submitted
// it gets aria-busy="true" (striped, progress cursor, no second click) until the page is left;
// coming back through the history restores it. A form with data-no-busy is left alone.

const LINGER_MS = 6000;

function region() {
  return document.getElementById("toasts");
}

function dismiss(element) {
  element.classList.add("leaving");
  setTimeout(() => element.remove(), 300);
}

function arm(element) {
  const kind = ["error", "warning"].find((k) => element.classList.contains(k));
  if (!kind) setTimeout(() => dismiss(element), LINGER_MS);
}

export function toast(message, kind = "info") {
  const box = region();
  if (!box) return null;
  const element = document.createElement("div");
  element.className = `toast ${kind}`;
  if (kind === "error") element.setAttribute("role", "alert");
  const text = document.createElement("span");
  text.className = "toast-text";
  text.textContent = message; // messages may carry user text: never markup
  const close = document.createElement("button");
  close.type = "button";
  close.className = "toast-close";
  close.setAttribute("aria-label", box.dataset.closeLabel || "×");
  close.textContent = "×";
  element.append(text, close);
  box.append(element);
  arm(element);
  return element;
}

document.addEventListener("cxr:toast", (event) => {
  const { message, kind } = event.detail || {};
  if (message) toast(String(message), kind);
});

// Only the toasts of #toasts: a page's own toast (the curation workspace's #toast, with Undo)
// stays in the page and closes itself.
document.addEventListener("click", (event) => {
  const close = event.target instanceof Element && event.target.closest("#toasts .toast-close");
  if (close) dismiss(close.closest(".toast"));
});

document.querySelectorAll("#toasts .toast").forEach(arm);

// Bubbling listener on the document: the form's own submit handlers ran first, so a submit a
// script prevented (validation, fetch) is not marked busy here.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (event.defaultPrevented || !(form instanceof HTMLFormElement) || "noBusy" in form.dataset) return;
  if (form.method.toLowerCase() !== "post") return; // a GET form (filters) just navigates
  const button = event.submitter || form.querySelector("button[type=submit], button:not([type])");
  if (button instanceof HTMLElement) button.setAttribute("aria-busy", "true");
});

window.addEventListener("pageshow", (event) => {
  if (event.persisted) document.querySelectorAll("[aria-busy=true]").forEach((b) => b.removeAttribute("aria-busy"));
});
