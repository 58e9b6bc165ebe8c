// Window presets: spans of the image's robust range, mirrored for MONOCHROME1.
import assert from "node:assert/strict";
import { test } from "node:test";

import { PRESETS, presetRange, valueRange } from "../src/viewer/presets.js";

const preset = (id) => PRESETS.find((p) => p.id === id);

test("valueRange applies the modality LUT and ignores a few extreme pixels", () => {
  const pixels = new Uint16Array(1000).map((_, i) => i);
  pixels[0] = 0;
  pixels[999] = 60000; // a burned-in label far brighter than the body
  const range = valueRange(pixels, 2, -100);
  assert.equal(range.min, -100);
  assert.equal(range.max, 60000 * 2 - 100);
  assert.ok(range.high < 2 * 999 - 100, `high ${range.high} should drop the outlier`);
  assert.ok(range.low >= -100 && range.low < 0);
});

test("valueRange refuses an empty image", () => {
  assert.throws(() => valueRange(new Uint16Array(0)), /no pixel data/);
});

test("the lung preset covers the air end, the bone preset the dense end", () => {
  const range = { min: 0, max: 4095, low: 100, high: 4000 };
  const lung = presetRange(preset("lung"), range);
  const bone = presetRange(preset("bone"), range);
  assert.equal(lung.lower, 100);
  assert.ok(lung.upper < bone.upper && bone.upper === 4000);
  assert.ok(bone.lower > lung.lower);
});

test("MONOCHROME1 mirrors the presets: air is the highest stored value", () => {
  const range = { min: 0, max: 4095, low: 100, high: 4000 };
  const lung2 = presetRange(preset("lung"), range, false);
  const lung1 = presetRange(preset("lung"), range, true);
  assert.equal(lung1.upper, 4000);
  assert.equal(lung1.lower, range.low + range.high - lung2.upper);
});

test("full range spans min to max and never has zero width", () => {
  assert.deepEqual(presetRange(preset("full"), { min: 5, max: 900, low: 10, high: 800 }), {
    lower: 5,
    upper: 900,
  });
  assert.deepEqual(presetRange(preset("full"), { min: 7, max: 7, low: 7, high: 7 }), {
    lower: 7,
    upper: 8,
  });
});
