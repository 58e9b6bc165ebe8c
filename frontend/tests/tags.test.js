// The tag panel's rows come from application/dicom+json without trusting its contents.
import assert from "node:assert/strict";
import { test } from "node:test";

import { elementText, tagRows } from "../src/viewer/tags.js";

const instance = {
  "00280004": { vr: "CS", Value: ["MONOCHROME1"] },
  "00100010": { vr: "PN", Value: [{ Alphabetic: "ANON^ONE" }] },
  "7FE00010": { vr: "OW", BulkDataURI: "http://x/frames/1" },
  "00081140": { vr: "SQ", Value: [{}, {}] },
  "00091001": { vr: "LO", Value: ["private"] },
  "00280030": { vr: "DS", Value: [0.14, 0.14] },
  isMultiframe: true,
};

test("rows are sorted by tag, named from the dictionary, private tags unnamed", () => {
  const rows = tagRows(instance, { binary: "二进制数据", sequence: "序列" });
  assert.deepEqual(
    rows.map((r) => r.tag),
    ["(0008,1140)", "(0009,1001)", "(0010,0010)", "(0028,0004)", "(0028,0030)", "(7FE0,0010)"],
  );
  const byTag = Object.fromEntries(rows.map((r) => [r.tag, r]));
  assert.deepEqual(byTag["(0028,0004)"], {
    tag: "(0028,0004)",
    name: "PhotometricInterpretation",
    vr: "CS",
    value: "MONOCHROME1",
  });
  assert.equal(byTag["(0009,1001)"].name, "");
  assert.equal(byTag["(0010,0010)"].value, "ANON^ONE");
  assert.equal(byTag["(0028,0030)"].value, "0.14\\0.14");
  assert.equal(byTag["(7FE0,0010)"].value, "二进制数据");
  assert.equal(byTag["(0008,1140)"].value, "序列 (2)");
});

test("long values are cut, and markup stays text for the caller to set as textContent", () => {
  const text = elementText({ vr: "LO", Value: ["<img src=x onerror=alert(1)>".repeat(10)] });
  assert.ok(text.length <= 121 && text.endsWith("…"));
  assert.ok(text.startsWith("<img"));
});
