// Compare page: one label's ROC curves of every compared run, overlaid.
const data = JSON.parse(document.getElementById("results-charts").textContent);
const strings = JSON.parse(document.getElementById("results-strings").textContent);
const element = document.querySelector("[data-compare-roc]");
const picker = document.querySelector("[data-roc-label]");

function draw() {
  const key = picker.value;
  const series = data.runs
    .filter((run) => data.roc[run.id] && data.roc[run.id][key])
    .map((run) => ({ key: run.id, name: run.name, ...data.roc[run.id][key] }));
  window.CXRCharts.roc(element, series, { strings });
}
if (element && picker) {
  picker.addEventListener("change", draw);
  draw();
}
