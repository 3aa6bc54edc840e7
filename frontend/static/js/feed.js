// The live feed: new posts appear at the top without a reload; after a reconnect the page asks
// for everything newer than what it last read from the server (`since=`), so nothing is missed
// or doubled (cards are kept once per id).
//
// The catch-up starts from the newest cursor the page read over HTTP (the page itself, or the
// last catch-up), not from a card a live event brought: a post can commit a moment after a
// newer one, and a live card would then let the catch-up skip it.
import { interpolate, ngettext } from "./i18n.js";
import { on, subscribe } from "./live.js";

const feed = document.getElementById("feed");
const banner = document.getElementById("new-posts");
const stream = feed?.dataset.stream;
let pending = 0;

function newestCursor() {
  const first = feed?.querySelector("[data-cursor]");
  return first ? first.dataset.cursor : "";
}

// The newest cursor read over HTTP: where the next catch-up starts.
let watermark = newestCursor();

function raiseWatermark(html) {
  for (const match of html.matchAll(/data-cursor="(\d+)"/g)) {
    if (!watermark || BigInt(match[1]) > BigInt(watermark)) watermark = match[1];
  }
}

function scrolledAway() {
  return window.scrollY > 400;
}

function showBanner() {
  banner.textContent = interpolate(ngettext("%(count)s new post", "%(count)s new posts", pending), { count: pending });
  banner.hidden = pending === 0;
}

banner?.addEventListener("click", () => {
  pending = 0;
  showBanner();
  window.scrollTo({ top: 0, behavior: "smooth" });
});

// Back at the top, the new posts are in view: the count is done.
window.addEventListener("scroll", () => {
  if (pending && !scrolledAway()) {
    pending = 0;
    showBanner();
  }
}, { passive: true });

function insertCards(html) {
  const template = document.createElement("template");
  template.innerHTML = html;
  const cards = [...template.content.querySelectorAll("article.card")].filter(
    (card) => !document.getElementById(card.id),
  );
  if (!cards.length) return;
  document.getElementById("feed-empty")?.remove();
  // Keep the feed ordered by cursor, newest first, whatever order cards arrive in (a catch-up
  // pages from newest to oldest; two live cards may be fetched out of order). Cursors are
  // 64-bit: compare them as BigInt, never as numbers.
  const held = [...feed.querySelectorAll(":scope > article.card[data-cursor]")];
  for (const card of cards) {
    const cursor = BigInt(card.dataset.cursor);
    const older = held.find((el) => BigInt(el.dataset.cursor) < cursor);
    if (older) older.before(card);
    else if (held.length) held[held.length - 1].after(card);
    else feed.prepend(card);
    held.splice(older ? held.indexOf(older) : held.length, 0, card);
  }
  window.htmx?.process(feed);
  window.vividLive.watchReactions(feed);
  if (scrolledAway()) {
    pending += cards.length;
    showBanner();
  }
}

async function catchUp() {
  const since = watermark;
  let cursor = "";
  let newest = "";
  let complete = false;
  // Page through everything newer than what we hold (bounded, in case of a very long absence).
  for (let i = 0; i < 10; i += 1) {
    const params = new URLSearchParams({ tab: feed.dataset.tab, limit: "50" });
    if (since) params.set("since", since);
    if (cursor) params.set("cursor", cursor);
    const response = await fetch(`${feed.dataset.cardsUrl}?${params}`, { credentials: "same-origin" });
    if (!response.ok) return;
    const html = await response.text();
    insertCards(html);
    if (!newest) newest = html; // the first page holds the newest cards
    const match = html.match(/data-next-cursor="(\d+)"/);
    if (!match) {
      complete = true;
      break;
    }
    cursor = match[1];
  }
  // Raised only once every page was read: a catch-up cut short starts again from the old mark.
  if (complete && newest) raiseWatermark(newest);
}

async function fetchCard(postId) {
  if (document.getElementById(`post-${postId}`)) return;
  const response = await fetch(`/p/${postId}/card`, { credentials: "same-origin" });
  if (response.ok) insertCards(await response.text());
}

if (feed && stream) {
  subscribe([stream]);
  on("post.created", (event) => {
    if (event.stream === stream) fetchCard(event.post.id);
  });
  on("reconnected", catchUp);
}
