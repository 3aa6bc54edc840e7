// Settings pages: copy a new token's secret, and ask before a form marked data-settings-confirm
// (revoking a token) is sent. Behaviour lives here rather than in inline handlers, which the
// Content-Security-Policy refuses.
import { gettext } from "./i18n.js";

for (const button of document.querySelectorAll("[data-copy]")) {
  button.addEventListener("click", async () => {
    const field = document.querySelector(button.dataset.copy);
    if (!field) return;
    try {
      await navigator.clipboard.writeText(field.value);
      button.textContent = gettext("Copied");
    } catch {
      // No clipboard access (an insecure origin, a refused permission): select it for Ctrl+C.
      field.focus();
      field.select();
      button.textContent = gettext("Press Ctrl+C");
    }
  });
}

for (const form of document.querySelectorAll("form[data-settings-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.settingsConfirm)) event.preventDefault();
  });
}
