// Upload page: each file goes in its own request so each gets its own progress bar; two at a
// time keeps the server busy without flooding it. Results come from POST /api/uploads/: one per
// file, a summary line per zip archive (its own row; its files in the rows below it), and a
// note on images that are not chest radiographs. Every text shown comes from the server, in the
// reader's language (the page's messages, or the API's reasons).
(function () {
  const root = document.getElementById("upload");
  if (!root) return;
  const text = JSON.parse(document.getElementById("upload-messages").textContent);
  const csrf = document.querySelector("input[name=csrfmiddlewaretoken]")?.value
    || (document.cookie.match(/csrftoken=([^;]+)/) || [])[1] || "";
  const tbody = root.querySelector("#upload-results tbody");
  const summary = root.querySelector("#upload-summary");
  const counts = { imported: 0, duplicate: 0, rejected: 0 };
  const queue = [];
  let running = 0;

  function format(template, values) {
    return template.replace(/%\((\w+)\)s/g, (whole, key) => (key in values ? values[key] : whole));
  }

  function cell(row, content) {
    const td = row.insertCell();
    if (content instanceof Node) td.append(content); else td.textContent = content;
    return td;
  }

  function showSummary() {
    summary.textContent = format(text.summary, counts);
  }

  // Every message in an error body, however DRF nests it ({"files": {"0": ["…"]}} for a list
  // field's item): never "[object Object]".
  function messagesIn(value) {
    if (value === null || value === undefined) return [];
    if (typeof value === "string" || typeof value === "number") return [String(value)];
    if (Array.isArray(value)) return value.flatMap(messagesIn);
    if (typeof value === "object") return Object.values(value).flatMap(messagesIn);
    return [];
  }

  function errorReason(xhr, body) {
    if (body === null) {
      return xhr.status >= 500 ? format(text.server_error, { status: xhr.status }) : xhr.statusText;
    }
    const found = [...new Set(messagesIn(body))];
    return found.length ? found.join(" ") : format(text.server_error, { status: xhr.status });
  }

  // A rejection reads "what is wrong: the reader's detail"; an image that is not a chest
  // radiograph shows its modality as a badge, then the note.
  function reasonContent(result) {
    if (result.headline) {
      return format(text.headline_reason, { headline: result.headline, reason: result.reason || "" });
    }
    if (!result.note) return result.reason || "";
    const span = document.createElement("span");
    const badge = document.createElement("span");
    badge.className = "badge modality-note";
    badge.textContent = result.modality || "?";
    span.append(badge, " ", result.note);
    if (result.reason) span.append(" ", result.reason);
    return span;
  }

  function fillResult(row, result) {
    while (row.cells.length > 2) row.deleteCell(2);
    const status = cell(row, text[result.status] || result.status);
    status.className = "status-" + result.status;
    const reason = cell(row, reasonContent(result));
    reason.className = "reason";
    if (result.code) reason.title = result.code;
    counts[result.status] += 1;
  }

  function addResultRows(row, results) {
    results.forEach((result, i) => {
      let target = row;
      if (i > 0) {
        target = tbody.insertRow(row.sectionRowIndex + i);
        cell(target, result.name);
        cell(target, "");
      }
      fillResult(target, result);
    });
    showSummary();
  }

  // A zip archive's row says what it held; its files follow, one row each.
  function addArchiveRows(row, archive, results) {
    while (row.cells.length > 2) row.deleteCell(2);
    cell(row, text.archive).className = "status-archive";
    cell(row, archive.summary).className = "reason";
    row.classList.add("archive");
    results.forEach((result, i) => {
      const target = tbody.insertRow(row.sectionRowIndex + 1 + i);
      target.classList.add("archive-entry");
      cell(target, result.name);
      cell(target, "");
      fillResult(target, result);
    });
    showSummary();
  }

  function showUpload(row, body) {
    const archive = (body.archives || [])[0];
    if (archive) addArchiveRows(row, archive, body.results);
    else addResultRows(row, body.results);
  }

  function send(url, field, file, row, onDone) {
    const bar = row.querySelector("progress");
    const form = new FormData();
    form.append(field, file, file.name);
    form.append("team", root.dataset.team);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = e.loaded / e.total; };
    xhr.onload = () => {
      bar.value = 1;
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = null; }
      if (xhr.status >= 400 || body === null) {
        addResultRows(row, [{ status: "rejected", reason: errorReason(xhr, body), code: String(xhr.status) }]);
      } else {
        onDone(body);
      }
      running -= 1;
      pump();
    };
    xhr.onerror = () => {
      addResultRows(row, [{ status: "rejected", reason: text.network }]);
      running -= 1;
      pump();
    };
    xhr.send(form);
  }

  function enqueue(file, kind) {
    const row = tbody.insertRow();
    cell(row, file.name);
    const bar = document.createElement("progress");
    bar.max = 1; bar.value = 0;
    cell(row, bar);
    cell(row, text.queued);
    cell(row, "");
    queue.push({ file, kind, row });
    pump();
  }

  function pump() {
    while (running < 2 && queue.length) {
      const { file, kind, row } = queue.shift();
      running += 1;
      row.cells[2].textContent = text.uploading;
      if (kind === "reports") {
        send(root.dataset.reportsUrl, "file", file, row, (body) => {
          row.cells[2].textContent = format(text.reports_done, body);
          row.cells[3].textContent = body.unknown_keys.length
            ? text.unknown_keys + " " + body.unknown_keys.join(", ") : "";
        });
      } else {
        send(root.dataset.uploadUrl, "files", file, row, (body) => showUpload(row, body));
      }
    }
  }

  const input = root.querySelector("#dicom-files");
  input.addEventListener("change", () => { [...input.files].forEach((f) => enqueue(f, "dicom")); input.value = ""; });
  const reports = root.querySelector("#reports-file");
  reports.addEventListener("change", () => { [...reports.files].forEach((f) => enqueue(f, "reports")); reports.value = ""; });
  const zone = root.querySelector("#dropzone");
  ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add("over"); }));
  ["dragleave", "drop"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("over")));
  zone.addEventListener("drop", (e) => { e.preventDefault(); [...e.dataTransfer.files].forEach((f) => enqueue(f, "dicom")); });
  zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") input.click(); });
})();
