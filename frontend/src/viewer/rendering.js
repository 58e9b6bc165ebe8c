// Is the GPU drawing the image? After the first render of each image in GPU (WebGL) mode the
// viewer reads its canvas back; a blank frame is compared with the server's rendering of the same
// frame, and when the server's is not blank the viewer switches to CPU rendering (mount.js).
import { Enums } from "@cornerstonejs/core";

import { renderedFrameUrl } from "./dicomweb.js";

/** Grey levels closer than this (of 255) count as one flat colour: a blank frame. */
export const BLANK_RANGE = 8;
const SAMPLE = 64;
const RENDER_WAIT_MS = 2000;

/** Resolves after the element's next IMAGE_RENDERED event, or after a while without one. */
export function nextRender(element, timeoutMs = RENDER_WAIT_MS) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      element.removeEventListener(Enums.Events.IMAGE_RENDERED, done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    element.addEventListener(Enums.Events.IMAGE_RENDERED, done);
  });
}

/**
 * Max − min grey level of a region of a canvas or bitmap, sampled at 64 × 64. `rect` is
 * [x0, y0, x1, y1] in the source's pixels; the whole source when absent or not finite.
 */
export function greyRange(source, rect = null) {
  const usable = rect?.every(Number.isFinite) && rect[2] - rect[0] >= 1 && rect[3] - rect[1] >= 1;
  const [x0, y0, x1, y1] = usable ? rect : [0, 0, source.width, source.height];
  const scratch = document.createElement("canvas");
  scratch.width = SAMPLE;
  scratch.height = SAMPLE;
  const context = scratch.getContext("2d", { willReadFrequently: true });
  context.drawImage(source, x0, y0, x1 - x0, y1 - y0, 0, 0, SAMPLE, SAMPLE);
  const data = context.getImageData(0, 0, SAMPLE, SAMPLE).data;
  let min = 255;
  let max = 0;
  for (let i = 0; i < data.length; i += 4) {
    const grey = (data[i] + data[i + 1] + data[i + 2]) / 3;
    if (grey < min) min = grey;
    if (grey > max) max = grey;
  }
  return max - min;
}

/** The grey range of the server's rendering of a frame, or null when it cannot be had. */
export async function serverGreyRange(imageId, fetchImpl = fetch) {
  try {
    const response = await fetchImpl(renderedFrameUrl(imageId, [SAMPLE * 4, SAMPLE * 4]), {
      headers: { Accept: "image/png" },
      credentials: "same-origin",
    });
    if (!response.ok) return null;
    const bitmap = await createImageBitmap(await response.blob());
    return greyRange(bitmap);
  } catch {
    return null;
  }
}

/** A camera the GPU can draw with: a NaN scale or focal point draws nothing at all. */
export function cameraIsFinite(camera) {
  const numbers = [camera?.parallelScale, ...(camera?.focalPoint ?? []), ...(camera?.position ?? [])];
  return numbers.length === 7 && numbers.every(Number.isFinite);
}
