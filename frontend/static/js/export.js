// The data export page: while an export is queued or running, ask the API for it every 2 s and
// show its progress; once it succeeds, show the signed download link the API hands out (fresh
// each time) and when the file will be deleted. The server renders every state, so without
// this module the page is only less live.
const root = document.getElementById("export");
const POLL_MS = 2000;

function show(el, visible) {
  if (el) el.hidden = !visible;
}

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return `${d.toISOString().slice(0, 16).replace("T", ", ")} UTC`;
}

function size(bytes) {
  if (bytes == null) return "";
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let n = bytes;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

function render(exp) {
  root.dataset.status = exp.status;
  const state = document.getElementById("export-state");
  if (state) state.textContent = exp.status;
  const progress = document.getElementById("export-progress");
  const percent = document.getElementById("export-percent");
  if (progress) progress.value = exp.progress;
  if (percent) percent.textContent = `${Math.round(exp.progress * 100)} %`;
  show(document.getElementById("export-running"), exp.status === "queued" || exp.status === "running");
  const ready = Boolean(exp.download_url);
  show(document.getElementById("export-ready"), ready);
  if (ready) {
    document.getElementById("export-download").href = exp.download_url;
    document.getElementById("export-size").textContent = size(exp.size);
    const expires = document.getElementById("export-expires");
    expires.dateTime = exp.expires_at || "";
    expires.textContent = when(exp.expires_at);
  }
}

async function poll(id) {
  let exp;
  try {
    const response = await fetch(`${root.dataset.apiUrl}/${id}`, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (!response.ok) throw new Error(String(response.status));
    exp = await response.json();
  } catch {
    setTimeout(() => poll(id), POLL_MS * 2); // a dropped request: try again a little later
    return;
  }
  render(exp);
  if (exp.status === "queued" || exp.status === "running") {
    setTimeout(() => poll(id), POLL_MS);
  } else if (exp.status === "failed") {
    window.location.reload(); // the page says what to do next (ask again)
  }
}

if (root && root.dataset.exportId && ["queued", "running"].includes(root.dataset.status)) {
  setTimeout(() => poll(root.dataset.exportId), POLL_MS);
}
