// WADO-RS series metadata for the viewer. The DICOM loader fetches only frames for `wadors:`
// image ids, so every instance's application/dicom+json must be registered with the loader's
// metadata manager before its frames are requested.
import { wadors } from "@cornerstonejs/dicom-image-loader";

import { sanitizeInstance } from "./sanitize.js";

export const TAG = Object.freeze({
  sopInstanceUid: "00080018",
  seriesInstanceUid: "0020000E",
  instanceNumber: "00200013",
  numberOfFrames: "00280008",
});

/** First value of a tag in a DICOM JSON object, or undefined when absent or empty. */
export function firstValue(instance, tag) {
  return instance?.[tag]?.Value?.[0];
}

/** Absolute DICOMweb root without a trailing slash: the loader's URIs must stand on their own. */
export function absoluteRoot(root, base = window.location.href) {
  return new URL(root, base).href.replace(/\/+$/, "");
}

/** Fetches one series' metadata (PS3.18 WADO-RS); a non-2xx answer is an error naming the URL. */
export async function fetchSeriesMetadata(root, studyUid, seriesUid, fetchImpl = fetch) {
  const url = `${root}/studies/${studyUid}/series/${seriesUid}/metadata`;
  const response = await fetchImpl(url, {
    headers: { Accept: "application/dicom+json" },
    credentials: "same-origin",
  });
  if (!response.ok) {
    throw new Error(`${url}: HTTP ${response.status}`);
  }
  const instances = await response.json();
  if (!Array.isArray(instances)) {
    throw new Error(`${url}: expected a JSON array of instances`);
  }
  return instances;
}

/** One stack entry per frame, ordered by Instance Number (then SOP UID, for a stable order). */
export function frameEntries(root, studyUid, instances) {
  const ordered = [...instances].sort(
    (a, b) =>
      (Number(firstValue(a, TAG.instanceNumber)) || 0) -
        (Number(firstValue(b, TAG.instanceNumber)) || 0) ||
      String(firstValue(a, TAG.sopInstanceUid)).localeCompare(
        String(firstValue(b, TAG.sopInstanceUid)),
      ),
  );
  return ordered.flatMap((instance) => {
    const seriesUid = firstValue(instance, TAG.seriesInstanceUid);
    const sopUid = firstValue(instance, TAG.sopInstanceUid);
    const base = `wadors:${root}/studies/${studyUid}/series/${seriesUid}/instances/${sopUid}/frames/`;
    const frames = Math.max(1, Number(firstValue(instance, TAG.numberOfFrames)) || 1);
    return Array.from({ length: frames }, (_, i) => ({
      imageId: `${base}${i + 1}`,
      instance,
      frame: i + 1,
    }));
  });
}

/** The server's own rendering of a stack entry's frame (PS3.18 WADO-RS rendered). */
export function renderedFrameUrl(imageId, viewport = null) {
  const url = `${imageId.replace(/^wadors:/, "")}/rendered`;
  return viewport ? `${url}?viewport=${viewport.join(",")}` : url;
}

/**
 * Registers metadata under frame 1 of each instance; the loader derives the other frames. The
 * loader gets the sanitised copy (sanitize.js says why); the entries keep the file's values for
 * the tag panel, and each entry's `repairs` names the elements changed.
 */
export function registerMetadata(entries) {
  const sanitised = new Map(); // one pass per instance, however many frames it has
  for (const entry of entries) {
    if (!sanitised.has(entry.instance)) {
      sanitised.set(entry.instance, sanitizeInstance(entry.instance));
    }
    const { instance, repairs } = sanitised.get(entry.instance);
    entry.repairs = repairs;
    if (entry.imageId.endsWith("/frames/1")) {
      wadors.metaDataManager.add(entry.imageId, instance);
    }
  }
}

/** Loads every series' metadata and returns the registered stack, in series order. */
export async function loadStack(root, studyUid, seriesUids, fetchImpl = fetch) {
  const perSeries = await Promise.all(
    seriesUids.map((seriesUid) => fetchSeriesMetadata(root, studyUid, seriesUid, fetchImpl)),
  );
  const entries = perSeries.flatMap((instances) => frameEntries(root, studyUid, instances));
  registerMetadata(entries);
  return entries;
}
