// Review queue: j/k move, a accepts the proposed labels, 1-9 and 0 toggle labels, Enter saves.
(() => {
  "use strict";
  const list = document.getElementById("reviews");
  if (!list) return;
  const flash = document.getElementById("flash");
  const csrf = () => document.querySelector("[name=csrfmiddlewaretoken]")?.value || "";
  const items = () => [...list.querySelectorAll(".review")];
  let cursor = 0;

  function paint() {
    const all = items();
    cursor = Math.max(0, Math.min(cursor, all.length - 1));
    all.forEach((el, i) => el.classList.toggle("current", i === cursor));
    all[cursor]?.scrollIntoView({ block: "nearest" });
  }

  async function save(el, labels) {
    const response = await fetch(`${list.dataset.api}${el.dataset.id}/`, {
      method: "PUT",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify({ labels, version: Number(el.dataset.version) }),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      flash.hidden = false;
      flash.textContent = data.detail || Object.values(data).flat().join(" ");
      return;
    }
    el.dataset.version = data.version;
    el.className = `review status-${data.status} current`;
    flash.hidden = true;
    cursor += 1;
    paint();
  }

  const ticked = (el) => [...el.querySelectorAll(".label-toggles input:checked")].map((c) => c.value);
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, select, textarea") || event.ctrlKey || event.metaKey) return;
    const el = items()[cursor];
    if (event.key === "j") { cursor += 1; paint(); }
    else if (event.key === "k") { cursor -= 1; paint(); }
    else if (event.key === "a" && el) save(el, el.dataset.proposed.split(",").filter(Boolean));
    else if (event.key === "Enter" && el) save(el, ticked(el));
    else if (/^[0-9]$/.test(event.key) && el) {
      const boxes = el.querySelectorAll(".label-toggles input");
      const box = boxes[event.key === "0" ? 9 : Number(event.key) - 1];
      if (box) box.checked = !box.checked;
    } else return;
    event.preventDefault();
    event.stopPropagation();
  }, true);

  document.getElementById("sample-form")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const size = Number(new FormData(event.target).get("size"));
    const response = await fetch(`${list.dataset.api}sample/`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify({ size }),
    });
    if (response.ok) window.location.reload();
  });
  paint();
})();
