// Viewer keys. Single keys are free for the viewer: the page-wide shortcuts in app.js use
// two-key sequences ("g h") and "?". The viewer listens in the capture phase (mount.js says why)
// and answers "?" itself, with the page's help and its own keys in it.
export const KEYS = Object.freeze({
  w: "windowLevel",
  z: "zoom",
  p: "pan",
  i: "invert",
  r: "reset",
  1: "preset:lung",
  2: "preset:mediastinum",
  3: "preset:bone",
  4: "preset:full",
  ArrowLeft: "previous",
  ArrowRight: "next",
});

// Inputs that take no typing: after a click on the viewer's CPU checkbox, keys still work.
const NOT_TYPED = new Set(["checkbox", "radio", "button", "submit", "reset"]);

function typingInField(target) {
  if (!(target instanceof HTMLElement)) return false;
  if (target.tagName === "INPUT") return !NOT_TYPED.has(String(target.type).toLowerCase());
  return target.isContentEditable || /^(TEXTAREA|SELECT)$/.test(target.tagName);
}

function ignored(event) {
  return (
    event.defaultPrevented ||
    event.ctrlKey ||
    event.metaKey ||
    event.altKey ||
    typingInField(event.target)
  );
}

/** The viewer action a key press asks for, or null when it is not the viewer's to handle. */
export function actionForKey(event) {
  if (ignored(event)) return null;
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  return KEYS[key] ?? null;
}

/** "?" shows or hides the key list; Escape hides it. */
export function helpKey(event) {
  if (ignored(event)) return null;
  if (event.key === "?") return "toggle";
  return event.key === "Escape" ? "hide" : null;
}
