// The Library: the server renders every item; this keeps them live. Progress of running jobs comes
// from `generation.updated`; when a job changes state the page fetches its item again, and a job
// it has not seen yet (an edit started here, a generation from another tab) is fetched and put
// in its place, newest first. Actions (publish, upscale, trim, extend, stitch, cancel) go
// through the API and are wired once on the page, so items swapped in later work too.
import { on } from "./live.js";
import { errorText, request, seconds } from "./create.js";
import { gettext, interpolate } from "./i18n.js";

const root = document.getElementById("library");
const list = document.getElementById("library-items");
const stitchBar = document.getElementById("stitch-bar");
const stitchCount = document.getElementById("stitch-count");
const stitchHint = document.getElementById("stitch-hint");
const stitchError = document.getElementById("stitch-error");
const stitchButton = document.getElementById("stitch-button");
const RANK = { queued: 0, running: 1, succeeded: 2, failed: 2, canceled: 2 };
const fetching = new Map(); // job id -> promise of its item's HTML
let stitchOrder = []; // asset ids, in the order they were picked

const itemOf = (id) => document.getElementById(`job-${id}`);

function matchesFilters(job) {
  return (!root.dataset.kind || job.kind === root.dataset.kind) &&
    (!root.dataset.status || job.status === root.dataset.status);
}

function parse(html) {
  const template = document.createElement("template");
  template.innerHTML = html;
  return template.content;
}

async function fetchItem(id) {
  if (!fetching.has(id)) {
    const promise = fetch(`${root.dataset.itemsUrl}/${id}`, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : null))
      .catch(() => null)
      .finally(() => fetching.delete(id));
    fetching.set(id, promise);
  }
  const html = await fetching.get(id);
  return html ? parse(html).querySelector("article.lib-item") : null;
}

// Keep items ordered by cursor, newest first. Cursors are 64-bit: compare as BigInt.
function place(item) {
  if (itemOf(item.dataset.jobId)) return;
  document.getElementById("library-empty")?.remove();
  const cursor = BigInt(item.dataset.cursor);
  const older = [...list.querySelectorAll(":scope > article.lib-item")].find(
    (el) => BigInt(el.dataset.cursor) < cursor,
  );
  const more = list.querySelector(":scope > .more");
  if (older) older.before(item);
  else if (more) more.before(item);
  else list.append(item);
  window.htmx?.process(item);
  restoreStitch(item);
}

async function insert(id) {
  if (itemOf(id)) return;
  const item = await fetchItem(id);
  if (!item || itemOf(id)) return;
  item.classList.add("fresh");
  place(item);
}

// Fetch a job's item again; a stale answer (older state than what is shown) is dropped.
async function refresh(id) {
  const fresh = await fetchItem(id);
  const old = itemOf(id);
  if (!fresh || !old) return;
  if (RANK[fresh.dataset.status] < RANK[old.dataset.status]) return;
  const openPanels = [...old.querySelectorAll(".lib-panel:not([hidden])")].map((p) => p.dataset.panel);
  old.replaceWith(fresh);
  window.htmx?.process(fresh);
  restoreStitch(fresh);
  openPanels.forEach((name) => togglePanel(fresh, name, true));
}

function showProgress(item, job) {
  const bar = item.querySelector('[data-role="progress"]');
  if (!bar) return;
  const percent = Math.round(job.progress * 100);
  bar.querySelector(".bar").style.width = `${percent}%`;
  bar.querySelector("span").textContent = job.status === "running" ? `${percent}%` : job.status;
  bar.setAttribute("aria-valuenow", String(percent));
}

on("generation.updated", ({ job }) => {
  const item = itemOf(job.id);
  if (!item) {
    if (matchesFilters(job)) insert(job.id);
    return;
  }
  if (item.dataset.status !== job.status && RANK[job.status] >= RANK[item.dataset.status]) {
    item.dataset.status = job.status;
    const badge = item.querySelector('[data-role="status"]');
    if (badge) badge.textContent = job.status;
    refresh(job.id);
  }
  showProgress(item, job);
});

// After a reconnect: fetch what is newer than the newest item held, and recheck unfinished ones.
on("reconnected", async () => {
  const newest = list.querySelector(":scope > article.lib-item")?.dataset.cursor;
  if (newest) {
    const query = new URLSearchParams(root.dataset.filterQuery);
    query.set("since", newest);
    query.set("limit", "50");
    const response = await fetch(`${root.dataset.itemsUrl}?${query}`, { credentials: "same-origin" }).catch(() => null);
    if (response?.ok) {
      [...parse(await response.text()).querySelectorAll("article.lib-item")].reverse().forEach(place);
    }
  }
  for (const item of list.querySelectorAll('article.lib-item[data-status="queued"], article.lib-item[data-status="running"]')) {
    refresh(item.dataset.jobId);
  }
});

// --- feedback --------------------------------------------------------------------------------

function say(item, text, { error = false } = {}) {
  const box = item.querySelector('[data-role="feedback"]');
  box.textContent = text;
  box.classList.toggle("error", error);
  box.setAttribute("role", error ? "alert" : "status");
  box.hidden = !text;
}

function pickedAsset(item) {
  return item.querySelector(".variations input:checked")?.value || item.dataset.assetId;
}

// Start an edit; its job appears at the top at once, and live from then on.
async function edit(item, body, what) {
  say(item, "");
  try {
    const job = await request("edits", { method: "POST", body });
    say(item, interpolate(gettext("%(what)s started. It is at the top of your Library."), { what }));
    await insert(job.id);
    if (window.scrollY > 200) window.scrollTo({ top: 0, behavior: "smooth" });
    return job;
  } catch (err) {
    say(item, errorText(err), { error: true });
    return null;
  }
}

// --- panels: publish, trim, extend -----------------------------------------------------------

function togglePanel(item, name, open) {
  const panel = item.querySelector(`.lib-panel[data-panel="${name}"]`);
  const button = item.querySelector(`[data-toggle="${name}"]`);
  if (!panel || !button) return;
  const show = open ?? panel.hidden;
  panel.hidden = !show;
  button.setAttribute("aria-expanded", String(show));
  button.classList.toggle("on", show);
  if (show && name === "trim") setUpTrim(panel);
  if (show) panel.querySelector("input, select")?.focus({ preventScroll: true });
}

function frames(panel) {
  const fps = Number(panel.dataset.fps);
  // Whole frames that fit in the clip, on the editor's 24 fps grid.
  return { fps, total: Math.floor(Number(panel.dataset.duration) * fps + 1e-6) };
}

// Seeking needs the whole clip at hand: the media view answers without byte ranges, so the
// browser could only play it from the start. Clips are short; hold it in memory while trimming.
async function makeSeekable(video) {
  if (!video || video.dataset.local) return;
  video.dataset.local = "1";
  try {
    const response = await fetch(video.currentSrc || video.src, { credentials: "same-origin" });
    if (!response.ok) throw new Error(String(response.status));
    const at = video.currentTime;
    video.src = URL.createObjectURL(await response.blob());
    video.currentTime = at;
    video.dataset.seekable = "1";
  } catch {
    delete video.dataset.local; // try again next time; playing still works
  }
}

function setUpTrim(panel) {
  makeSeekable(panel.closest(".lib-item").querySelector("video"));
  if (panel.dataset.ready) return;
  panel.dataset.ready = "1";
  const { total } = frames(panel);
  const { start, end } = panel.elements;
  for (const input of [start, end]) input.max = String(total);
  start.value = "0";
  end.value = String(total);
  showTrim(panel);
}

// Handle positions in seconds; the end handle at the far right means the very end of the clip.
function trimSeconds(panel) {
  const { fps, total } = frames(panel);
  const start = Number(panel.elements.start.value) / fps;
  const endFrame = Number(panel.elements.end.value);
  const end = endFrame >= total ? Number(panel.dataset.duration) : endFrame / fps;
  return { start, end };
}

function showTrim(panel) {
  const { total } = frames(panel);
  const { start, end } = trimSeconds(panel);
  panel.elements.start_out.value = seconds(start);
  panel.elements.end_out.value = seconds(end);
  panel.elements.length_out.value = seconds(end - start);
  panel.elements.start.setAttribute("aria-valuetext", seconds(start));
  panel.elements.end.setAttribute("aria-valuetext", seconds(end));
  const track = panel.querySelector(".trim-track");
  track.style.setProperty("--from", String(Number(panel.elements.start.value) / total));
  track.style.setProperty("--to", String(Number(panel.elements.end.value) / total));
}

function onTrimInput(panel, moved) {
  const { start, end } = panel.elements;
  const gap = 2; // frames: a trim keeps at least a couple of frames
  if (moved === start && Number(start.value) > Number(end.value) - gap) {
    start.value = String(Math.max(0, Number(end.value) - gap));
  }
  if (moved === end && Number(end.value) < Number(start.value) + gap) {
    end.value = String(Math.min(Number(end.max), Number(start.value) + gap));
  }
  showTrim(panel);
  // Preview by seeking the clip to the handle being moved.
  const video = panel.closest(".lib-item").querySelector("video");
  if (video) {
    video.pause();
    const { start: s, end: e } = trimSeconds(panel);
    video.currentTime = moved === start ? s : Math.max(0, e - 0.01);
  }
}

function playSelection(item) {
  const panel = item.querySelector(".trim");
  const video = item.querySelector("video");
  if (!panel || !video) return;
  const { start, end } = trimSeconds(panel);
  video.currentTime = start;
  const stop = () => {
    if (video.currentTime >= end) {
      video.pause();
      video.removeEventListener("timeupdate", stop);
    }
  };
  video.addEventListener("timeupdate", stop);
  video.play().catch(() => video.removeEventListener("timeupdate", stop));
}

// --- stitch: pick clips in order -------------------------------------------------------------

function restoreStitch(item) {
  const box = item.querySelector("input[data-stitch]");
  if (box) box.checked = stitchOrder.includes(box.value);
  showStitchOrder();
}

function showStitchOrder() {
  for (const box of root.querySelectorAll("input[data-stitch]")) {
    const n = stitchOrder.indexOf(box.value);
    box.closest(".lib-item").dataset.stitchOrder = n >= 0 ? String(n + 1) : "";
  }
  const count = stitchOrder.length;
  stitchBar.hidden = count === 0;
  stitchCount.textContent = `${count} clip${count === 1 ? "" : "s"} picked`;
  stitchHint.textContent = count < 2
    ? gettext("Pick at least two clips, in the order they should play.")
    : gettext("They play in the order you picked them.");
  stitchButton.disabled = count < 2;
  stitchButton.textContent = count >= 2 ? interpolate(gettext("Stitch %(count)s clips"), { count }) : gettext("Stitch");
}

stitchButton.addEventListener("click", async () => {
  stitchError.hidden = true;
  stitchButton.disabled = true;
  try {
    const job = await request("edits", { method: "POST", body: { op: "stitch", assets: stitchOrder } });
    stitchOrder = [];
    root.querySelectorAll("input[data-stitch]").forEach((box) => { box.checked = false; });
    showStitchOrder();
    await insert(job.id);
    window.scrollTo({ top: 0, behavior: "smooth" });
  } catch (err) {
    stitchError.textContent = errorText(err);
    stitchError.hidden = false;
    stitchButton.disabled = stitchOrder.length < 2;
  }
});

document.getElementById("stitch-clear").addEventListener("click", () => {
  stitchOrder = [];
  root.querySelectorAll("input[data-stitch]").forEach((box) => { box.checked = false; });
  stitchError.hidden = true;
  showStitchOrder();
});

// --- one set of listeners for every item, present and future ----------------------------------

root.addEventListener("click", async (ev) => {
  const target = ev.target.closest("button");
  const item = target?.closest(".lib-item");
  if (!item) return;
  if (target.dataset.toggle) {
    togglePanel(item, target.dataset.toggle);
  } else if (target.dataset.action === "cancel") {
    target.disabled = true;
    try {
      await request(`generations/${item.dataset.jobId}/cancel`, { method: "POST" });
      refresh(item.dataset.jobId);
    } catch (err) {
      target.disabled = false;
      say(item, errorText(err), { error: true });
    }
  } else if (target.dataset.action === "upscale") {
    target.disabled = true;
    await edit(item, { op: "upscale", assets: [pickedAsset(item)], quality: item.dataset.quality }, gettext("Upscale"));
    target.disabled = false;
  } else if (target.dataset.action === "play-selection") {
    playSelection(item);
  }
});

root.addEventListener("input", (ev) => {
  const panel = ev.target.closest(".trim");
  if (panel && ev.target.type === "range") onTrimInput(panel, ev.target);
});

root.addEventListener("change", (ev) => {
  const input = ev.target;
  const item = input.closest(".lib-item");
  if (!item) return;
  if (input.matches("input[data-stitch]")) {
    stitchOrder = stitchOrder.filter((id) => id !== input.value);
    if (input.checked) stitchOrder.push(input.value);
    stitchError.hidden = true;
    showStitchOrder();
  } else if (input.matches(".variations input")) {
    const main = item.querySelector("img[data-main]");
    if (main) {
      // The <picture>'s AVIF/WebP sources show the first variation; the picked one replaces them.
      main.closest("picture")?.querySelectorAll("source").forEach((source) => source.remove());
      main.removeAttribute("srcset");
      main.src = input.dataset.src;
    }
  }
});

root.addEventListener("submit", async (ev) => {
  const panel = ev.target;
  const item = panel.closest(".lib-item");
  if (!item) return;
  ev.preventDefault();
  const submit = panel.querySelector('button[type="submit"]');
  submit.disabled = true;
  const name = panel.dataset.panel;
  if (name === "publish") {
    const data = new FormData(panel);
    try {
      const post = await request("posts", {
        method: "POST",
        // Ids are 64-bit: they stay strings.
        body: {
          asset_id: pickedAsset(item),
          caption: data.get("caption"),
          visibility: data.get("visibility"),
          hide_prompt: data.get("hide_prompt") === "on",
          alt_text: data.get("alt_text") || "",
        },
      });
      window.location.href = `/p/${post.id}`;
      return;
    } catch (err) {
      say(item, errorText(err), { error: true });
    }
  } else if (name === "trim") {
    const { start, end } = trimSeconds(panel);
    const body = {
      op: "trim",
      assets: [item.dataset.assetId],
      start_s: Number(start.toFixed(3)),
      end_s: Number(end.toFixed(3)),
      quality: item.dataset.quality,
    };
    if (await edit(item, body, gettext("Trim"))) togglePanel(item, "trim", false);
  } else if (name === "extend") {
    const body = {
      op: "extend",
      assets: [item.dataset.assetId],
      duration_s: Number(panel.elements.duration_s.value),
      quality: item.dataset.quality,
    };
    if (await edit(item, body, gettext("Extend"))) togglePanel(item, "extend", false);
  }
  submit.disabled = false;
});

showStitchOrder();
