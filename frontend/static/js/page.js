// Behaviour and per-item looks the templates used to write inline. The site's
// Content-Security-Policy refuses inline style="" attributes and on*="" handlers, so templates
// say what they want in data-* attributes and this module does it:
//
//   data-bg="#1d1d28"            background colour (the media's placeholder while it loads)
//   data-aspect="1024/768"       aspect-ratio
//   data-percent="40"            width in percent (progress bars)
//   data-indent="36"             padding-left in pixels (the family tree's depth)
//   data-reveal=".card"          a click adds `revealed` to the closest such ancestor
//   data-unblur                  a click removes `blurred` from the element itself
//   <form data-confirm="Sure?">  submitting asks first; "Cancel" stops the submission
//
// Styles set through the CSSOM (el.style.x = …) are allowed by the policy; attributes are not.
// Cards and library items arrive later too (feed.js, library.js, htmx swaps): a
// MutationObserver applies the same attributes to whatever is added.

const COLOR = /^#[0-9a-f]{3,8}$/i;
const RATIO = /^\s*(\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)\s*$/;
const NUMBER = /^\d+(?:\.\d+)?$/;
const SELECTOR = "[data-bg],[data-aspect],[data-percent],[data-indent]";

function applyOne(el) {
  const { bg, aspect, percent, indent } = el.dataset;
  if (bg && COLOR.test(bg)) el.style.background = bg;
  const ratio = aspect && RATIO.exec(aspect);
  if (ratio && Number(ratio[1]) > 0 && Number(ratio[2]) > 0) {
    el.style.aspectRatio = `${ratio[1]} / ${ratio[2]}`;
  }
  if (percent && NUMBER.test(percent)) el.style.width = `${Math.min(Number(percent), 100)}%`;
  if (indent && NUMBER.test(indent)) el.style.paddingLeft = `${indent}px`;
}

export function applyDataStyles(root = document) {
  if (root.nodeType !== Node.ELEMENT_NODE && root.nodeType !== Node.DOCUMENT_NODE) return;
  if (root.matches?.(SELECTOR)) applyOne(root);
  root.querySelectorAll(SELECTOR).forEach(applyOne);
}

document.addEventListener("click", (ev) => {
  const reveal = ev.target.closest?.("[data-reveal]");
  if (reveal) {
    reveal.closest(reveal.dataset.reveal)?.classList.add("revealed");
    return;
  }
  const unblur = ev.target.closest?.("[data-unblur]");
  if (unblur) unblur.classList.remove("blurred");
});

document.addEventListener("submit", (ev) => {
  const form = ev.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.confirm) return;
  if (!window.confirm(form.dataset.confirm)) {
    ev.preventDefault();
    ev.stopImmediatePropagation();
  }
}, true);

applyDataStyles(document);
new MutationObserver((records) => {
  for (const record of records) {
    if (record.type === "attributes") applyOne(record.target);
    else record.addedNodes.forEach((node) => applyDataStyles(node));
  }
}).observe(document.documentElement, {
  childList: true,
  subtree: true,
  attributes: true,
  attributeFilter: ["data-bg", "data-aspect", "data-percent", "data-indent"],
});
