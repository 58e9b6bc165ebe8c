// Grad-CAM overlay for the study viewer: asks the server for the map of the shown image (POST),
// polls until a worker has made it, and draws the PNG over Cornerstone's canvas wherever zoom and
// pan put the image. Words come from the template's config; this module only wires behaviour.
import { Enums } from "@cornerstonejs/core";

import { TAG, firstValue } from "./dicomweb.js";
import { heatmapUrl, imageRect } from "./overlay.js";

const POLL_MS = 1000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class Superseded extends Error {}

class HeatmapOverlay {
  constructor(viewer, controls, config) {
    this.viewer = viewer;
    this.controls = controls;
    this.config = config;
    this.strings = config.strings ?? {};
    this.part = (role) => controls.querySelector(`[data-role="${role}"]`);
    this.csrf = controls.querySelector("input[name=csrfmiddlewaretoken]")?.value ?? "";
    this.on = false;
    this.maps = new Map(); // key -> decoded image, so flipping back and forth fetches nothing
    this.shownKey = null; // the map drawn now
    this.wantedKey = null; // the map being fetched or drawn
    this.token = 0;
  }

  attach() {
    this.canvas = document.createElement("canvas");
    this.canvas.className = "heatmap-overlay";
    this.canvas.dataset.role = "heatmap-overlay";
    this.viewer.viewportElement.after(this.canvas);
    const { run, label } = this.config.selected ?? {};
    if (run) this.part("heatmap-run").value = String(run); // from a case gallery's link
    this.fillLabels();
    if (label) this.part("heatmap-label").value = label;
    this.part("heatmap-run").addEventListener("change", () => {
      this.fillLabels();
      this.refresh();
    });
    this.part("heatmap-label").addEventListener("change", () => this.refresh());
    this.part("heatmap-toggle").addEventListener("click", () => this.toggle());
    this.part("heatmap-opacity").addEventListener("input", () => this.draw());
    this.viewer.viewportElement.addEventListener(Enums.Events.IMAGE_RENDERED, () => {
      // A new image (or a label change mid-stack) asks for its own map; other renders redraw.
      if (this.on && this.key() !== this.wantedKey) this.refresh();
      else this.draw();
    });
    return this;
  }

  fillLabels() {
    const run = this.config.runs.find((r) => String(r.id) === this.part("heatmap-run").value);
    const options = (run?.labels ?? []).map(({ key, name }) => {
      const option = document.createElement("option");
      option.value = key;
      option.textContent = name; // label names are user text: never markup
      return option;
    });
    this.part("heatmap-label").replaceChildren(...options);
  }

  /** The database id of the image the viewer shows now (undefined for an unknown one). */
  currentInstance() {
    const index = this.viewer.viewport.getCurrentImageIdIndex();
    const uid = firstValue(this.viewer.entries[index]?.instance, TAG.sopInstanceUid);
    return this.config.instances[uid];
  }

  key() {
    const run = this.part("heatmap-run").value;
    const label = this.part("heatmap-label").value;
    return `${run}|${this.currentInstance()}|${label}`;
  }

  toggle() {
    this.on = !this.on;
    const button = this.part("heatmap-toggle");
    button.setAttribute("aria-pressed", String(this.on));
    // The button names what a click does next: "Hide overlay" while the map is on.
    const label = this.on ? button.dataset.labelOn : button.dataset.labelOff;
    if (label) button.textContent = label;
    this.refresh();
  }

  async refresh() {
    const token = ++this.token;
    const key = this.key();
    this.shownKey = null;
    this.wantedKey = this.on ? key : null;
    this.draw();
    if (!this.on) return this.setState("off", "");
    const instance = this.currentInstance();
    if (instance === undefined) return this.setState("error", this.strings.noImage);
    if (!this.maps.has(key)) {
      this.setState("pending", this.strings.pending);
      const run = this.part("heatmap-run").value;
      const label = this.part("heatmap-label").value;
      try {
        const map = await this.fetchMap(heatmapUrl(this.config.url, run, instance, label), token);
        this.maps.set(key, map);
      } catch (error) {
        if (error instanceof Superseded) return undefined;
        return this.setState("error", `${this.strings.failed} ${error.message}`);
      }
    }
    if (token !== this.token) return undefined;
    this.shownKey = key;
    this.draw();
    return this.setState("shown", this.strings.shown);
  }

  /** POST asks for the map; GET answers 202 until it is made, then the PNG (or the error). */
  async fetchMap(url, token) {
    const headers = { Accept: "image/png, application/json", "X-CSRFToken": this.csrf };
    let response = await this.send(url, { method: "POST", headers });
    for (;;) {
      if (token !== this.token) throw new Superseded();
      const type = response.headers.get("Content-Type") ?? "";
      if (response.ok && type.startsWith("image/")) {
        return createImageBitmap(await response.blob());
      }
      const body = await response.json().catch(() => ({}));
      const waiting = response.status === 202 || (response.ok && body.status === "succeeded");
      if (!waiting) throw new Error(body.error || `HTTP ${response.status}`);
      await sleep(POLL_MS);
      if (token !== this.token) throw new Superseded();
      response = await this.send(url, { headers });
    }
  }

  async send(url, options) {
    try {
      return await fetch(url, { credentials: "same-origin", ...options });
    } catch {
      throw new Error(this.strings.network);
    }
  }

  /** Redraws on every Cornerstone render, so the map follows zoom, pan and canvas size. */
  draw() {
    const source = this.viewer.viewportElement.querySelector("canvas");
    if (!source || !this.canvas) return;
    if (this.canvas.width !== source.width) this.canvas.width = source.width;
    if (this.canvas.height !== source.height) this.canvas.height = source.height;
    const context = this.canvas.getContext("2d");
    context.clearRect(0, 0, this.canvas.width, this.canvas.height);
    const map = this.maps.get(this.shownKey);
    const image = this.viewer.viewport.getCornerstoneImage();
    if (!this.on || !map || !image || this.shownKey !== this.key()) return;
    const toCanvas = (column, row) => this.viewer.imagePointToCanvas(column, row);
    context.globalAlpha = Number(this.part("heatmap-opacity").value);
    context.drawImage(map, ...imageRect(toCanvas, image.columns, image.rows));
  }

  setState(state, message) {
    this.controls.dataset.state = state;
    this.part("heatmap-status").textContent = message ?? "";
    return undefined;
  }
}

/** Wires the Grad-CAM controls (templates/results/_heatmap_controls.html) to a mounted viewer. */
export function attachHeatmap(viewer, controls) {
  const config = document.getElementById(controls.dataset.config ?? "");
  if (!config || !viewer.viewport) return null;
  return new HeatmapOverlay(viewer, controls, JSON.parse(config.textContent)).attach();
}
