// Pure helpers of the Grad-CAM overlay (heatmap.js), kept free of Cornerstone for node tests.

/** The overlay route for one (run, image, label), from the pattern the page was given. */
export function heatmapUrl(pattern, run, instance, label) {
  return pattern
    .replace("{run}", encodeURIComponent(run))
    .replace("{instance}", encodeURIComponent(instance))
    .replace("{label}", encodeURIComponent(label));
}

/**
 * Canvas rectangle [x, y, width, height] covering a columns × rows image whose pixel centres
 * `toCanvas(column, row)` maps: the map's edges sit on the pixels' outer edges.
 */
export function imageRect(toCanvas, columns, rows) {
  const [x0, y0] = toCanvas(-0.5, -0.5);
  const [x1, y1] = toCanvas(columns - 0.5, rows - 0.5);
  return [x0, y0, x1 - x0, y1 - y0];
}
