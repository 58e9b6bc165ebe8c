// The study page's image viewer: one Cornerstone stack viewport over every instance of the
// study, fed by our WADO-RS endpoints. UI words come from the template (translated there); this
// module only wires behaviour.
import {
  Enums,
  RenderingEngine,
  eventTarget,
  getShouldUseCPURendering,
  init as initCore,
  setUseCPURendering,
  utilities as coreUtilities,
} from "@cornerstonejs/core";
import { init as initLoader } from "@cornerstonejs/dicom-image-loader";
import {
  Enums as ToolEnums,
  PanTool,
  ToolGroupManager,
  WindowLevelTool,
  ZoomTool,
  addTool,
  init as initTools,
} from "@cornerstonejs/tools";

import { absoluteRoot, loadStack } from "./dicomweb.js";
import { PRESETS, presetRange, valueRange } from "./presets.js";
import { formatDicomDate, fill, formatValue, windowOf, zoomPercent } from "./readouts.js";
import { BLANK_RANGE, cameraIsFinite, greyRange, nextRender, serverGreyRange } from "./rendering.js";
import { actionForKey, helpKey } from "./shortcuts.js";
import { tagRows } from "./tags.js";

const { MouseBindings } = ToolEnums;
const DRAG_TOOLS = Object.freeze({
  windowLevel: WindowLevelTool.toolName,
  zoom: ZoomTool.toolName,
  pan: PanTool.toolName,
});
const PATIENT_ID = "00100020";
const STUDY_DATE = "00080020";
// One wheel notch (100 px of deltaY) zooms by about 18 %.
const WHEEL_ZOOM_RATE = 0.002;

let librariesReady = false;
let mountCount = 0;

/** Initialises Cornerstone once per page. */
function initLibraries() {
  if (librariesReady) return;
  initCore();
  initLoader();
  initTools();
  [WindowLevelTool, ZoomTool, PanTool].forEach(addTool);
  librariesReady = true;
}

/** CPU mode when asked by the caller, the element (data-cpu="1") or the page URL (?cpu=1). */
export function wantsCpu(element, options = {}) {
  if (options.cpu !== undefined) return Boolean(options.cpu);
  if (element.dataset.cpu === "1") return true;
  return new URLSearchParams(window.location.search).get("cpu") === "1";
}

/** The loader keeps the photometric interpretation on the image frame, not on the image. */
function isMonochrome1(image) {
  const photometric = image?.imageFrame?.photometricInterpretation ?? image?.photometricInterpretation;
  return photometric === "MONOCHROME1";
}

/** The template's translated phrases (<span data-key> in [data-role=strings]) and the config's. */
function readStrings(element, options) {
  const strings = { ...(options.strings ?? {}) };
  element.querySelectorAll('[data-role="strings"] [data-key]').forEach((span) => {
    strings[span.dataset.key] = span.textContent;
  });
  return strings;
}

class Viewer {
  constructor(element, options) {
    this.element = element;
    this.options = options;
    this.strings = readStrings(element, options);
    this.part = (role) => element.querySelector(`[data-role="${role}"]`);
    this.viewportElement = this.part("viewport");
    if (!this.viewportElement) {
      throw new Error('CXRViewer.mount: the element has no [data-role="viewport"] child');
    }
    mountCount += 1;
    this.mountId = mountCount;
    this.generation = 0;
    this.entries = [];
    this.failed = new Map();
    this.ranges = new Map();
    this.initialVoi = new Map(); // image id -> the window Cornerstone chose on its first load
    this.drawnOnGpu = new Set(); // image ids whose GPU frame was checked and not blank
    this.activeTool = "windowLevel";
    // Inversion is tracked here, relative to the photometric default: Cornerstone's CPU path
    // shows MONOCHROME1 inverted without reporting it in getProperties().
    this.userInverted = false;
    this.preset = null;
    this.showing = 0;
    this.cpu = wantsCpu(element, options);
    this.mode = this.cpu ? "cpu" : "gpu";
  }

  async start() {
    this.setState("loading");
    initLibraries();
    if (!this.cpu && getShouldUseCPURendering()) {
      // Cornerstone found no WebGL at all and already chose its CPU path.
      this.cpu = true;
      this.mode = "noWebgl";
    }
    this.createViewport();
    this.bindEvents();
    this.attachHelp();
    this.showMode();
    try {
      const root = absoluteRoot(this.options.dicomwebRoot);
      this.entries = await loadStack(root, this.options.studyUid, this.options.series ?? []);
    } catch (error) {
      this.showError(error);
      return this;
    }
    if (this.entries.length === 0) {
      this.showError(new Error(this.strings.noImages ?? "no images"));
      return this;
    }
    await this.show(0);
    return this;
  }

  /** An engine, a stack viewport and its tools, on the CPU or the GPU path as this.cpu says. */
  createViewport() {
    this.generation += 1;
    const suffix = `${this.mountId}-${this.generation}`;
    this.ids = {
      engine: `cxr-engine-${suffix}`,
      viewport: `cxr-viewport-${suffix}`,
      toolGroup: `cxr-tools-${suffix}`,
    };
    // A page-wide setting that new engines and viewports read; one viewer per page.
    setUseCPURendering(this.cpu, false);
    this.engine = new RenderingEngine(this.ids.engine);
    this.engine.enableElement({
      viewportId: this.ids.viewport,
      type: Enums.ViewportType.STACK,
      element: this.viewportElement,
      defaultOptions: { background: [0, 0, 0] },
    });
    this.viewport = this.engine.getViewport(this.ids.viewport);
    this.createTools();
  }

  createTools() {
    const group = ToolGroupManager.createToolGroup(this.ids.toolGroup);
    Object.values(DRAG_TOOLS).forEach((name) => group.addTool(name));
    group.addViewport(this.ids.viewport, this.ids.engine);
    group.setToolActive(DRAG_TOOLS.pan, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
    group.setToolActive(DRAG_TOOLS.zoom, { bindings: [{ mouseButton: MouseBindings.Secondary }] });
    this.toolGroup = group;
    const tool = this.activeTool;
    this.activeTool = null;
    this.selectTool(tool);
  }

  destroyViewport() {
    ToolGroupManager.destroyToolGroup(this.ids.toolGroup);
    this.engine.destroy();
  }

  bindEvents() {
    this.element.addEventListener("click", (event) => {
      const button = event.target.closest("[data-action]");
      if (button && this.element.contains(button)) this.run(button.dataset.action);
    });
    this.part("cpu-toggle")?.addEventListener("change", (event) => {
      this.setRendering(event.target.checked, event.target.checked ? "cpu" : "gpu");
    });
    // Capture phase: a press on the image focuses Cornerstone's viewport element (tabindex -1),
    // and Cornerstone Tools' keydown listener on that element calls preventDefault() on every
    // key (it tracks modifier keys). A bubbling listener then saw only handled events and
    // ignored them: W, I, Z and the presets stopped until a click outside the image.
    this.onKey = (event) => this.handleKey(event);
    document.addEventListener("keydown", this.onKey, true);
    this.viewportElement.addEventListener("contextmenu", (event) => event.preventDefault());
    this.viewportElement.addEventListener("wheel", (event) => this.handleWheel(event), {
      passive: false,
    });
    // The GPU path reports a frame that failed to load only by this event (its setStack
    // resolves), so the error tile is shown from here too.
    this.onLoadError = (event) => {
      const { imageId, error } = event.detail ?? {};
      if (!imageId) return;
      this.failed.set(imageId, error);
      if (imageId === this.loadingImageId) {
        this.showing += 1; // the show() in flight stops where it is
        this.showError(error, imageId);
      }
    };
    eventTarget.addEventListener(Enums.Events.IMAGE_LOAD_ERROR, this.onLoadError);
    // Every render (window drag, zoom, pan, new image) refreshes the on-image readouts.
    this.viewportElement.addEventListener(Enums.Events.IMAGE_RENDERED, () => this.updateReadouts());
    this.resizeObserver = new ResizeObserver(() => this.engine.resize(true, false));
    this.resizeObserver.observe(this.viewportElement);
  }

  handleKey(event) {
    const help = helpKey(event);
    if (help && this.toggleHelp(help === "toggle" ? undefined : false)) {
      event.preventDefault();
      return;
    }
    const action = actionForKey(event);
    if (action && this.run(action)) event.preventDefault();
  }

  /** The wheel steps through a stack; on a single image (or with Ctrl) it zooms. */
  handleWheel(event) {
    event.preventDefault();
    if (this.element.dataset.state === "loading") return;
    if (this.entries.length > 1 && !event.ctrlKey) {
      this.step(Math.sign(event.deltaY));
      return;
    }
    const pixels = event.deltaY * (event.deltaMode === 1 ? 16 : 1);
    const box = this.viewportElement.getBoundingClientRect();
    this.zoomAt([event.clientX - box.left, event.clientY - box.top], Math.exp(-pixels * WHEEL_ZOOM_RATE));
  }

  /** Zooms by `factor`, keeping the image point under `point` (CSS pixels) where it is. */
  zoomAt(point, factor) {
    const viewport = this.viewport;
    if (!viewport.getCornerstoneImage()) return;
    const before = viewport.canvasToWorld(point);
    viewport.setZoom(viewport.getZoom() * factor);
    const after = viewport.canvasToWorld(point);
    const shift = before.map((value, i) => value - after[i]);
    if (shift.every(Number.isFinite)) {
      const { focalPoint, position } = viewport.getCamera();
      viewport.setCamera({
        focalPoint: focalPoint.map((value, i) => value + shift[i]),
        position: position.map((value, i) => value + shift[i]),
      });
    }
    viewport.render();
  }

  /** Runs one toolbar / keyboard action; returns false for actions the viewer does not know. */
  run(action) {
    if (action in DRAG_TOOLS) {
      this.selectTool(action);
    } else if (action === "invert") {
      this.invert();
    } else if (action === "reset") {
      this.reset();
    } else if (action === "previous" || action === "next") {
      this.step(action === "next" ? 1 : -1);
    } else if (action.startsWith("preset:")) {
      this.applyPreset(action.slice("preset:".length));
    } else if (action === "help") {
      this.toggleHelp();
    } else {
      return false;
    }
    return true;
  }

  /** The chosen drag tool takes the primary button; zoom and pan keep right / middle drag. */
  selectTool(name) {
    const primary = [{ mouseButton: MouseBindings.Primary }];
    const previous = DRAG_TOOLS[this.activeTool];
    if (previous && previous !== DRAG_TOOLS[name]) {
      this.toolGroup.setToolPassive(previous, { removeAllBindings: primary });
    }
    this.toolGroup.setToolActive(DRAG_TOOLS[name], { bindings: primary });
    this.activeTool = name;
    this.element.querySelectorAll("[data-action]").forEach((button) => {
      if (button.dataset.action in DRAG_TOOLS) {
        button.setAttribute("aria-pressed", String(button.dataset.action === name));
      }
    });
  }

  /** MONOCHROME1 shows inverted (air dark) unless the user inverted it back, and vice versa. */
  applyInversion() {
    const monochrome1 = isMonochrome1(this.viewport.getCornerstoneImage());
    this.viewport.setProperties({ invert: monochrome1 !== this.userInverted });
  }

  invert() {
    this.userInverted = !this.userInverted;
    this.applyInversion();
    this.viewport.render();
  }

  /**
   * Back to the image's own window, no inversion of the photometric default, fitted. Not
   * viewport.resetProperties(): on the GPU path it restores the initial transfer function of a
   * MONOCHROME1 image un-inverted while still reporting it inverted, so the image came back
   * negative.
   */
  reset() {
    this.userInverted = false;
    this.preset = null;
    const initial = this.initialVoi.get(this.viewport.getCurrentImageId());
    if (initial) this.viewport.setProperties({ voiRange: { ...initial } });
    this.viewport.resetCamera();
    this.applyInversion();
    this.viewport.render();
  }

  /** A window preset, kept for the next images of the stack until reset. */
  applyPreset(id) {
    const preset = PRESETS.find((p) => p.id === id);
    const image = this.viewport.getCornerstoneImage();
    if (!preset || !image) return;
    this.preset = id;
    const imageId = this.viewport.getCurrentImageId();
    if (!this.ranges.has(imageId)) {
      this.ranges.set(
        imageId,
        valueRange(image.getPixelData(), image.slope ?? 1, image.intercept ?? 0),
      );
    }
    const range = presetRange(preset, this.ranges.get(imageId), isMonochrome1(image));
    this.viewport.setProperties({ voiRange: range });
    this.viewport.render();
  }

  /**
   * Canvas pixel (backing-store coordinates) showing an image pixel of the current image, so
   * overlays and tests can find anatomy on screen whatever the zoom, pan and canvas size.
   */
  imagePointToCanvas(column, row) {
    const imageId = this.viewport.getCurrentImageId();
    const world = coreUtilities.imageToWorldCoords(imageId, [column, row]);
    const [x, y] = this.viewport.worldToCanvas(world);
    const ratio = window.devicePixelRatio || 1;
    return [x * ratio, y * ratio];
  }

  /** The canvas rectangle [x0, y0, x1, y1] the whole current image covers. */
  imageCanvasRect() {
    const image = this.viewport.getCornerstoneImage();
    if (!image) return null;
    const [x0, y0] = this.imagePointToCanvas(-0.5, -0.5);
    const [x1, y1] = this.imagePointToCanvas(image.columns - 0.5, image.rows - 0.5);
    return [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)];
  }

  currentIndex() {
    return Math.max(0, this.viewport.getCurrentImageIdIndex() ?? 0);
  }

  step(delta) {
    const count = this.entries.length;
    if (count < 2) return;
    this.show((this.currentIndex() + delta + count) % count);
  }

  /** Loads one stack position; a failed image becomes the error tile, never a blank canvas. */
  async show(index) {
    const token = ++this.showing;
    const imageId = this.entries[index]?.imageId;
    this.loadingImageId = imageId;
    this.failed.delete(imageId); // a new try
    this.setState("loading");
    this.updatePosition(index);
    try {
      if (this.viewport.getImageIds().length === 0) {
        await this.viewport.setStack(this.entries.map((e) => e.imageId), index);
      } else {
        await this.viewport.setImageIdIndex(index);
      }
      if (token !== this.showing) return;
      if (this.failed.has(imageId)) throw this.failed.get(imageId);
      if (!this.initialVoi.has(imageId)) {
        this.initialVoi.set(imageId, { ...this.viewport.getProperties().voiRange });
      }
      this.applyInversion();
      if (this.preset) this.applyPreset(this.preset);
      this.viewport.render();
      if (!this.cpu && !(await this.gpuDrew(imageId))) {
        if (token === this.showing) await this.setRendering(true, "blank");
        return;
      }
      if (token === this.showing) this.imageShown(index);
    } catch (error) {
      if (token !== this.showing) return;
      if (!this.cpu && !this.failed.has(imageId)) {
        // The frame loaded but the GPU path threw: the CPU path may still draw it.
        await this.setRendering(true, "failed", error);
        return;
      }
      this.showError(this.failed.get(imageId) ?? error, imageId);
    }
  }

  /**
   * After the first GPU render of an image: false when WebGL drew a blank frame (or has a
   * camera it cannot draw with) while the server's rendering of that frame is not blank.
   */
  async gpuDrew(imageId) {
    if (this.drawnOnGpu.has(imageId)) return true;
    await nextRender(this.viewportElement);
    if (!cameraIsFinite(this.viewport.getCamera())) return false;
    const canvas = this.viewportElement.querySelector("canvas");
    if (canvas && greyRange(canvas, this.imageCanvasRect()) >= BLANK_RANGE) {
      this.drawnOnGpu.add(imageId);
      return true;
    }
    const server = await serverGreyRange(imageId);
    if (server !== null && server >= BLANK_RANGE) return false;
    this.drawnOnGpu.add(imageId); // the image itself is flat (or the server cannot tell)
    return true;
  }

  /** Rebuilds the viewport on the CPU or GPU path, at the same image, and says why. */
  async setRendering(cpu, mode, error = null) {
    const index = this.entries.length ? this.currentIndex() : 0;
    this.destroyViewport();
    this.cpu = cpu;
    this.mode = mode;
    this.modeError = error;
    this.createViewport();
    this.showMode();
    if (this.entries.length) await this.show(index);
  }

  /** The status line and the CPU toggle follow the rendering path and the reason for it. */
  showMode() {
    const toggle = this.part("cpu-toggle");
    if (toggle) toggle.checked = this.cpu;
    this.element.dataset.rendering = this.cpu ? "cpu" : "gpu";
    this.element.dataset.renderingReason = this.mode;
    const status = this.part("status");
    if (!status) return;
    const reason = this.modeError?.message ?? String(this.modeError ?? "");
    status.textContent = fill(this.strings[`mode_${this.mode}`] ?? this.mode, { error: reason });
    status.dataset.fallback = String(this.mode === "blank" || this.mode === "failed");
  }

  /**
   * The viewer's key list joins the page's shortcut help (base.html's #shortcut-help, which "?"
   * shows); on a page without one it stays in the viewer and "?" shows it there.
   */
  attachHelp() {
    const keys = this.part("help");
    const page = document.getElementById("shortcut-help");
    if (keys && page) {
      page.append(keys);
      keys.hidden = false;
    }
    this.helpPanel = page ?? keys;
  }

  /** Shows or hides the key list (toggles when `visible` is undefined); false when none. */
  toggleHelp(visible) {
    const panel = this.helpPanel;
    if (!panel) return false;
    if (visible === false && panel.hidden) return false;
    panel.hidden = visible === undefined ? !panel.hidden : !visible;
    return true;
  }

  imageShown(index) {
    this.updatePosition(index);
    this.renderTags(this.entries[index].instance);
    this.part("error")?.setAttribute("hidden", "");
    this.setState("ready");
    this.updateReadouts();
  }

  updatePosition(index) {
    const position = this.part("position");
    const count = Math.max(this.entries.length, 1);
    if (position) position.textContent = `${index + 1} / ${count}`;
    const entry = this.entries[index];
    this.setReadout("readout-position", fill(this.strings.position, { n: index + 1, count }));
    if (!entry) return;
    const value = (tag) => entry.instance?.[tag]?.Value?.[0];
    this.setReadout("readout-patient", value(PATIENT_ID) ?? "");
    this.setReadout("readout-date", formatDicomDate(value(STUDY_DATE), document.documentElement.lang));
  }

  /** Window centre / width and zoom of what is on the canvas now. */
  updateReadouts() {
    if (!this.viewport?.getCornerstoneImage()) return;
    const { voiRange } = this.viewport.getProperties();
    if (voiRange) {
      const { center, width } = windowOf(voiRange);
      this.setReadout(
        "readout-window",
        fill(this.strings.window, { center: formatValue(center), width: formatValue(width) }),
      );
    }
    const zoom = zoomPercent(this.imagePointToCanvas(0, 0), this.imagePointToCanvas(1, 0));
    if (zoom !== null) this.setReadout("readout-zoom", fill(this.strings.zoom, { zoom }));
  }

  setReadout(role, text) {
    const part = this.part(role);
    if (part && part.textContent !== text) part.textContent = text;
  }

  renderTags(instance) {
    const body = this.part("tags");
    if (!body) return;
    const rows = tagRows(instance, this.strings).map(({ tag, name, vr, value }) => {
      const row = document.createElement("tr");
      for (const text of [tag, name, vr, value]) {
        const cell = document.createElement("td");
        cell.textContent = text; // DICOM values are untrusted: text only, never markup
        row.append(cell);
      }
      return row;
    });
    body.replaceChildren(...rows);
  }

  showError(error, imageId = "") {
    const detail = this.part("error-detail");
    const reason = error?.message ?? (error?.status ? `HTTP ${error.status}` : String(error ?? ""));
    if (detail) detail.textContent = [reason, imageId.replace(/^wadors:/, "")].filter(Boolean).join(" · ");
    this.part("error")?.removeAttribute("hidden");
    this.setState("error");
  }

  setState(state) {
    this.element.dataset.state = state;
    this.part("loading")?.toggleAttribute("hidden", state !== "loading");
  }

  destroy() {
    document.removeEventListener("keydown", this.onKey, true);
    eventTarget.removeEventListener(Enums.Events.IMAGE_LOAD_ERROR, this.onLoadError);
    this.resizeObserver?.disconnect();
    this.destroyViewport();
  }
}

/** Mounts a viewer on an element laid out like templates/labeling/_viewer.html. */
export async function mount(element, options) {
  return new Viewer(element, options).start();
}
