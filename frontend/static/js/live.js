// The site's one WebSocket: subscribes to streams, reconnects with backoff, and tells listeners
// when it reconnected so they can catch up through the feed API (`since=`). Events are hints;
// pages always re-read the truth over HTTP.
//
// Close codes: 1012 (the server restarts: reconnect at once, another process answers),
// 4001 / 4003 (logged out, credentials revoked, account suspended: stay closed),
// 4029 (too many open sockets for this account: retry rarely), anything else: backoff.

const listeners = new Map(); // event type -> Set(fn)
const streams = new Set();
let socket = null;
let attempt = 0;
let everConnected = false;
let pingTimer = null;
// After a reconnect, "reconnected" waits for the server to confirm the subscriptions: only
// then can nothing published after the catch-up's answer slip between it and the socket.
let awaitingResubscribe = false;

function setStatus(state) {
  const dot = document.getElementById("live-status");
  if (dot) dot.dataset.state = state;
}

function emit(type, data) {
  for (const fn of listeners.get(type) || []) {
    try { fn(data); } catch (err) { console.error(err); }
  }
}

function send(frame) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/`);
  setStatus("connecting");
  socket.addEventListener("open", () => {
    const reconnected = everConnected;
    everConnected = true;
    attempt = 0;
    setStatus("live");
    clearInterval(pingTimer);
    pingTimer = setInterval(() => send({ type: "ping" }), 25000);
    if (streams.size) send({ type: "subscribe", streams: [...streams] });
    if (!reconnected) emit("connected", {});
    else if (streams.size) awaitingResubscribe = true;
    else emit("reconnected", {});
  });
  socket.addEventListener("message", (msg) => {
    let event;
    try { event = JSON.parse(msg.data); } catch { return; }
    emit(event.type, event);
    emit("*", event);
    if (awaitingResubscribe && event.type === "subscribed") {
      awaitingResubscribe = false;
      emit("reconnected", {});
    }
  });
  socket.addEventListener("close", (ev) => {
    clearInterval(pingTimer);
    awaitingResubscribe = false;
    setStatus("offline");
    if (ev.code === 4001 || ev.code === 4003) return; // logged out, revoked, suspended
    let delay;
    if (ev.code === 1012) {
      delay = 250 + Math.random() * 750; // a restart: another process is there already
      attempt = 0;
    } else if (ev.code === 4029) {
      delay = 60000; // too many sockets open elsewhere: wait for one to close
    } else {
      // Exponential backoff with jitter, capped at 30 s.
      delay = Math.min(30000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
      attempt += 1;
    }
    setTimeout(connect, delay);
  });
}

export function on(type, fn) {
  if (!listeners.has(type)) listeners.set(type, new Set());
  listeners.get(type).add(fn);
}

export function subscribe(names) {
  const fresh = names.filter((n) => !streams.has(n));
  fresh.forEach((n) => streams.add(n));
  if (fresh.length) send({ type: "subscribe", streams: fresh });
}

export function unsubscribe(names) {
  names.forEach((n) => streams.delete(n));
  send({ type: "unsubscribe", streams: names });
}

export function csrfToken() {
  const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export async function api(path, { method = "GET", body } = {}) {
  const response = await fetch(`/api/v1/${path}`, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error(data?.error?.message || `HTTP ${response.status}`);
    error.data = data?.error;
    throw error;
  }
  return data;
}

// Live reaction counts for every card on the page: watch each visible post's stream.
function watchReactions(root = document) {
  const ids = [...root.querySelectorAll("[data-live-reactions] [data-post-id]")].map((el) => el.dataset.postId);
  if (ids.length) subscribe(ids.map((id) => `post:${id}`));
}

on("reactions.updated", (event) => {
  document.querySelectorAll(`[data-reactions-for="${event.post_id}"]`).forEach((bar) => {
    for (const [kind, count] of Object.entries(event.reactions)) {
      const el = bar.querySelector(`[data-count="${kind}"]`);
      if (el) el.textContent = count;
    }
  });
});

on("post.deleted", (event) => {
  document.getElementById(`post-${event.post_id}`)?.remove();
});

document.addEventListener("htmx:afterSwap", (ev) => watchReactions(ev.target.parentElement || document));
window.vividLive = { on, subscribe, watchReactions };

connect();
watchReactions();
