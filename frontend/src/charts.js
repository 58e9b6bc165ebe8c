// Results charts on Apache ECharts: ROC curves (hover shows the threshold), confusion-matrix
// heatmap, per-image AP CDF and training curves. Pages pass data (from json_script) and
// callbacks; this bundle draws only. Exposed as window.CXRCharts.{roc, confusion, apCdf, curves}.
import { HeatmapChart, LineChart } from "echarts/charts";
import {
  GridComponent,
  LegendComponent,
  TooltipComponent,
  VisualMapComponent,
} from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([
  LineChart,
  HeatmapChart,
  GridComponent,
  LegendComponent,
  TooltipComponent,
  VisualMapComponent,
  CanvasRenderer,
]);

const fixed = (value, digits = 3) => (value == null ? "—" : Number(value).toFixed(digits));

// Tooltips are elements, not HTML strings: ECharts puts a string into innerHTML, and its own
// markup carries style attributes, which the Content-Security-Policy refuses. Lines are text
// (a label's name shows as written, never as markup); {text, color} adds the series' marker.
function tooltip(lines) {
  const box = document.createElement("div");
  for (const line of lines) {
    const row = box.appendChild(document.createElement("div"));
    if (line.color) {
      const marker = row.appendChild(document.createElement("span"));
      marker.textContent = "● ";
      marker.style.color = line.color; // a CSSOM property, which the policy allows
    }
    row.append(line.text ?? line);
  }
  return box;
}

function mount(element) {
  const existing = echarts.getInstanceByDom(element);
  if (existing) return existing; // redrawn in place (the live job page redraws every poll)
  const chart = echarts.init(element);
  // Charts follow their container (window resizes, print layout); one observer per chart.
  new ResizeObserver(() => chart.resize()).observe(element);
  return chart;
}

// series: [{key, name, fpr: [], tpr: [], threshold: []}]; options.onPoint({key, threshold}).
export function roc(element, series, options = {}) {
  const s = options.strings || {};
  const chart = mount(element);
  chart.setOption(
    {
      animation: false,
      legend: { type: "scroll", top: 0 },
      grid: { left: 50, right: 20, top: 40, bottom: 45 },
      tooltip: {
        trigger: "item",
        formatter: (p) =>
          tooltip([
            { text: p.seriesName, color: p.color },
            `${s.threshold || "threshold"} ${fixed(p.data[2])}`,
            `${s.tpr || "TPR"} ${fixed(p.data[1])} · ${s.fpr || "FPR"} ${fixed(p.data[0])}`,
          ]),
      },
      xAxis: { type: "value", min: 0, max: 1, name: s.fpr || "FPR", nameLocation: "middle", nameGap: 28 },
      yAxis: { type: "value", min: 0, max: 1, name: s.tpr || "TPR", nameLocation: "middle", nameGap: 36 },
      series: [
        ...series.map((line) => ({
          type: "line",
          name: line.name,
          id: line.key,
          showSymbol: true,
          symbolSize: 4,
          data: line.fpr.map((x, i) => [x, line.tpr[i], line.threshold[i]]),
        })),
        {
          type: "line",
          name: s.chance || "chance",
          data: [[0, 0], [1, 1]],
          lineStyle: { type: "dashed", color: "#aaa" },
          showSymbol: false,
          silent: true,
          tooltip: { show: false },
        },
      ],
    },
    true,
  );
  chart.off("click");
  if (options.onPoint) {
    chart.on("click", (p) => {
      const line = series[p.seriesIndex];
      if (line && p.data && p.data.length > 2) options.onPoint({ key: line.key, threshold: p.data[2] });
    });
  }
  return chart;
}

// data: {keys, names: {key: name}, matrix: [[count]]} (rows true, columns predicted);
// options.onCell({true, pred}).
export function confusion(element, data, options = {}) {
  const s = options.strings || {};
  const labels = data.keys.map((k) => data.names[k] || k);
  const cells = [];
  let top = 0;
  data.matrix.forEach((row, i) =>
    row.forEach((count, j) => {
      cells.push([j, i, count]);
      top = Math.max(top, count);
    }),
  );
  const chart = mount(element);
  chart.setOption(
    {
      animation: false,
      grid: { left: 160, right: 20, top: 10, bottom: 110 },
      tooltip: {
        formatter: (p) =>
          tooltip([
            `${s.true || "true"}: ${labels[p.data[1]]}`,
            `${s.predicted || "predicted"}: ${labels[p.data[0]]}`,
            `${s.count || "images"}: ${p.data[2]}`,
          ]),
      },
      xAxis: { type: "category", data: labels, axisLabel: { rotate: 40, interval: 0 }, name: s.predicted },
      yAxis: { type: "category", data: labels, inverse: true, axisLabel: { interval: 0 }, name: s.true },
      visualMap: { min: 0, max: Math.max(top, 1), show: false, inRange: { color: ["#f4f7fb", "#1f5fa8"] } },
      series: [{ type: "heatmap", data: cells, label: { show: true } }],
    },
    true,
  );
  chart.off("click");
  if (options.onCell) {
    chart.on("click", (p) =>
      options.onCell({ true: data.keys[p.data[1]], pred: data.keys[p.data[0]] }),
    );
  }
  return chart;
}

// data: {ap: [sorted values], fraction: [cumulative share]} as metrics.json holds it.
export function apCdf(element, data, options = {}) {
  const s = options.strings || {};
  const chart = mount(element);
  chart.setOption(
    {
      animation: false,
      grid: { left: 50, right: 20, top: 20, bottom: 45 },
      tooltip: {
        trigger: "item",
        formatter: (p) => tooltip([`AP ≤ ${fixed(p.data[0])}: ${fixed(p.data[1] * 100, 1)}%`]),
      },
      xAxis: { type: "value", min: 0, max: 1, name: s.ap || "AP", nameLocation: "middle", nameGap: 28 },
      yAxis: { type: "value", min: 0, max: 1, name: s.fraction || "share", nameLocation: "middle", nameGap: 36 },
      series: [
        {
          type: "line",
          step: "end",
          showSymbol: data.ap.length < 300,
          data: data.ap.map((x, i) => [x, data.fraction[i]]),
        },
      ],
    },
    true,
  );
  return chart;
}

// history: [{epoch, train_loss, val_auc | val_macro_auc | val_mean_ap, lr}] (metrics.json).
export function curves(element, history, options = {}) {
  const s = options.strings || {};
  const x = history.some((h) => h.epoch != null && h.step == null) ? "epoch" : "step";
  const keys = [
    ...new Set(history.flatMap((h) => Object.keys(h).filter((k) => k.startsWith("val_") || k === "train_loss"))),
  ];
  const chart = mount(element);
  chart.setOption(
    {
      animation: false,
      legend: { top: 0 },
      grid: { left: 50, right: 50, top: 40, bottom: 45 },
      tooltip: {
        trigger: "axis",
        formatter: (points) =>
          tooltip([
            `${s[x] || x} ${points[0]?.data[0] ?? ""}`,
            ...points.map((p) => ({ text: `${p.seriesName} ${fixed(p.data[1], 4)}`, color: p.color })),
          ]),
      },
      xAxis: { type: "value", name: s[x] || x, nameLocation: "middle", nameGap: 28, minInterval: 1 },
      yAxis: [
        { type: "value", name: s.loss || "loss", scale: true },
        { type: "value", name: s.val || "validation", min: 0, max: 1 },
      ],
      series: keys.map((key) => ({
        type: "line",
        name: key === "train_loss" ? s.loss || key : (s.series || {})[key] || key,
        yAxisIndex: key === "train_loss" ? 0 : 1,
        connectNulls: true,
        data: history.filter((h) => h[key] != null).map((h) => [h[x], h[key]]),
      })),
    },
    true,
  );
  return chart;
}

window.CXRCharts = { roc, confusion, apCdf, curves };
