// What the WADO-RS metadata provider hands Cornerstone, made safe to draw. Kept free of
// Cornerstone so node tests can run it.
//
// Why this exists (issue #14): pydicom-data's RG1 radiograph came out all black in GPU (WebGL)
// mode while CPU rendering drew it. The cause is its Pixel Spacing "0.000\0.000". The loader's
// metadata provider passes the zeros on as row / column spacing, Cornerstone builds the image's
// vtkImageData with a 0 × 0 spacing, so the image has no extent in world space. Fitting the camera
// to zero bounds then gives a NaN parallel scale, and WebGL draws nothing. The CPU path maps image
// pixels straight to the canvas and never looks at spacing, which is why ?cpu=1 worked. BitsStored
// 15, MONOCHROME1 and the wide 15000 / 30000 window were not the cause: with the spacing removed,
// software WebGL draws RG1 like the server's /rendered PNG (tests/browser/test_viewer_rendering.py).
//
// The rule: a value Cornerstone would compute with must be a finite number in a range that means
// something. Otherwise it is removed, so Cornerstone's own default applies (spacing 1 × 1 with
// distances in pixels, slope 1, a window computed from the pixels, the axial orientation).

const NUMERIC_VRS = new Set(["DS", "IS", "FL", "FD", "US", "SS", "UL", "SL", "UV", "SV"]);

export const TAGS = Object.freeze({
  pixelSpacing: "00280030",
  imagerPixelSpacing: "00181164",
  nominalScannedPixelSpacing: "00182010",
  windowCenter: "00281050",
  windowWidth: "00281051",
  rescaleIntercept: "00281052",
  rescaleSlope: "00281053",
  imageOrientation: "00200037",
  imagePosition: "00200032",
  photometric: "00280004",
});

const SPACING_TAGS = [TAGS.pixelSpacing, TAGS.imagerPixelSpacing, TAGS.nominalScannedPixelSpacing];

/** A DICOM number as JavaScript sees it: numbers pass, numeric strings are parsed, else NaN. */
function toNumber(value) {
  if (typeof value === "number") return value;
  if (typeof value === "string" && value.trim() !== "") return Number(value.trim());
  return Number.NaN;
}

function numbers(instance, tag) {
  return (instance[tag]?.Value ?? []).map(toNumber);
}

const allFinite = (values) => values.every(Number.isFinite);

function cross(a, b) {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

const norm = (v) => Math.hypot(...v);

/** Row and column cosines that span a plane: six numbers, neither vector null nor parallel. */
function usableOrientation(values) {
  if (values.length !== 6 || !allFinite(values)) return false;
  const row = values.slice(0, 3);
  const column = values.slice(3);
  return norm(row) > 1e-6 && norm(column) > 1e-6 && norm(cross(row, column)) > 1e-6;
}

/**
 * A copy of one instance's DICOM JSON that Cornerstone can draw, and the keys of the elements it
 * changed (`repairs`, in tag order). The input is never modified: the tag panel shows the file's
 * own values.
 */
export function sanitizeInstance(instance) {
  const clean = structuredClone(instance ?? {});
  const repairs = new Set();
  const drop = (tag) => {
    if (tag in clean) {
      delete clean[tag];
      repairs.add(tag);
    }
  };

  // Numbers as numbers: DS / IS arrive as strings from some servers ("0.000", " 15000").
  for (const [tag, element] of Object.entries(clean)) {
    if (!NUMERIC_VRS.has(element?.vr) || !Array.isArray(element.Value)) continue;
    const values = element.Value.map(toNumber);
    const kept = values.filter(Number.isFinite);
    const changed = kept.length !== values.length || values.some((v, i) => v !== element.Value[i]);
    if (!changed) continue;
    if (kept.length) element.Value = kept;
    else delete element.Value;
    repairs.add(tag);
  }

  for (const tag of SPACING_TAGS) {
    const values = numbers(clean, tag);
    if (tag in clean && !(values.length === 2 && values.every((v) => v > 0))) drop(tag);
  }

  // Window centre / width come in pairs; a width of 0 or less divides by zero.
  const centres = numbers(clean, TAGS.windowCenter);
  const widths = numbers(clean, TAGS.windowWidth);
  const pairs = centres
    .map((centre, i) => [centre, widths[i]])
    .filter(([centre, width]) => Number.isFinite(centre) && width > 0);
  if (pairs.length !== Math.max(centres.length, widths.length)) {
    if (pairs.length) {
      clean[TAGS.windowCenter].Value = pairs.map(([centre]) => centre);
      clean[TAGS.windowWidth].Value = pairs.map(([, width]) => width);
      repairs.add(TAGS.windowCenter).add(TAGS.windowWidth);
    } else {
      drop(TAGS.windowCenter);
      drop(TAGS.windowWidth);
    }
  }

  const slope = numbers(clean, TAGS.rescaleSlope);
  if (TAGS.rescaleSlope in clean && !(slope.length === 1 && slope[0] !== 0)) {
    drop(TAGS.rescaleSlope);
  }
  if (TAGS.rescaleIntercept in clean && numbers(clean, TAGS.rescaleIntercept).length !== 1) {
    drop(TAGS.rescaleIntercept);
  }
  if (TAGS.imageOrientation in clean && !usableOrientation(numbers(clean, TAGS.imageOrientation))) {
    drop(TAGS.imageOrientation);
  }
  const position = numbers(clean, TAGS.imagePosition);
  if (TAGS.imagePosition in clean && !(position.length === 3 && allFinite(position))) {
    drop(TAGS.imagePosition);
  }

  const photometric = clean[TAGS.photometric]?.Value?.[0];
  if (typeof photometric === "string" && photometric !== photometric.trim().toUpperCase()) {
    clean[TAGS.photometric].Value = [photometric.trim().toUpperCase()];
    repairs.add(TAGS.photometric);
  }
  return { instance: clean, repairs: [...repairs].sort() };
}
