// On-image readouts: window centre / width, dates, zoom.
import assert from "node:assert/strict";
import { test } from "node:test";

import { fill, formatDicomDate, formatValue, windowOf, zoomPercent } from "../src/viewer/readouts.js";

test("the VOI range Cornerstone makes of RG1's 15000 / 30000 window reads back as that window", () => {
  // Cornerstone's voiRange for centre 15000, width 30000 (LINEAR): 0 .. 29999.
  assert.deepEqual(windowOf({ lower: 0, upper: 29999 }), { center: 15000, width: 30000 });
  assert.deepEqual(windowOf({ lower: 39.5, upper: 440.5 }), { center: 240.5, width: 402 });
});

test("values are whole for wide windows and keep two decimals for narrow ones", () => {
  assert.equal(formatValue(15000.4), "15000");
  assert.equal(formatValue(0.125), "0.13");
  assert.equal(formatValue(Number.NaN), "–");
});

test("DICOM dates follow the page's language; odd values are shown as they are", () => {
  assert.equal(formatDicomDate("20041003", "en"), "Oct 3, 2004");
  assert.equal(formatDicomDate("20041003", "zh-hans"), "2004年10月3日");
  assert.equal(formatDicomDate("20041399", "en"), "20041399");
  assert.equal(formatDicomDate(undefined, "en"), "");
});

test("phrases get their values by name", () => {
  assert.equal(fill("C {center} / W {width}", { center: 40, width: 400 }), "C 40 / W 400");
  assert.equal(fill("{n} of {count} {x}", { n: 1, count: 2 }), "1 of 2 {x}");
});

test("zoom is screen pixels per image pixel", () => {
  assert.equal(zoomPercent([10, 10], [10.32, 10]), 32);
  assert.equal(zoomPercent([0, 0], [Number.NaN, 0]), null);
});
