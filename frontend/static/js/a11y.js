// Keyboard and motion care that every page shares.
//
// - Focus stays inside an open dialog (an element with role="dialog", such as the Save menu, or
//   an open <dialog>): Tab from its last control goes to its first, Shift+Tab the other way.
//   Whoever opens a dialog closes it on Escape and returns focus to its opener (collections.js).
// - A reaction answered by htmx replaces the whole reaction bar; focus would fall back to the
//   page's start, so the button that was pressed gets it back.
// - Loops in the grid (videos on cards) play while on screen, muted, unless the visitor asked
//   for less motion (prefers-reduced-motion: reduce): then they stay paused on their poster.

const FOCUSABLE = [
  "a[href]",
  "button:not([disabled])",
  "input:not([disabled]):not([type=hidden])",
  "select:not([disabled])",
  "textarea:not([disabled])",
  "summary",
  "[tabindex]:not([tabindex='-1'])",
].join(",");

function focusables(root) {
  return [...root.querySelectorAll(FOCUSABLE)].filter(
    (el) => !el.closest("[hidden]") && el.getClientRects().length > 0,
  );
}

document.addEventListener("keydown", (event) => {
  if (event.key !== "Tab") return;
  const dialog = document.activeElement?.closest?.("[role=dialog], dialog[open]");
  if (!dialog) return;
  const items = focusables(dialog);
  if (!items.length) return;
  const first = items[0];
  const last = items[items.length - 1];
  if (event.shiftKey && document.activeElement === first) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && document.activeElement === last) {
    event.preventDefault();
    first.focus();
  }
});

// --- focus after a reaction ------------------------------------------------------------------
let pressed = null; // { postId, kind }

document.addEventListener("htmx:beforeRequest", (event) => {
  const button = document.activeElement?.closest?.(".reaction[data-kind]");
  const bar = event.target.closest?.("[data-reactions-for]");
  pressed = button && bar ? { postId: bar.dataset.reactionsFor, kind: button.dataset.kind } : null;
});

document.addEventListener("htmx:afterSettle", () => {
  if (!pressed || (document.activeElement && document.activeElement !== document.body)) return;
  const { postId, kind } = pressed;
  pressed = null;
  document
    .querySelector(`[data-reactions-for="${CSS.escape(postId)}"] .reaction[data-kind="${CSS.escape(kind)}"]`)
    ?.focus();
});

// --- grid loops and reduced motion -----------------------------------------------------------
const lessMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
const GRID_VIDEO = ".card .media video";
const onScreen = new Set();

function settle(video) {
  if (lessMotion.matches || !onScreen.has(video)) {
    video.removeAttribute("autoplay");
    if (!video.paused) video.pause();
  } else if (video.paused) {
    video.muted = true; // browsers only autoplay muted media
    video.play().catch(() => {}); // refused (no codec, power saving): the poster stays
  }
}

const watcher =
  "IntersectionObserver" in window
    ? new IntersectionObserver((entries) => {
        for (const entry of entries) {
          if (entry.isIntersecting) onScreen.add(entry.target);
          else onScreen.delete(entry.target);
          settle(entry.target);
        }
      }, { threshold: 0.5 })
    : null;

function watch(root) {
  if (root.nodeType !== Node.ELEMENT_NODE && root.nodeType !== Node.DOCUMENT_NODE) return;
  const videos = [...(root.matches?.(GRID_VIDEO) ? [root] : []), ...root.querySelectorAll(GRID_VIDEO)];
  for (const video of videos) {
    settle(video);
    watcher?.observe(video);
  }
}

lessMotion.addEventListener("change", () => document.querySelectorAll(GRID_VIDEO).forEach(settle));
watch(document);
new MutationObserver((records) => {
  for (const record of records) record.addedNodes.forEach(watch);
}).observe(document.body, { childList: true, subtree: true });
