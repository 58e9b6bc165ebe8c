// Run page: draws the charts from the page's JSON, opens the cases behind a clicked point or
// cell, recounts sensitivity / specificity live as the threshold moves, prints.
const data = JSON.parse(document.getElementById("results-charts").textContent);
const strings = JSON.parse(document.getElementById("results-strings").textContent);
const charts = window.CXRCharts;
const names = data.names || {};

function open(url, params) {
  const target = new URL(url, window.location.href);
  Object.entries(params).forEach(([k, v]) => target.searchParams.set(k, v));
  window.location.assign(target.toString());
}

function rocSeries(curves) {
  return Object.entries(curves).map(([key, c]) => ({ key, name: names[key] || key, ...c }));
}

for (const element of document.querySelectorAll("[data-chart]")) {
  const kind = element.dataset.chart;
  const casesUrl = element.dataset.casesUrl;
  if (kind === "roc") {
    charts.roc(element, rocSeries(data.roc), {
      strings,
      onPoint: ({ key, threshold }) =>
        open(casesUrl, { subset: element.dataset.subset, label: key, outcome: "fp", threshold }),
    });
  } else if (kind === "confusion" && data.confusion) {
    charts.confusion(element, { ...data.confusion, names }, {
      strings,
      onCell: (cell) => open(casesUrl, cell),
    });
  } else if (kind === "apCdf" && data.apCdf) {
    charts.apCdf(element, data.apCdf, { strings });
  } else if (kind === "curves") {
    charts.curves(element, data.history, { strings });
  }
}

// --- live threshold: counts per label from the test scores, in the browser ---------------------
const control = document.querySelector("[data-threshold-control]");
if (control && data.threshold) {
  const { scores, truth, thresholds } = data.threshold;
  const keys = data.threshold.names;
  const input = control.querySelector("[data-threshold-input]");
  const own = control.querySelector("[data-threshold-own]");
  const shown = control.querySelector("[data-threshold-value]");
  const body = control.querySelector("[data-threshold-table] tbody");
  const pct = (num, den) => (den ? ((100 * num) / den).toFixed(1) : "—");

  const recount = () => {
    const useOwn = own.checked && thresholds;
    input.disabled = Boolean(useOwn);
    shown.textContent = useOwn ? strings.own : Number(input.value).toFixed(2);
    body.replaceChildren(
      ...keys.map((key, j) => {
        const t = useOwn ? thresholds[j] : Number(input.value);
        let tp = 0, fp = 0, fn = 0, tn = 0;
        scores.forEach((row, i) => {
          const positive = row[j] >= t;
          if (truth[i][j]) positive ? tp++ : fn++;
          else positive ? fp++ : tn++;
        });
        const tr = document.createElement("tr");
        tr.dataset.label = key;
        for (const text of [names[key] || key, t.toFixed(3), pct(tp, tp + fn), pct(tn, tn + fp), tp, fp, fn, tn]) {
          const td = document.createElement("td");
          td.textContent = String(text);
          tr.append(td);
        }
        return tr;
      }),
    );
  };
  input.addEventListener("input", recount);
  own.addEventListener("change", recount);
  recount();
}

document.querySelector("[data-print]")?.addEventListener("click", () => window.print());
