// Review queue: j/k move, a accepts the proposed labels, 1-9 and 0 toggle labels, Enter saves.
(() => {
  "use strict";
  const list = document.getElementById("reviews");
  if (!list) return;
  const flash = document.getElementById("flash");
  const items = () => [...list.querySelectorAll(".review")];
  const cursor = CurationKeys.list(items, (el) => el.dataset.id);

  async function save(el, labels) {
    const body = { labels, version: Number(el.dataset.version) };
    const { ok, data, message } = await CurationKeys.post(`${list.dataset.api}${el.dataset.id}/`, body, "PUT");
    flash.hidden = ok;
    flash.textContent = message;
    if (!ok) return;
    el.dataset.version = data.version;
    el.className = `review status-${data.status} current`;
    cursor.move(1);
  }

  const ticked = (el) => [...el.querySelectorAll(".label-toggles input:checked")].map((c) => c.value);
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, select, textarea") || event.ctrlKey || event.metaKey) return;
    const el = cursor.current();
    if (event.key === "j") cursor.move(1);
    else if (event.key === "k") cursor.move(-1);
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
    const { ok } = await CurationKeys.post(`${list.dataset.api}sample/`, { size });
    if (ok) window.location.reload();
  });
  cursor.paint();
})();
