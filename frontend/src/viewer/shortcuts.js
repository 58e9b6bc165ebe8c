// Viewer keys. Single keys are free for the viewer: the page-wide shortcuts in app.js use
// two-key sequences ("g h") and "?".
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

function typingInField(target) {
  return (
    target instanceof HTMLElement &&
    (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))
  );
}

/** The viewer action a key press asks for, or null when it is not the viewer's to handle. */
export function actionForKey(event) {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return null;
  if (typingInField(event.target)) return null;
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  return KEYS[key] ?? null;
}
