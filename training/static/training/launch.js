// The launch form's split counts: show the table of the chosen task, and say when the counts
// shown are of another label set than the one chosen (they are checked again on submit).
(() => {
  const section = document.getElementById("split-counts");
  if (!section) return;
  const task = document.getElementById("id_task");
  const labelSet = document.getElementById("id_label_set");
  const other = document.getElementById("split-counts-other");
  const show = () => {
    for (const table of section.querySelectorAll("table[data-task]")) {
      table.hidden = table.dataset.task !== task.value;
    }
    if (labelSet && other) other.hidden = labelSet.value === section.dataset.labelSet;
  };
  task?.addEventListener("change", show);
  labelSet?.addEventListener("change", show);
  show();
})();
