// Page-wide keyboard shortcuts. Two-key sequences ("g h") like many review tools, so single
// keys stay free for the viewer and curation pages.
const sequences = {
  "g h": () => document.querySelector("a[accesskey=h]")?.click(),
  "g s": () => document.querySelector("a[accesskey=s]")?.click(),
  "g u": () => document.querySelector("a[accesskey=u]")?.click(),
  "g j": () => document.querySelector("a[accesskey=j]")?.click(),
  "g c": () => document.querySelector("a[accesskey=c]")?.click(),
  "g r": () => document.querySelector("a[accesskey=r]")?.click(),
};

function typingInField(event) {
  const target = event.target;
  return target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
}

function toggleHelp() {
  document.getElementById("shortcut-help")?.toggleAttribute("hidden");
}

let pending = "";
let pendingTimer = 0;

export function handleKey(event) {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typingInField(event)) return;
  if (event.key === "?") {
    toggleHelp();
    return;
  }
  const sequence = pending ? `${pending} ${event.key}` : event.key;
  if (sequences[sequence]) {
    pending = "";
    sequences[sequence]();
    event.preventDefault();
  } else if (Object.keys(sequences).some((s) => s.startsWith(`${sequence} `))) {
    pending = sequence;
    clearTimeout(pendingTimer);
    pendingTimer = setTimeout(() => (pending = ""), 1200);
  } else {
    pending = "";
  }
}

document.addEventListener("keydown", handleKey);

// The Content-Security-Policy refuses inline handlers (onchange="…"): markup asks with data
// attributes instead, and this one listener acts.
// data-submit-on-change: a select that submits its form (team and language switchers);
// data-check-all="selector": a checkbox that ticks or clears every box the selector matches.
export function handleChange(event) {
  const target = event.target;
  if (!(target instanceof HTMLElement)) return;
  if (target.matches("select[data-submit-on-change]")) target.form?.submit();
  if (target.matches("input[type=checkbox][data-check-all]")) {
    document.querySelectorAll(target.dataset.checkAll).forEach((box) => {
      box.checked = target.checked;
    });
  }
}

document.addEventListener("change", handleChange);
window.CXRLab = Object.assign(window.CXRLab || {}, { handleKey, handleChange });
