// The language switch (partials/language_switch.html): choosing a language submits the form at
// once, so the button is needed only without scripts. The page then reloads in that language.
document.querySelectorAll("[data-language-switch]").forEach((form) => {
  const select = form.querySelector("[data-language-select]");
  const button = form.querySelector("[data-language-submit]");
  if (!select) return;
  if (button) button.classList.add("visually-hidden");
  select.addEventListener("change", () => form.requestSubmit());
});
