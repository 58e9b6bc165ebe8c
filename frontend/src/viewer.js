// Entry "viewer": Vite drops an ES-module entry's exports in app mode, so the API lives on
// window.CXRViewer. Elements marked data-cxr-viewer mount themselves from their JSON config.
import "./viewer.css";
import { attachHeatmap } from "./viewer/heatmap.js";
import { mount } from "./viewer/mount.js";

/** Reads the json_script config an element names in data-config and mounts a viewer on it. */
function mountFromMarkup(element) {
  const config = document.getElementById(element.dataset.config ?? "");
  const options = config ? JSON.parse(config.textContent) : {};
  return mount(element, options).then((viewer) => {
    element.cxrViewer = viewer;
    return viewer;
  });
}

window.CXRViewer = { mount };
document.querySelectorAll("[data-cxr-viewer]").forEach((element) => {
  mountFromMarkup(element).then((viewer) => {
    // Grad-CAM controls beside a viewer (templates/results/_heatmap_controls.html) draw over it.
    const controls = element.parentElement?.querySelector("[data-cxr-heatmap]");
    if (controls) element.cxrHeatmap = attachHeatmap(viewer, controls);
  });
});
