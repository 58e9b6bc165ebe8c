// Grad-CAM overlay helpers: the route for a map and where on the canvas the map goes.
import assert from "node:assert/strict";
import { test } from "node:test";

import { heatmapUrl, imageRect } from "../src/viewer/overlay.js";

test("heatmapUrl fills the page's pattern and escapes the label", () => {
  const pattern = "/results/runs/{run}/heatmaps/{instance}/{label}/";
  assert.equal(heatmapUrl(pattern, 7, 42, "abnormal"), "/results/runs/7/heatmaps/42/abnormal/");
  assert.equal(heatmapUrl(pattern, 7, 42, "a/b c"), "/results/runs/7/heatmaps/42/a%2Fb%20c/");
});

test("imageRect spans the outer edges of the first and last pixels", () => {
  // a 2x zoom with the image's first pixel centre at canvas (10, 20)
  const toCanvas = (column, row) => [10 + 2 * column, 20 + 2 * row];
  assert.deepEqual(imageRect(toCanvas, 100, 50), [9, 19, 200, 100]);
});
