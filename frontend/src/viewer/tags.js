// Rows for the DICOM tag panel, read from the same application/dicom+json the loader uses.
import dcmjs from "dcmjs";

const dictionary = dcmjs.data.DicomMetaDictionary.dictionary;
const MAX_TEXT = 120;

/** "(gggg,eeee)" for an 8-hex-digit DICOM JSON key. */
export function punctuate(key) {
  const upper = key.toUpperCase();
  return `(${upper.slice(0, 4)},${upper.slice(4)})`;
}

/** Private tags (odd group) have no dictionary name. */
export function tagName(key) {
  return dictionary[punctuate(key)]?.name ?? "";
}

function personName(value) {
  return typeof value === "object" && value !== null ? (value.Alphabetic ?? "") : String(value);
}

/** Display text of one element; `labels` supplies the translated words for non-text values. */
export function elementText(element, labels = {}) {
  if (!element) return "";
  if (element.vr === "SQ") {
    const count = element.Value?.length ?? 0;
    return `${labels.sequence ?? "sequence"} (${count})`;
  }
  if (element.BulkDataURI !== undefined || element.InlineBinary !== undefined) {
    return labels.binary ?? "binary";
  }
  const values = (element.Value ?? []).map((v) => (element.vr === "PN" ? personName(v) : String(v)));
  const text = values.join("\\");
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text;
}

/** Sorted rows {tag, name, vr, value} for every element of an instance. */
export function tagRows(instance, labels = {}) {
  return Object.keys(instance ?? {})
    .filter((key) => /^[0-9A-Fa-f]{8}$/.test(key))
    .sort()
    .map((key) => ({
      tag: punctuate(key),
      name: tagName(key),
      vr: instance[key]?.vr ?? "",
      value: elementText(instance[key], labels),
    }));
}
