// The study page's image viewer: one Cornerstone stack viewport over every instance of the
// study, fed by our WADO-RS endpoints. UI words come from the template (translated there); this
// module only wires behaviour.
import {
  Enums,
  RenderingEngine,
  eventTarget,
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
import { actionForKey } from "./shortcuts.js";
import { tagRows } from "./tags.js";

const { MouseBindings } = ToolEnums;
const DRAG_TOOLS = Object.freeze({
  windowLevel: WindowLevelTool.toolName,
  zoom: ZoomTool.toolName,
  pan: PanTool.toolName,
});

let librariesReady = false;
let mountCount = 0;

/** Initialises Cornerstone once per page; CPU rendering is the switch headless browsers need. */
function initLibraries(cpu) {
  if (!librariesReady) {
    initCore({ rendering: { useCPURendering: cpu } });
    initLoader();
    initTools();
    [WindowLevelTool, ZoomTool, PanTool].forEach(addTool);
    librariesReady = true;
  }
  if (cpu) setUseCPURendering(true);
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

class Viewer {
  constructor(element, options) {
    this.element = element;
    this.options = options;
    this.strings = options.strings ?? {};
    this.part = (role) => element.querySelector(`[data-role="${role}"]`);
    this.viewportElement = this.part("viewport");
    if (!this.viewportElement) {
      throw new Error('CXRViewer.mount: the element has no [data-role="viewport"] child');
    }
    mountCount += 1;
    this.ids = {
      engine: `cxr-engine-${mountCount}`,
      viewport: `cxr-viewport-${mountCount}`,
      toolGroup: `cxr-tools-${mountCount}`,
    };
    this.entries = [];
    this.failed = new Map();
    this.ranges = new Map();
    this.activeTool = "windowLevel";
    // Inversion is tracked here, relative to the photometric default: Cornerstone's CPU path
    // shows MONOCHROME1 inverted without reporting it in getProperties().
    this.userInverted = false;
    this.preset = null;
  }

  async start() {
    this.setState("loading");
    initLibraries(wantsCpu(this.element, this.options));
    this.createViewport();
    this.createTools();
    this.bindEvents();
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
    await this.show(() => this.viewport.setStack(this.entries.map((e) => e.imageId), 0));
    return this;
  }

  createViewport() {
    this.engine = new RenderingEngine(this.ids.engine);
    this.engine.enableElement({
      viewportId: this.ids.viewport,
      type: Enums.ViewportType.STACK,
      element: this.viewportElement,
      defaultOptions: { background: [0, 0, 0] },
    });
    this.viewport = this.engine.getViewport(this.ids.viewport);
  }

  createTools() {
    const group = ToolGroupManager.createToolGroup(this.ids.toolGroup);
    Object.values(DRAG_TOOLS).forEach((name) => group.addTool(name));
    group.addViewport(this.ids.viewport, this.ids.engine);
    group.setToolActive(DRAG_TOOLS.pan, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
    group.setToolActive(DRAG_TOOLS.zoom, { bindings: [{ mouseButton: MouseBindings.Secondary }] });
    this.toolGroup = group;
    this.selectTool("windowLevel");
  }

  bindEvents() {
    this.element.addEventListener("click", (event) => {
      const button = event.target.closest("[data-action]");
      if (button && this.element.contains(button)) this.run(button.dataset.action);
    });
    this.onKey = (event) => {
      const action = actionForKey(event);
      if (action && this.run(action)) event.preventDefault();
    };
    document.addEventListener("keydown", this.onKey);
    this.viewportElement.addEventListener("contextmenu", (event) => event.preventDefault());
    // The wheel steps through the stack through show(), like the arrow keys, so every image
    // change gets the same inversion, preset and error handling.
    this.viewportElement.addEventListener(
      "wheel",
      (event) => {
        event.preventDefault();
        if (this.element.dataset.state !== "loading") this.step(Math.sign(event.deltaY));
      },
      { passive: false },
    );
    this.onLoadError = (event) => {
      const { imageId, error } = event.detail ?? {};
      if (imageId) this.failed.set(imageId, error);
    };
    eventTarget.addEventListener(Enums.Events.IMAGE_LOAD_ERROR, this.onLoadError);
    this.resizeObserver = new ResizeObserver(() => this.engine.resize(true, false));
    this.resizeObserver.observe(this.viewportElement);
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

  /** Back to the image's own window, no inversion of the photometric default, fitted. */
  reset() {
    this.userInverted = false;
    this.preset = null;
    this.viewport.resetProperties();
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

  step(delta) {
    const count = this.entries.length;
    if (count < 2) return;
    const next = (this.viewport.getCurrentImageIdIndex() + delta + count) % count;
    this.show(() => this.viewport.setImageIdIndex(next), next);
  }

  /** Loads one stack position; a failed image becomes the error tile, never a blank canvas. */
  async show(load, index = 0) {
    this.setState("loading");
    this.updatePosition(index);
    try {
      const imageId = await load();
      this.applyInversion();
      if (this.preset) this.applyPreset(this.preset);
      this.viewport.render();
      this.imageShown(imageId);
    } catch (error) {
      const imageId = this.entries[index]?.imageId;
      this.showError(this.failed.get(imageId) ?? error, imageId);
    }
  }

  imageShown(imageId) {
    const index = this.entries.findIndex((e) => e.imageId === imageId);
    if (index < 0) return;
    this.updatePosition(index);
    this.renderTags(this.entries[index].instance);
    this.part("error")?.setAttribute("hidden", "");
    this.setState("ready");
  }

  updatePosition(index) {
    const position = this.part("position");
    if (position) position.textContent = `${index + 1} / ${Math.max(this.entries.length, 1)}`;
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
    document.removeEventListener("keydown", this.onKey);
    eventTarget.removeEventListener(Enums.Events.IMAGE_LOAD_ERROR, this.onLoadError);
    this.resizeObserver?.disconnect();
    ToolGroupManager.destroyToolGroup(this.ids.toolGroup);
    this.engine.destroy();
  }
}

/** Mounts a viewer on an element laid out like templates/labeling/_viewer.html. */
export async function mount(element, options) {
  return new Viewer(element, options).start();
}
