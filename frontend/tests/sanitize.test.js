// What the metadata provider gives Cornerstone: RG1's zero Pixel Spacing (the cause of its black
// GPU rendering, see src/viewer/sanitize.js) and other values Cornerstone cannot compute with.
import assert from "node:assert/strict";
import { test } from "node:test";

import { TAGS, sanitizeInstance } from "../src/viewer/sanitize.js";

const element = (vr, ...Value) => ({ vr, Value });

// The elements of pydicom-data's RG1_UNCR.dcm that matter here, as our WADO-RS metadata sends them.
const RG1 = Object.freeze({
  "00280004": element("CS", "MONOCHROME1"),
  "00280010": element("US", 1955),
  "00280011": element("US", 1841),
  [TAGS.pixelSpacing]: element("DS", 0, 0),
  "00280100": element("US", 16),
  "00280101": element("US", 15),
  [TAGS.windowCenter]: element("DS", 15000),
  [TAGS.windowWidth]: element("DS", 30000),
});

test("RG1's zero Pixel Spacing is removed, so Cornerstone falls back to 1 × 1, not a 0 × 0 image", () => {
  const { instance, repairs } = sanitizeInstance(RG1);
  assert.equal(instance[TAGS.pixelSpacing], undefined);
  assert.deepEqual(repairs, [TAGS.pixelSpacing]);
  // What drew correctly stays as it was: the wide window, 15 bits stored, MONOCHROME1.
  assert.deepEqual(instance[TAGS.windowWidth].Value, [30000]);
  assert.deepEqual(instance["00280101"].Value, [15]);
  assert.deepEqual(instance["00280004"].Value, ["MONOCHROME1"]);
});

test("the input is never changed: the tag panel shows the file's own values", () => {
  sanitizeInstance(RG1);
  assert.deepEqual(RG1[TAGS.pixelSpacing].Value, [0, 0]);
});

test("spacing must be two positive numbers; strings are parsed", () => {
  const cases = [
    [[], false],
    [[0.2], false],
    [[-0.2, 0.2], false],
    [["abc", "0.2"], false],
    [[" 0.143", "0.143 "], true],
    [[0.143, 0.143], true],
  ];
  for (const [values, kept] of cases) {
    const { instance } = sanitizeInstance({ [TAGS.imagerPixelSpacing]: element("DS", ...values) });
    assert.equal(TAGS.imagerPixelSpacing in instance, kept, JSON.stringify(values));
    if (kept) assert.deepEqual(instance[TAGS.imagerPixelSpacing].Value, [0.143, 0.143]);
  }
  const missing = sanitizeInstance({ [TAGS.pixelSpacing]: { vr: "DS" } });
  assert.equal(TAGS.pixelSpacing in missing.instance, false);
});

test("windows with a width of 0 or less are dropped pair by pair", () => {
  const both = sanitizeInstance({
    [TAGS.windowCenter]: element("DS", "40", 500),
    [TAGS.windowWidth]: element("DS", "0", 1000),
  }).instance;
  assert.deepEqual(both[TAGS.windowCenter].Value, [500]);
  assert.deepEqual(both[TAGS.windowWidth].Value, [1000]);
  const none = sanitizeInstance({
    [TAGS.windowCenter]: element("DS", 40),
    [TAGS.windowWidth]: element("DS", -3),
  }).instance;
  assert.equal(TAGS.windowCenter in none, false);
  assert.equal(TAGS.windowWidth in none, false);
});

test("a zero rescale slope, a degenerate orientation and a short position are removed", () => {
  const { instance, repairs } = sanitizeInstance({
    [TAGS.rescaleSlope]: element("DS", 0),
    [TAGS.rescaleIntercept]: element("DS", "-1024"),
    [TAGS.imageOrientation]: element("DS", 1, 0, 0, 1, 0, 0),
    [TAGS.imagePosition]: element("DS", 0, 0),
  });
  assert.equal(TAGS.rescaleSlope in instance, false);
  assert.deepEqual(instance[TAGS.rescaleIntercept].Value, [-1024]);
  assert.equal(TAGS.imageOrientation in instance, false);
  assert.equal(TAGS.imagePosition in instance, false);
  assert.equal(repairs.length, 4);
  const fine = sanitizeInstance({ [TAGS.imageOrientation]: element("DS", 1, 0, 0, 0, 1, 0) });
  assert.deepEqual(fine.repairs, []);
});

test("a padded photometric interpretation is trimmed", () => {
  const { instance } = sanitizeInstance({ [TAGS.photometric]: element("CS", "monochrome1 ") });
  assert.deepEqual(instance[TAGS.photometric].Value, ["MONOCHROME1"]);
});
