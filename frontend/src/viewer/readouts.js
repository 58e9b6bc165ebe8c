// On-image readouts, the words clinicians look for in a viewer's corners: the patient's
// pseudonym and the study date (top left), the image's place in the stack (top right), the
// window (bottom left) and the zoom (bottom right). Pure helpers here, kept free of Cornerstone
// for node tests; mount.js feeds them on every render. The phrases come from the template.

/**
 * Window centre and width of a linear VOI range, as DICOM PS3.3 C.11.2.1.2 defines them and
 * Cornerstone stores them (lower = c − 0.5 − (w − 1) / 2, upper = c − 0.5 + (w − 1) / 2).
 */
export function windowOf({ lower, upper }) {
  return { center: (lower + upper + 1) / 2, width: Math.abs(upper - lower) + 1 };
}

/** Whole numbers for the wide windows of radiographs, two decimals for narrow ones. */
export function formatValue(value) {
  if (!Number.isFinite(value)) return "–";
  return Math.abs(value) >= 100 ? String(Math.round(value)) : String(Number(value.toFixed(2)));
}

/** A DICOM DA value (YYYYMMDD) in the page's language; other text is shown as it is. */
export function formatDicomDate(value, locale) {
  const match = /^(\d{4})(\d{2})(\d{2})$/.exec(String(value ?? "").trim());
  if (!match) return String(value ?? "");
  const [, year, month, day] = match.map(Number);
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCMonth() !== month - 1) return String(value);
  return new Intl.DateTimeFormat(locale || undefined, { dateStyle: "medium", timeZone: "UTC" })
    .format(date);
}

/** "{name}" placeholders of a translated phrase replaced by values. */
export function fill(template, values) {
  return String(template ?? "").replace(/\{(\w+)\}/g, (whole, name) =>
    name in values ? String(values[name]) : whole,
  );
}

/** Screen pixels per image pixel, in percent, from two canvas points one image column apart. */
export function zoomPercent([x0, y0], [x1, y1]) {
  const scale = Math.hypot(x1 - x0, y1 - y0);
  return Number.isFinite(scale) ? Math.round(scale * 100) : null;
}
