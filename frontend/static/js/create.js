// The Create page: submit a generation through the API, follow its progress over the socket
// (`generation.updated`), show the results and publish one.
import { api, on } from "./live.js";

const form = document.getElementById("generate-form");
const button = document.getElementById("generate-button");
const cancel = document.getElementById("cancel-button");
const progress = document.getElementById("progress");
const bar = document.getElementById("progress-bar");
const label = document.getElementById("progress-label");
const errorBox = document.getElementById("generate-error");
const results = document.getElementById("results");
const template = document.getElementById("result-template");
let current = null; // the job being watched

function showError(box, err) {
  const fields = err.data?.fields;
  const detail = fields ? Object.entries(fields).map(([k, v]) => `${k}: ${v.join(" ")}`).join(" · ") : "";
  box.textContent = detail ? `${err.message} ${detail}` : err.message;
  box.hidden = false;
}

function render(job) {
  if (!current || job.id !== current.id) return;
  current = job;
  progress.hidden = false;
  bar.style.width = `${Math.round(job.progress * 100)}%`;
  label.textContent = job.status === "running" ? `${Math.round(job.progress * 100)}%` : job.status;
  progress.dataset.status = job.status;
  const finished = ["succeeded", "failed", "canceled"].includes(job.status);
  button.disabled = !finished;
  cancel.hidden = finished;
  if (job.status === "failed") showError(errorBox, { message: job.error || "The generation failed." });
  if (job.status === "succeeded") showResults(job);
}

function showResults(job) {
  results.replaceChildren();
  for (const asset of job.assets) {
    const node = template.content.firstElementChild.cloneNode(true);
    node.querySelector("img").src = asset.original_url;
    node.dataset.assetId = asset.id;
    const publish = node.querySelector("form");
    publish.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const data = new FormData(publish);
      try {
        const post = await api("posts", {
          method: "POST",
          // Ids are 64-bit: as a JS number they would lose their low bits, so they stay strings.
          body: { asset_id: asset.id, caption: data.get("caption"), visibility: data.get("visibility") },
        });
        window.location.href = `/p/${post.id}`;
      } catch (err) {
        showError(publish.querySelector(".error"), err);
      }
    });
    results.append(node);
  }
}

on("generation.updated", (event) => render(event.job));

// A slow fallback in case the socket is down: the API is the truth.
async function poll(jobId) {
  await new Promise((resolve) => setTimeout(resolve, 3000));
  if (!current || current.id !== jobId || ["succeeded", "failed", "canceled"].includes(current.status)) return;
  try { render(await api(`generations/${jobId}`)); } catch { /* try again */ }
  poll(jobId);
}
// After a reconnect the socket may have missed the end: ask the API.
on("reconnected", async () => {
  if (current) render(await api(`generations/${current.id}`));
});

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  errorBox.hidden = true;
  const data = new FormData(form);
  const body = {
    kind: data.get("kind"),
    prompt: data.get("prompt"),
    negative_prompt: data.get("negative_prompt"),
    aspect_ratio: data.get("aspect_ratio"),
    quality: data.get("quality"),
    count: Number(data.get("count")),
    backend: data.get("backend"),
  };
  if (data.get("seed")) body.seed = Number(data.get("seed"));
  button.disabled = true;
  try {
    current = await api("generations", { method: "POST", body });
    if (data.get("lock_seed")) form.elements.seed.value = current.seed;
    render(current);
    poll(current.id);
  } catch (err) {
    button.disabled = false;
    showError(errorBox, err);
  }
});

cancel.addEventListener("click", async () => {
  if (!current) return;
  try { render(await api(`generations/${current.id}/cancel`, { method: "POST" })); } catch (err) { showError(errorBox, err); }
});
