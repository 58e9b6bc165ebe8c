// Viewer keys never fire with modifiers, inside form fields, or for keys it does not own.
import assert from "node:assert/strict";
import { test } from "node:test";

import { actionForKey } from "../src/viewer/shortcuts.js";

globalThis.HTMLElement ??= class {};
const key = (k, extra = {}) => ({ key: k, target: null, defaultPrevented: false, ...extra });

test("letters, digits and arrows map to viewer actions, whatever the case", () => {
  assert.equal(actionForKey(key("w")), "windowLevel");
  assert.equal(actionForKey(key("I")), "invert");
  assert.equal(actionForKey(key("3")), "preset:bone");
  assert.equal(actionForKey(key("ArrowRight")), "next");
});

test("modifiers, handled events and unknown keys are left alone", () => {
  assert.equal(actionForKey(key("r", { ctrlKey: true })), null);
  assert.equal(actionForKey(key("r", { defaultPrevented: true })), null);
  assert.equal(actionForKey(key("g")), null);
  assert.equal(actionForKey(key("?")), null);
});

test("typing in a field never triggers the viewer", () => {
  const input = Object.assign(new globalThis.HTMLElement(), { tagName: "INPUT" });
  assert.equal(actionForKey(key("w", { target: input })), null);
});

test("? toggles the key list and Escape hides it, unless typing or with modifiers", async () => {
  const { helpKey } = await import("../src/viewer/shortcuts.js");
  assert.equal(helpKey(key("?", { shiftKey: true })), "toggle");
  assert.equal(helpKey(key("Escape")), "hide");
  assert.equal(helpKey(key("w")), null);
  assert.equal(helpKey(key("?", { ctrlKey: true })), null);
  const input = Object.assign(new globalThis.HTMLElement(), { tagName: "TEXTAREA" });
  assert.equal(helpKey(key("?", { target: input })), null);
});

test("a checkbox takes no typing: keys still reach the viewer after a click on it", () => {
  const box = Object.assign(new globalThis.HTMLElement(), { tagName: "INPUT", type: "checkbox" });
  assert.equal(actionForKey(key("w", { target: box })), "windowLevel");
  const text = Object.assign(new globalThis.HTMLElement(), { tagName: "INPUT", type: "text" });
  assert.equal(actionForKey(key("w", { target: text })), null);
  const range = Object.assign(new globalThis.HTMLElement(), { tagName: "INPUT", type: "range" });
  assert.equal(actionForKey(key("ArrowLeft", { target: range })), null);
});
