// The Save menu: "Save" on a card or post page opens a small panel of my collections, each a
// toggle (pressed when the post is in it), and a field to save to a new one. Without this
// module the same button is a link to the Save page, which does the same with forms.
// Keyboard: the panel's first control takes focus; Escape closes it and focus returns to Save.
import { gettext, interpolate } from "./i18n.js";

function csrf() {
  const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

async function api(method, url, body) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  if (response.status !== 204) {
    try { data = await response.json(); } catch { data = null; }
  }
  if (!response.ok) {
    const message = data?.error?.fields?.name?.[0] || data?.error?.message || gettext("That did not work.");
    throw new Error(message);
  }
  return data;
}

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

let open = null; // { panel, button }

function close() {
  if (!open) return;
  const { panel, button } = open;
  open = null;
  panel.remove();
  button.setAttribute("aria-expanded", "false");
  button.focus();
}

function toggleButton(collection, postId, status) {
  const item = el("li");
  const button = el("button", {
    type: "button",
    "aria-pressed": collection.contains_post ? "true" : "false",
    "data-collection-id": collection.id,
  }, collection.name);
  button.addEventListener("click", async () => {
    const saved = button.getAttribute("aria-pressed") === "true";
    button.disabled = true;
    try {
      await api(saved ? "DELETE" : "POST", `/api/v1/collections/${collection.id}/posts/${postId}`);
      button.setAttribute("aria-pressed", saved ? "false" : "true");
      status.textContent = interpolate(saved ? gettext("Removed from %(name)s.") : gettext("Saved to %(name)s."), { name: collection.name });
    } catch (error) {
      status.textContent = error.message;
    } finally {
      button.disabled = false;
      button.focus();
    }
  });
  item.append(button);
  return item;
}

async function render(panel, postId) {
  const status = panel.querySelector("[role=status]");
  const list = panel.querySelector("ul");
  list.replaceChildren();
  const data = await api("GET", `/api/v1/collections?limit=100&post_id=${postId}`);
  for (const collection of data.items) list.append(toggleButton(collection, postId, status));
}

async function openFor(button) {
  close();
  const postId = button.dataset.savePost;
  const panel = el("div", { class: "save-menu", role: "dialog", "aria-label": gettext("Save to a collection"), "data-testid": "save-menu" });
  const list = el("ul", { class: "save-list" });
  const status = el("p", { role: "status", class: "muted", "data-testid": "save-status" });
  const form = el("form", { class: "save-new" });
  const label = el("label", { for: `save-new-${postId}` }, gettext("New collection"));
  const input = el("input", { id: `save-new-${postId}`, name: "name", maxlength: "60", required: "", "data-testid": "save-new-name" });
  const create = el("button", { type: "submit", class: "primary" }, gettext("Create and save"));
  form.append(label, input, create);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const collection = await api("POST", "/api/v1/collections", { name: input.value, visibility: "private" });
      await api("POST", `/api/v1/collections/${collection.id}/posts/${postId}`);
      input.value = "";
      await render(panel, postId);
      status.textContent = interpolate(gettext("Saved to %(name)s."), { name: collection.name });
    } catch (error) {
      status.textContent = error.message;
    }
  });
  const done = el("button", { type: "button", class: "link" }, gettext("Close"));
  done.addEventListener("click", close);
  panel.append(list, form, status, done);
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { event.preventDefault(); close(); }
  });
  button.after(panel);
  button.setAttribute("aria-expanded", "true");
  open = { panel, button };
  try {
    await render(panel, postId);
  } catch (error) {
    status.textContent = error.message;
  }
  (panel.querySelector("ul button") || input).focus();
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("a[data-save-post]");
  if (!button) return;
  event.preventDefault();
  if (open && open.button === button) close();
  else openFor(button);
});
