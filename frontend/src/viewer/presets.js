// Window presets for radiographs. CR / DX pixel values carry no calibrated unit (unlike CT's
// Hounsfield units), so each preset is a span of the image's own robust value range measured
// along an "attenuation" axis: 0 is air, 1 the densest tissue. MONOCHROME1 stores air as the
// highest value, so the axis is mirrored for it.

export const PRESETS = Object.freeze([
  { id: "lung", span: [0.0, 0.6] },
  { id: "mediastinum", span: [0.35, 0.85] },
  { id: "bone", span: [0.6, 1.0] },
  { id: "full", span: null },
]);

const MAX_SAMPLES = 65536;

/**
 * Min, max and 0.5 / 99.5 percentiles of the modality values (slope / intercept applied).
 * Percentiles ignore collimator borders and burned-in labels that would stretch a min..max
 * window; a strided sample keeps this fast on 3k × 3k images.
 */
export function valueRange(pixels, slope = 1, intercept = 0) {
  if (!pixels || pixels.length === 0) {
    throw new Error("valueRange: no pixel data");
  }
  const stride = Math.max(1, Math.floor(pixels.length / MAX_SAMPLES));
  const sample = new Float64Array(Math.ceil(pixels.length / stride));
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0, j = 0; i < pixels.length; i += stride, j += 1) {
    const value = pixels[i] * slope + intercept;
    sample[j] = value;
    if (value < min) min = value;
    if (value > max) max = value;
  }
  sample.sort();
  const at = (fraction) => sample[Math.min(sample.length - 1, Math.floor(fraction * sample.length))];
  return { min, max, low: at(0.005), high: at(0.995) };
}

/** The VOI range ({lower, upper}) a preset gives for an image's value range. */
export function presetRange(preset, range, monochrome1 = false) {
  if (!preset.span) {
    return { lower: range.min, upper: Math.max(range.max, range.min + 1) };
  }
  const width = Math.max(range.high - range.low, 1);
  const toValue = (fraction) =>
    monochrome1 ? range.high - fraction * width : range.low + fraction * width;
  const [a, b] = preset.span.map(toValue);
  return { lower: Math.min(a, b), upper: Math.max(a, b) };
}
