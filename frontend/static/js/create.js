// The Create page: pick what to make (only what the chosen backend can do), submit it through
// the API, follow its progress over the socket (`generation.updated`), pick one of the results
// and publish it. Also exports the small API helpers the Library page shares.
import { csrfToken, on } from "./live.js";
import { finalBody, tileLabel, varyBody } from "./ideation.js";
import { gettext, interpolate, ngettext } from "./i18n.js";

export const FINISHED = ["succeeded", "failed", "canceled"];

// Field names as the forms call them, for validation errors in plain words.
const FIELD_LABELS = {
  prompt: gettext("Prompt"),
  negative_prompt: gettext("Negative prompt"),
  kind: gettext("Kind"),
  aspect_ratio: gettext("Aspect ratio"),
  quality: gettext("Quality"),
  count: gettext("Count"),
  duration_s: gettext("Duration"),
  seed: gettext("Seed"),
  likeness: gettext("People in it"),
  backend: gettext("Backend"),
  assets: gettext("Clips"),
  start_s: gettext("Start"),
  end_s: gettext("End"),
  caption: gettext("Caption"),
  visibility: gettext("Visibility"),
  remix_of: gettext("Remix"),
  variation_of: gettext("Picture"),
  variation_strength: gettext("How different"),
};

// --- shared with library.js ------------------------------------------------------------------

// Like live.js's `api`, but the error also carries the status and `Retry-After` (quota errors
// say when to try again), and a network failure reads as a sentence.
export async function request(path, { method = "GET", body } = {}) {
  let response;
  try {
    response = await fetch(`/api/v1/${path}`, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new Error(gettext("Vivid could not be reached. Check your connection and try again."));
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error(
      data?.error?.message ||
        interpolate(gettext("Something went wrong on our side (error %(status)s). Please try again."), { status: response.status }),
    );
    error.status = response.status;
    error.data = data?.error;
    const retry = Number(response.headers.get("Retry-After"));
    if (retry > 0) error.retryAfter = retry;
    throw error;
  }
  return data;
}

export function waitText(seconds) {
  if (seconds < 60) {
    return interpolate(ngettext("%(count)s second", "%(count)s seconds", seconds), { count: seconds });
  }
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 60) {
    return interpolate(ngettext("%(count)s minute", "%(count)s minutes", minutes), { count: minutes });
  }
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return `${hours} h${rest ? ` ${rest} min` : ""}`;
}

export function errorText(err) {
  if (err.data?.code === "quota_exceeded" || err.status === 429) {
    const when = err.retryAfter
      ? ` ${interpolate(gettext("You can try again in %(wait)s."), { wait: waitText(err.retryAfter) })}`
      : "";
    return `${err.message}${when}`;
  }
  const fields = err.data?.fields;
  if (fields) {
    return Object.entries(fields)
      .map(([name, messages]) => `${FIELD_LABELS[name] || name}: ${messages.join(" ")}`)
      .join(" ");
  }
  return err.message;
}

export function showError(box, err) {
  box.textContent = typeof err === "string" ? err : errorText(err);
  box.classList.toggle("quota", err?.status === 429);
  box.hidden = false;
}

export function seconds(value) {
  return `${Number(value).toFixed(1)} s`;
}

// --- the Create page -------------------------------------------------------------------------

const form = document.getElementById("generate-form");
if (form) createPage(form);

function createPage(form) {
  const button = document.getElementById("generate-button");
  const cancel = document.getElementById("cancel-button");
  const progress = document.getElementById("progress");
  const bar = document.getElementById("progress-bar");
  const label = document.getElementById("progress-label");
  const errorBox = document.getElementById("generate-error");
  const note = document.getElementById("backend-note");
  const quota = document.getElementById("quota");
  const results = document.getElementById("results");
  const resultsEmpty = document.getElementById("results-empty");
  const resultsHint = document.getElementById("results-hint");
  const resultTemplate = document.getElementById("result-template");
  const publishTemplate = document.getElementById("publish-template");
  const kindSwitch = document.getElementById("kind-switch");
  const gridButton = document.getElementById("grid-button");
  const gridPublish = document.getElementById("grid-publish");
  const ideationBar = document.getElementById("ideation-bar");
  const gridTitle = document.getElementById("grid-title");
  const strength = document.getElementById("vary-strength");
  const strengthValue = document.getElementById("vary-strength-value");
  const finalsBox = document.getElementById("finals");
  const finalsList = document.getElementById("finals-list");
  const finals = new Map(); // job id → {job, figure}: finals asked for from a tile
  let publish = null; // the one publish form, under (or, in a grid, after) the picked result
  const sizes = JSON.parse(document.getElementById("output-sizes").textContent);
  const { seed, lock_seed: lockSeed, duration_s: duration } = form.elements;
  let backends = null; // GET /generation/backends, once loaded
  let current = null; // the job being watched
  let retryTimer = null;
  let lastSeed = null; // the seed of the last run, to lock it afterwards
  const seedNote = document.getElementById("seed-note");

  const kindInputs = () => [...form.querySelectorAll('input[name="kind"]')];
  const selectedKind = () => kindInputs().find((i) => i.checked)?.value || "image";

  // Show only what the selected backend can make: its kinds, the ratios and qualities whose
  // output size it lists, and its longest clip.
  function applyBackend() {
    const backend = backends?.find((b) => b.id === form.elements.backend.value);
    const notes = [];
    if (backend) {
      for (const input of kindInputs()) {
        const ok = backend.kinds.includes(input.value);
        input.disabled = !ok;
        input.closest("label").hidden = !ok;
      }
      if (kindInputs().find((i) => i.checked)?.disabled) {
        const wanted = selectedKind();
        kindInputs().find((i) => !i.disabled).checked = true;
        notes.push(`${backend.name} cannot make ${wanted}s, so this is set up for ${selectedKind()}s.`);
      }
      kindSwitch.hidden = kindInputs().filter((i) => !i.disabled).length < 2;
    }
    const kind = selectedKind();
    for (const el of form.querySelectorAll("[data-for-kind]")) {
      const shown = el.dataset.forKind === kind;
      el.hidden = !shown;
      el.querySelectorAll("input, select").forEach((input) => { input.disabled = !shown; });
    }
    // Grids of more than 4 are drafts only (they are for picking, not publishing as they are).
    const draft = form.elements.quality.value === "draft";
    showOptions(form.elements.count, (n) => draft || Number(n) <= 4);
    if (!backend) return;
    const allowed = new Set(kind === "video" ? backend.video_sizes || [] : backend.sizes);
    const fits = (ratio, quality) => allowed.has(sizes[kind][ratio][quality]);
    const ratios = Object.keys(sizes[kind]);
    showOptions(form.elements.quality, (q) => ratios.some((r) => fits(r, q)));
    const quality = form.elements.quality.value;
    showOptions(form.elements.aspect_ratio, (r) => fits(r, quality));
    gridButton.hidden = kind !== "image" || !allowed.has(sizes.image[form.elements.aspect_ratio.value]?.draft);
    if (kind === "video" && backend.max_duration_s) {
      const max = Math.min(20, backend.max_duration_s);
      duration.max = String(max);
      if (Number(duration.value) > max) duration.value = String(max);
      notes.push(interpolate(gettext("Clips are 1 to %(max)s seconds with %(backend)s."), { max, backend: backend.name }));
    }
    // A backend that cannot run anything now (no GPU server answers) says so, and Generate waits
    // (as it does while a job runs).
    const unavailable = backend.available === false;
    if (unavailable) notes.push(backend.unavailable_reason || gettext("This backend cannot run anything right now."));
    const running = Boolean(current) && !FINISHED.includes(current.status);
    button.disabled = unavailable || running;
    gridButton.disabled = unavailable || running;
    note.classList.toggle("error", unavailable);
    note.textContent = notes.join(" ");
    note.hidden = !notes.length;
  }

  function showOptions(select, ok) {
    for (const option of select.options) {
      const fine = ok(option.value);
      option.hidden = !fine;
      option.disabled = !fine;
    }
    if (select.selectedOptions[0]?.disabled) {
      const first = [...select.options].find((o) => !o.disabled);
      if (first) select.value = first.value;
    }
  }

  let recheckTimer = null;
  async function loadBackends() {
    try {
      backends = await request("generation/backends");
    } catch {
      backends = null; // every option stays; the API still checks the request
    }
    applyBackend();
    // A model that cannot run now (its GPU servers do not answer) is asked about again every
    // 15 s while the page is open, so Generate comes back on its own when a server returns.
    clearTimeout(recheckTimer);
    if (backends?.some((b) => b.available === false)) {
      recheckTimer = setTimeout(loadBackends, 15000);
    }
  }

  async function loadQuota() {
    try {
      const q = await request("generation/quota");
      quota.textContent = interpolate(
        gettext("Today: %(used)s of %(budget)s units used · %(active)s of %(max)s jobs running"),
        { used: q.used_today, budget: q.daily_budget, active: q.active_jobs, max: q.max_active_jobs },
      );
    } catch {
      quota.textContent = "";
    }
  }

  function render(job) {
    if (finals.has(job.id)) return renderFinal(job);
    if (!current || job.id !== current.id) return;
    current = job;
    const percent = Math.round(job.progress * 100);
    progress.hidden = false;
    bar.style.width = `${percent}%`;
    progress.setAttribute("aria-valuenow", String(percent));
    label.textContent = job.status === "running" ? `${percent}%` : job.status;
    progress.dataset.status = job.status;
    const finished = FINISHED.includes(job.status);
    const unavailable = backends?.find((b) => b.id === form.elements.backend.value)?.available === false;
    button.disabled = !finished || unavailable;
    gridButton.disabled = !finished || unavailable;
    cancel.hidden = finished;
    if (job.status === "failed") showError(errorBox, job.error || gettext("The generation failed. Please try again."));
    showResults(job);
    if (finished) loadQuota();
  }

  // Results fill in as they are stored: a draft grid shows each variation as soon as it is
  // ready (the socket's `generation.updated` carries the results so far), the rest wait as
  // placeholder tiles of the right shape.
  function showResults(job) {
    const expected = job.kind === "image" ? job.params.count || 1 : 1;
    const grid = job.kind === "image" && expected > 4;
    if (results.dataset.jobId !== job.id) {
      results.replaceChildren();
      results.dataset.jobId = job.id;
      results.classList.toggle("ideation", grid);
      publish?.remove();
      publish = publishForm();
      for (let i = 0; i < expected; i++) results.append(placeholder(job, i));
    }
    if (job.assets.length || FINISHED.includes(job.status)) resultsEmpty.hidden = true;
    else resultsEmpty.hidden = results.children.length > 0;
    const tiles = [...results.children];
    job.assets.forEach((asset, i) => {
      let node = tiles[i];
      if (!node) {
        node = placeholder(job, i);
        results.append(node);
      }
      if (node.dataset.assetId !== asset.id) fillTile(node, asset, job, i, expected);
    });
    if (FINISHED.includes(job.status)) {
      tiles.slice(job.assets.length).forEach((node) => node.remove()); // never to come
    }
    const shown = results.querySelectorAll("figure.result:not(.pending)").length;
    resultsHint.hidden = shown < 2;
    ideationBar.hidden = !(job.kind === "image" && canVary(job) && shown > 0);
    gridTitle.textContent = gridCaption(job, shown, expected);
    if (!results.querySelector("figure.picked")) {
      const first = results.querySelector("figure.result:not(.pending)");
      if (first) {
        first.querySelector(".pick input").checked = true;
        choose(first);
      }
    }
  }

  function gridCaption(job, shown, expected) {
    const what = job.params.variation_seed !== undefined
      ? interpolate(gettext("%(count)s variations around seed %(seed)s"), { count: expected, seed: job.seed })
      : job.params.quality === "draft"
        ? interpolate(ngettext("%(count)s draft of this prompt", "%(count)s drafts of this prompt", expected), { count: expected })
        : interpolate(ngettext("%(count)s image of this prompt", "%(count)s images of this prompt", expected), { count: expected });
    return shown < expected && !FINISHED.includes(job.status)
      ? interpolate(gettext("%(what)s: %(count)s ready"), { what, count: shown })
      : what;
  }

  const canVary = (job) => {
    const backend = backends?.find((b) => b.id === job.backend);
    return Boolean(backend?.can_vary) && job.op === "generate";
  };

  function placeholder(job, i) {
    const node = resultTemplate.content.firstElementChild.cloneNode(true);
    node.classList.add("pending");
    const { width, height } = job.params;
    if (width && height) node.style.setProperty("--tile-ratio", String(width / height));
    const label = node.querySelector(".pick span");
    label.textContent = job.kind === "image"
      ? interpolate(gettext("Variation %(n)s: rendering…"), { n: i + 1 })
      : gettext("Rendering…");
    node.querySelector(".pick input").disabled = true;
    node.querySelector(".pick").hidden = (job.params.count || 1) < 2;
    return node;
  }

  function fillTile(node, asset, job, i, expected) {
    node.classList.remove("pending");
    node.dataset.assetId = asset.id;
    node.dataset.seed = asset.seed ?? "";
    const media = node.querySelector(".result-media");
    media.replaceChildren(mediaFor(asset, job, i));
    const pick = node.querySelector(".pick");
    pick.querySelector("span").textContent = tileLabel(asset, i);
    pick.hidden = expected < 2;
    const radio = pick.querySelector("input");
    radio.disabled = false;
    radio.value = asset.id;
    radio.addEventListener("change", () => choose(node));
    media.addEventListener("click", (ev) => {
      if (ev.target.tagName === "VIDEO") return; // its controls
      radio.checked = true;
      choose(node);
    });
    if (asset.kind === "image" && canVary(job)) {
      const actions = node.querySelector(".tile-actions");
      actions.hidden = false;
      const finalButton = actions.querySelector(".final-button");
      finalButton.hidden = job.params.quality !== "draft";
      finalButton.setAttribute("aria-label", interpolate(gettext("Final of %(label)s"), { label: tileLabel(asset, i) }));
      finalButton.addEventListener("click", () => askFinal(job, asset, i, finalButton));
      const varyButton = actions.querySelector(".vary-button");
      varyButton.setAttribute("aria-label", `Vary ${tileLabel(asset, i)}`);
      varyButton.addEventListener("click", () => askVary(job, asset, varyButton));
    }
  }

  // "Final": the same picture (same prompt, seed, ratio) at full quality, as a job of its own;
  // it appears under Finals while the grid stays for more picking.
  async function askFinal(job, asset, i, buttonEl) {
    errorBox.hidden = true;
    buttonEl.disabled = true;
    try {
      const finalJob = await request("generations", { method: "POST", body: finalBody(job, asset) });
      const figure = resultTemplate.content.firstElementChild.cloneNode(true);
      figure.classList.add("pending", "final-result");
      figure.dataset.jobId = finalJob.id;
      figure.dataset.fromAsset = asset.id;
      const { width, height } = finalJob.params;
      figure.style.setProperty("--tile-ratio", String(width / height));
      figure.querySelector(".pick").hidden = true;
      const status = document.createElement("p");
      status.className = "final-status muted small";
      figure.append(status);
      finals.set(finalJob.id, { job: finalJob, figure, label: interpolate(gettext("Final of %(label)s"), { label: tileLabel(asset, i) }) });
      finalsList.prepend(figure);
      finalsBox.hidden = false;
      renderFinal(finalJob);
      pollFinal(finalJob.id);
    } catch (err) {
      showError(errorBox, err);
      holdUntilRetry(err);
    } finally {
      buttonEl.disabled = false;
    }
  }

  function renderFinal(job) {
    const entry = finals.get(job.id);
    entry.job = job;
    const { figure } = entry;
    const status = figure.querySelector(".final-status");
    const percent = Math.round(job.progress * 100);
    figure.dataset.status = job.status;
    status.textContent = job.status === "running" ? `${entry.label}: ${percent}%`
      : job.status === "failed"
        ? interpolate(gettext("%(label)s failed: %(error)s"), { label: entry.label, error: job.error || gettext("please try again.") })
      : `${entry.label}: ${job.status}`;
    const asset = job.assets[0];
    if (asset && figure.dataset.assetId !== asset.id) {
      figure.classList.remove("pending");
      figure.dataset.assetId = asset.id;
      const media = figure.querySelector(".result-media");
      media.replaceChildren(mediaFor(asset, job, 0, entry.label));
      const pick = figure.querySelector(".pick");
      pick.hidden = false;
      pick.querySelector("span").textContent = `${entry.label} · pick to publish`;
      const radio = pick.querySelector("input");
      radio.value = asset.id;
      radio.addEventListener("change", () => choose(figure));
      media.addEventListener("click", () => {
        radio.checked = true;
        choose(figure);
      });
    }
    if (FINISHED.includes(job.status)) loadQuota();
  }

  async function pollFinal(jobId) {
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const entry = finals.get(jobId);
    if (!entry || FINISHED.includes(entry.job.status)) return;
    try { renderFinal(await request(`generations/${jobId}`)); } catch { /* try again */ }
    pollFinal(jobId);
  }

  // "Vary": a new grid around the chosen picture (its composition kept, details and colours
  // nudged by the strength chosen), which replaces the grid on the page.
  async function askVary(job, asset, buttonEl) {
    errorBox.hidden = true;
    buttonEl.disabled = true;
    try {
      const varied = await request("generations", {
        method: "POST",
        body: varyBody(job, asset, Number(strength.value)),
      });
      current = varied;
      render(varied);
      poll(varied.id);
    } catch (err) {
      showError(errorBox, err);
      holdUntilRetry(err);
    } finally {
      buttonEl.disabled = false;
    }
  }

  function mediaFor(asset, job, i, label) {
    const prompt = job.prompt.length > 100 ? `${job.prompt.slice(0, 100)}…` : job.prompt;
    if (asset.kind === "video") {
      const video = document.createElement("video");
      Object.assign(video, { src: asset.original_url, controls: true, loop: true, muted: true, playsInline: true });
      video.preload = "metadata";
      if (asset.variants.poster) video.poster = asset.variants.poster;
      video.setAttribute("aria-label", `Generated clip: ${prompt}`);
      return video;
    }
    const img = document.createElement("img");
    img.src = asset.original_url;
    img.alt = `${label || tileLabel(asset, i)}: ${prompt}`;
    img.width = asset.width;
    img.height = asset.height;
    return img;
  }

  // The one publish form lives under the chosen variation; in a grid (tiles too small for a
  // form), right after the grid.
  function choose(figure) {
    if (!publish) publish = publishForm();
    document.querySelectorAll(".results figure.result").forEach((f) => {
      f.classList.toggle("picked", f === figure);
      const radio = f.querySelector(".pick input");
      if (radio && f !== figure) radio.checked = false;
    });
    if (results.classList.contains("ideation") && results.contains(figure)) {
      gridPublish.append(publish);
      publish.dataset.assetId = figure.dataset.assetId;
    } else {
      figure.append(publish);
      publish.dataset.assetId = figure.dataset.assetId;
    }
  }

  function publishForm() {
    const publish = publishTemplate.content.firstElementChild.cloneNode(true);
    publish.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const data = new FormData(publish);
      const submit = publish.querySelector('button[type="submit"]');
      const body = {
        // Ids are 64-bit: as a JS number they would lose their low bits, so they stay strings.
        asset_id: publish.dataset.assetId,
        caption: data.get("caption"),
        visibility: data.get("visibility"),
        hide_prompt: data.get("hide_prompt") === "on",
        alt_text: data.get("alt_text") || "",
      };
      const remixOf = form.elements.remix_of?.value;
      if (remixOf) body.remix_of = remixOf;
      submit.disabled = true;
      try {
        const post = await request("posts", { method: "POST", body });
        window.location.href = `/p/${post.id}`;
      } catch (err) {
        submit.disabled = false;
        showError(publish.querySelector(".error"), err);
      }
    });
    return publish;
  }

  // Quota refusals say when to try again; a short wait keeps the button off until then.
  function holdUntilRetry(err) {
    if (err.status !== 429 || !err.retryAfter || err.retryAfter > 120) return;
    clearTimeout(retryTimer);
    button.disabled = true;
    retryTimer = setTimeout(() => {
      button.disabled = false;
      errorBox.hidden = true;
    }, err.retryAfter * 1000);
  }

  // A slow fallback in case the socket is down: the API is the truth.
  async function poll(jobId) {
    await new Promise((resolve) => setTimeout(resolve, 3000));
    if (!current || current.id !== jobId || FINISHED.includes(current.status)) return;
    try { render(await request(`generations/${jobId}`)); } catch { /* try again */ }
    poll(jobId);
  }

  on("generation.updated", (event) => render(event.job));
  // After a reconnect the socket may have missed the end: ask the API.
  on("reconnected", async () => {
    if (current) render(await request(`generations/${current.id}`));
  });

  form.addEventListener("change", (ev) => {
    if (["backend", "kind", "quality"].includes(ev.target.name)) applyBackend();
  });
  seed.addEventListener("input", () => {
    if (seed.value) lockSeed.checked = true; // a typed seed is meant to be kept
  });
  lockSeed.addEventListener("change", () => {
    // Locking right after a run keeps that run's seed; unlocking goes back to random.
    if (lockSeed.checked && seed.value === "" && lastSeed !== null) seed.value = lastSeed;
    if (!lockSeed.checked) seed.value = "";
    seedNote.hidden = true;
  });

  strength.addEventListener("input", () => { strengthValue.textContent = strength.value; });
  gridButton.addEventListener("click", () => {
    // One click to ideate: 16 drafts of the prompt as it stands.
    form.elements.quality.value = "draft";
    applyBackend();
    form.elements.count.value = "16";
    if (!button.disabled) form.requestSubmit(button);
  });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    errorBox.hidden = true;
    const data = new FormData(form);
    const kind = selectedKind();
    const body = {
      kind,
      prompt: data.get("prompt"),
      negative_prompt: data.get("negative_prompt"),
      aspect_ratio: data.get("aspect_ratio"),
      quality: data.get("quality"),
      backend: data.get("backend"),
    };
    // People depicted (likeness consent is checked for each): "@ana, bo" → ["ana", "bo"].
    const people = String(data.get("likeness") || "").split(/[\s,]+/).map((n) => n.replace(/^@/, ""));
    if (people.some(Boolean)) body.likeness = people.filter(Boolean);
    if (kind === "video") body.duration_s = Number(data.get("duration_s"));
    else body.count = Number(data.get("count"));
    // Locked: this seed every run. Unlocked: the server picks a new one each time.
    if (lockSeed.checked && seed.value !== "") body.seed = Number(seed.value);
    button.disabled = true;
    try {
      current = await request("generations", { method: "POST", body });
      if (lockSeed.checked) seed.value = current.seed;
      lastSeed = current.seed;
      seedNote.textContent = lockSeed.checked ? "" : interpolate(gettext("Last run used seed %(seed)s. Lock it to keep it."), { seed: lastSeed });
      seedNote.hidden = lockSeed.checked;
      render(current);
      poll(current.id);
    } catch (err) {
      button.disabled = false;
      showError(errorBox, err);
      holdUntilRetry(err);
    }
  });

  cancel.addEventListener("click", async () => {
    if (!current) return;
    try {
      render(await request(`generations/${current.id}/cancel`, { method: "POST" }));
    } catch (err) {
      showError(errorBox, err);
    }
  });

  applyBackend();
  loadBackends();
  loadQuota();
}
