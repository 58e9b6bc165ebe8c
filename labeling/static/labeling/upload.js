// Upload page: each file goes in its own request so each gets its own progress bar; two at a
// time keeps the server busy without flooding it. Results come from POST /api/uploads/.
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

  function cell(row, content) {
    const td = row.insertCell();
    if (content instanceof Node) td.append(content); else td.textContent = content;
    return td;
  }

  function showSummary() {
    summary.textContent = text.summary
      .replace("%(imported)s", counts.imported)
      .replace("%(duplicate)s", counts.duplicate)
      .replace("%(rejected)s", counts.rejected);
  }

  function addResultRows(row, results) {
    results.forEach((result, i) => {
      const target = i === 0 ? row : tbody.insertRow();
      if (i > 0) { cell(target, result.name); cell(target, ""); }
      while (target.cells.length > 2) target.deleteCell(2);
      const status = cell(target, text[result.status] || result.status);
      status.className = "status-" + result.status;
      cell(target, result.reason || "");
      counts[result.status] += 1;
    });
    showSummary();
  }

  function send(url, field, file, row, onDone) {
    const bar = row.querySelector("progress");
    const form = new FormData();
    form.append(field, file, file.name);
    form.append("team", root.dataset.team);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = e.loaded / e.total; };
    xhr.onload = () => {
      bar.value = 1;
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = { detail: xhr.statusText }; }
      if (xhr.status >= 400) {
        const reason = body.detail || Object.values(body).flat().join(" ") || xhr.statusText;
        addResultRows(row, [{ status: "rejected", reason: `${xhr.status}: ${reason}` }]);
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
          row.cells[2].textContent = text.reports_done
            .replace("%(created)s", body.created).replace("%(updated)s", body.updated);
          row.cells[3].textContent = body.unknown_keys.length
            ? text.unknown_keys + " " + body.unknown_keys.join(", ") : "";
        });
      } else {
        send(root.dataset.uploadUrl, "files", file, row, (body) => addResultRows(row, body.results));
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
