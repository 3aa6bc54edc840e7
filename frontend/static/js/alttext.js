// Alt text: a live character count under every alt text box, the description offered from the
// creator's own prompt in the publish forms (Create, Library), and on the post page "Use the
// suggestion" fills the box for editing instead of saving at once. Everything works without this
// module: the forms post, the server checks the bounds and offers the suggestion itself.
import { gettext, interpolate } from "./i18n.js";

const suggestions = new Map(); // asset id -> Promise<string>

function count(input) {
  const out = input.form?.querySelector("[data-alt-count]");
  if (!out) return;
  const max = Number(input.getAttribute("maxlength")) || 1500;
  const left = max - input.value.length;
  const counted = interpolate(gettext("%(used)s / %(max)s characters"), { used: input.value.length, max });
  out.textContent = left < 0 ? `${counted} — ${gettext("too long")}` : counted;
}

function assetIdOf(input) {
  const form = input.form;
  return form?.dataset.assetId || form?.closest("[data-asset-id]")?.dataset.assetId || "";
}

// Only the asset's owner gets an answer (anyone else: 404), so a hidden prompt stays theirs.
function suggestionFor(assetId) {
  if (!/^[0-9]{1,19}$/.test(assetId)) return Promise.resolve("");
  if (!suggestions.has(assetId)) {
    const answer = fetch(`/api/v1/assets/${assetId}/alt-suggestion`, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then((r) => (r.ok ? r.json() : { suggestion: "" }))
      .then((body) => body.suggestion || "")
      .catch(() => "");
    suggestions.set(assetId, answer);
  }
  return suggestions.get(assetId);
}

async function offer(input) {
  const assetId = assetIdOf(input);
  if (!assetId || input.dataset.altOffered === assetId) return;
  input.dataset.altOffered = assetId;
  const text = await suggestionFor(assetId);
  input.form?.querySelector("[data-alt-offer]")?.remove();
  if (!text) return;
  const box = document.createElement("p");
  box.className = "muted small";
  box.dataset.altOffer = "";
  box.append(`${gettext("Suggested from your prompt:")} `);
  const quote = document.createElement("q");
  quote.textContent = text;
  const use = document.createElement("button");
  use.type = "button";
  use.className = "secondary";
  use.textContent = gettext("Use the suggestion");
  use.setAttribute("aria-label", interpolate(gettext("Use the suggestion as alt text: %(text)s"), { text }));
  use.addEventListener("click", () => {
    input.value = text;
    count(input);
    input.focus();
  });
  box.append(quote, " ", use);
  // Alt text is public: no offer of the prompt while "Hide the prompt" is ticked.
  const hide = input.form?.querySelector('input[name="hide_prompt"]');
  box.hidden = Boolean(hide?.checked);
  hide?.addEventListener("change", () => {
    box.hidden = hide.checked;
  });
  // After the box's label, not inside it: the label stays the box's name alone.
  (input.closest("label") || input).insertAdjacentElement("afterend", box);
}

document.addEventListener("input", (ev) => {
  if (ev.target.matches?.("textarea[data-alt-input]")) count(ev.target);
});

// The publish forms are opened (Library) or created (Create) after load: offer on first focus.
document.addEventListener("focusin", (ev) => {
  if (ev.target.matches?.("textarea[data-alt-suggest]")) offer(ev.target);
});

// The post page: the suggestion fills the box, to be read and edited before saving.
document.addEventListener("click", (ev) => {
  const use = ev.target.closest?.("button[data-alt-use]");
  if (!use) return;
  const input = use.form?.querySelector("textarea[data-alt-input]");
  const text = use.form?.querySelector("[data-alt-suggestion]")?.textContent;
  if (!input || !text) return;
  ev.preventDefault();
  input.value = text;
  count(input);
  input.focus();
});

for (const input of document.querySelectorAll("textarea[data-alt-input]")) count(input);
