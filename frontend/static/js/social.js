// Comments and notifications, live: a post page refreshes its comment list when
// `comment.created` or `comment.deleted` arrives; the notifications badge counts new ones.
import { on, subscribe } from "./live.js";

const comments = document.querySelector("[data-comments-for]");

async function refreshComments() {
  const response = await fetch(comments.dataset.commentsUrl, { credentials: "same-origin" });
  if (!response.ok) return;
  const template = document.createElement("template");
  template.innerHTML = await response.text();
  const fresh = template.content.querySelector(".comment-list");
  const count = template.content.querySelector("[data-testid=comments-count]");
  comments.querySelector(".comment-list")?.replaceWith(fresh);
  const held = comments.querySelector("[data-testid=comments-count]");
  if (held && count) held.textContent = count.textContent;
  window.htmx?.process(comments);
}

if (comments) {
  const postId = comments.dataset.commentsFor;
  subscribe([`post:${postId}`]);
  for (const type of ["comment.created", "comment.deleted"]) {
    on(type, (event) => {
      if (event.post_id === postId) refreshComments();
    });
  }
  document.addEventListener("htmx:afterSwap", () => {
    // our own comment came back with the form: nothing else to do
  });
}

const badge = document.getElementById("notifications-badge");
if (badge) {
  subscribe(["notifications"]);
  on("notification", () => {
    const n = Number(badge.dataset.unread || "0") + 1;
    badge.dataset.unread = String(n);
    badge.textContent = String(n);
    badge.hidden = false;
  });
}
