// The /verify page: a file dropped on the zone (or chosen with the input) goes to
// POST /api/v1/provenance/verify as multipart; the answer (content credentials, exact and near
// matches with their distance, the best match's record) is shown below. Nothing is kept.
import { csrfToken } from "./live.js";
import { gettext, interpolate } from "./i18n.js";

const root = document.getElementById("verify");
if (root) verifyPage(root);

// Whole phrases, so that each language can order its words.
function copyLabel(match) {
  const video = match.kind === "video";
  if (match.method === "sha256") return video ? gettext("Exact copy of a clip") : gettext("Exact copy of a picture");
  return video ? gettext("Near copy of a clip") : gettext("Near copy of a picture");
}

function verifyPage(root) {
  const drop = document.getElementById("verify-drop");
  const input = document.getElementById("verify-file");
  const status = document.getElementById("verify-status");
  const errorBox = document.getElementById("verify-error");
  const result = document.getElementById("verify-result");
  const maxBytes = Number(root.dataset.maxMb) * 1024 * 1024;

  input.addEventListener("change", () => input.files[0] && check(input.files[0]));
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer?.files?.[0];
    if (!file) return;
    input.value = ""; // the input no longer names what is being checked
    check(file);
  });

  async function check(file) {
    errorBox.hidden = true;
    result.hidden = true;
    if (file.size > maxBytes) {
      showError(interpolate(gettext("The file is larger than %(mb)s MB."), { mb: root.dataset.maxMb }));
      return;
    }
    status.textContent = interpolate(gettext("Checking %(name)s…"), { name: file.name });
    const body = new FormData();
    body.append("file", file);
    let response;
    try {
      response = await fetch(root.dataset.api, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken() },
        body,
      });
    } catch {
      status.textContent = "";
      showError(gettext("Vivid could not be reached. Check your connection and try again."));
      return;
    }
    const data = await response.json().catch(() => null);
    status.textContent = "";
    if (!response.ok) {
      const error = data?.error;
      let message = error?.fields?.file?.[0] || error?.message || gettext("The file could not be checked.");
      const retry = response.headers.get("Retry-After");
      if (response.status === 429 && retry) message += ` (${interpolate(gettext("wait %(wait)s s"), { wait: retry })})`;
      showError(message);
      return;
    }
    show(data, file.name);
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function show(data, name) {
    status.textContent = `${name}: checked.`;
    showCredentials(data.c2pa || {});
    showMatches(data.matches || []);
    showRecord(data.record);
    result.hidden = false;
  }
}

function el(tag, { text, cls, attrs } = {}, children = []) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

function facts(dl, rows) {
  dl.replaceChildren();
  for (const [label, value] of rows) {
    if (value === undefined || value === null || value === "") continue;
    const dd = value instanceof Node ? el("dd", {}, [value]) : el("dd", { text: String(value) });
    dl.append(el("dt", { text: label }), dd);
  }
}

function showCredentials(c2pa) {
  const line = document.getElementById("verify-c2pa");
  const claims = c2pa.claims || {};
  let state;
  if (!c2pa.present) {
    state = el("span", { cls: "state none", text: gettext("No content credentials in this file.") });
  } else if (c2pa.valid) {
    state = el("span", { cls: "state valid", text: gettext("Valid content credentials.") });
  } else {
    const why = (c2pa.validation_errors || []).map((e) => e.code).filter(Boolean).join(", ");
    state = el("span", {
      cls: "state invalid",
      text: why
        ? interpolate(gettext("Content credentials present but not valid (%(why)s): the file was changed after it was signed, or its signer is not trusted."), { why })
        : gettext("Content credentials present but not valid: the file was changed after it was signed, or its signer is not trusted."),
    });
  }
  line.replaceChildren(state);
  const generator = (claims.generator || []).map((g) => [g.name, g.version].filter(Boolean).join(" ")).join(", ");
  facts(document.getElementById("verify-claims"), [
    [gettext("Signed by"), claims.signer],
    [gettext("Made with"), generator],
    ["AI-generated", claims.ai_generated === undefined ? undefined : claims.ai_generated ? "yes" : "no"],
    [gettext("Actions"), (claims.actions || []).map((a) => a.action).join(", ")],
    [gettext("Record"), c2pa.record_id],
  ]);
}

function showMatches(matches) {
  const list = document.getElementById("verify-matches");
  list.replaceChildren();
  if (!matches.length) {
    list.append(el("li", { cls: "muted", text: gettext("No item on Vivid that you may see matches this file.") }));
    return;
  }
  for (const m of matches) {
    const children = [
      el("span", { cls: "badge", text: m.method === "sha256" ? "sha256" : "perceptual" }),
      el("strong", { text: copyLabel(m) }),
    ];
    if (m.post_url) children.push(el("a", { text: gettext("View the post"), attrs: { href: m.post_url, "data-testid": "verify-post-link" } }));
    else children.push(el("span", { cls: "muted", text: gettext("not in a post you can see") }));
    children.push(el("span", { cls: "distance", text: `distance ${m.distance}` }));
    list.append(el("li", { attrs: { "data-testid": "verify-match", "data-method": m.method, "data-distance": m.distance } }, children));
  }
}

function showRecord(record) {
  const box = document.getElementById("verify-record-box");
  if (!record) {
    box.hidden = true;
    return;
  }
  facts(document.getElementById("verify-record"), [
    [gettext("Prompt"), record.prompt_hidden ? gettext("hidden by its creator") : record.prompt],
    [gettext("Negative prompt"), record.prompt_hidden ? undefined : record.negative_prompt],
    [gettext("Creator"), record.creator?.username ? `@${record.creator.username}` : undefined],
    [gettext("Backend"), record.backend],
    [gettext("Model"), [record.model, record.model_version].filter(Boolean).join(" ")],
    [gettext("Seed"), record.seed],
    [gettext("Made"), record.created_at ? new Date(record.created_at).toLocaleString(document.documentElement.lang || undefined) : undefined],
    [gettext("Record"), el("a", { text: record.id, attrs: { href: `/provenance/${record.id}` } })],
    [gettext("Record hash"), record.record_hash],
  ]);
  box.hidden = false;
}
