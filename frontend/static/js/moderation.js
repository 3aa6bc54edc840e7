// Moderators' live view: the count of open cases in the navigation, and the queue page's rows,
// kept current from `moderation.case` events on the `moderation` stream. Events are hints: the
// count is read again from the API; a new or changed row is drawn from the event's case.
import { gettext, interpolate } from "./i18n.js";
import { on, subscribe, api } from "./live.js";

const badge = document.getElementById("moderation-badge");
const queue = document.querySelector("[data-moderation-queue]");

let countTimer = null;
function refreshCount() {
  clearTimeout(countTimer);
  countTimer = setTimeout(async () => {
    try {
      const page = await api("moderation/queue?limit=1");
      setCount(page.open_count_capped ? `${page.open_count}+` : page.open_count);
    } catch { /* the next event or page load corrects it */ }
  }, 300);
}

function setCount(n) {
  if (badge) {
    badge.textContent = n;
    badge.dataset.open = n;
    badge.hidden = !n || n === "0";
  }
  const heading = document.querySelector('[data-testid="open-count"]');
  if (heading) heading.textContent = n;
}

function matches(c) {
  const f = queue.dataset;
  if (c.status !== "open") return false;
  if (c.subject && c.subject === queue.dataset.me) return false;
  if (f.filterReason && c.reason !== f.filterReason) return false;
  if (f.filterKind && c.target.type !== f.filterKind) return false;
  if (f.filterAssigned && c.assigned_to !== queue.dataset.me) return false;
  if (f.filterEscalated && !c.escalated) return false;
  return true;
}

function csrf() {
  return document.querySelector('input[name="csrfmiddlewaretoken"]')?.value
    || (document.cookie.match(/(?:^|; )csrftoken=([^;]+)/) || [])[1] || "";
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function postForm(action, label, fields = {}, cls = "") {
  const form = el("form", { method: "post", action, class: "inline" });
  form.append(el("input", { type: "hidden", name: "csrfmiddlewaretoken", value: decodeURIComponent(csrf()) }));
  form.append(el("input", { type: "hidden", name: "next", value: location.pathname + location.search }));
  for (const [k, v] of Object.entries(fields)) form.append(el("input", { type: "hidden", name: k, value: v }));
  const button = el("button", { type: "submit", text: label });
  if (cls) button.className = cls;
  form.append(button);
  return form;
}

function describe(c) {
  const p = c.preview || {};
  if (c.target.type === "post") return (p.caption || "(no caption)").slice(0, 80);
  if (c.target.type === "comment") return `“${(p.body || "").slice(0, 80)}”`;
  return `@${p.username || c.subject || c.target.id}`;
}

function row(c) {
  const me = queue.dataset.me;
  const tr = el("tr", {
    id: `case-${c.id}`, "data-case-id": c.id, "data-severity": c.severity, "data-reason": c.reason,
    "data-kind": c.target.type, "data-escalated": c.escalated ? "1" : "0", "data-assigned": c.assigned_to || "",
  });
  const pick = el("input", {
    type: "checkbox", name: "case_ids", value: c.id, form: "bulk-form",
    "aria-label": interpolate(gettext("Select case %(id)s"), { id: c.id }), "data-testid": "bulk-select",
  });
  const reason = el("td", {}, pick, " ", el("span", { class: `badge sev-${c.reason}`, text: c.reason }));
  if (c.escalated) reason.append(" ", el("span", { class: "badge escalated", text: gettext("escalated") }));
  const link = el("a", { href: `/moderation/cases/${c.id}` });
  if (c.preview?.thumb_url) link.append(el("img", { class: "queue-thumb blurred", src: c.preview.thumb_url, alt: "", width: 48, height: 48 }));
  link.append(" ", describe(c));
  const what = el("td", { class: "preview" }, link);
  if (c.subject) what.append(" ", el("span", { class: "muted small", text: interpolate(gettext("by @%(username)s"), { username: c.subject }) }));
  const actions = el("td", { class: "queue-actions" });
  if (c.assigned_to === me) actions.append(postForm(`/moderation/cases/${c.id}/claim`, gettext("Release"), { release: "1" }, "link"));
  else {
    const claim = postForm(`/moderation/cases/${c.id}/claim`, gettext("Claim"));
    claim.querySelector("button").dataset.testid = "claim";
    if (c.assigned_to) claim.querySelector("button").disabled = true;
    actions.append(claim);
  }
  if (!c.escalated) actions.append(" ", postForm(`/moderation/cases/${c.id}/escalate`, gettext("Escalate"), {}, "link"));
  tr.append(
    reason,
    el("td", { text: c.target.type }),
    what,
    el("td", { text: `${c.reports_count} reports · ${c.flags_count} flags` }),
    el("td", {}, el("time", { datetime: c.created_at || "", text: (c.created_at || "").slice(0, 16).replace("T", " ") })),
    el("td", { class: "assigned", text: c.assigned_to ? `@${c.assigned_to}` : "—" }),
    actions,
  );
  return tr;
}

// Queue order: severity descending, then id ascending (ids are numbers too big for floats).
function before(a, b) {
  if (Number(a.severity) !== Number(b.severity)) return Number(a.severity) > Number(b.severity);
  return BigInt(a.id) < BigInt(b.id);
}

function place(c) {
  const body = document.getElementById("queue-rows");
  const existing = document.getElementById(`case-${c.id}`);
  if (!matches(c)) {
    existing?.remove();
    return;
  }
  const fresh = row(c);
  if (existing) {
    existing.replaceWith(fresh);
    if (Number(existing.dataset.severity) === c.severity) return;
    fresh.remove();
  }
  const next = [...body.rows].find((r) => before(c, { severity: r.dataset.severity, id: r.dataset.caseId }));
  // Past the last row of a full page the case belongs to a later page: leave it there.
  if (!next && body.rows.length >= 20 && !existing) {
    const note = document.querySelector('[data-testid="new-cases"]');
    if (note) { note.hidden = false; note.textContent = gettext("New cases further down the queue: reload to see them."); }
    return;
  }
  fresh.classList.add("fresh");
  body.insertBefore(fresh, next || null);
  document.querySelector('[data-testid="queue-empty"]')?.remove();
}

if (badge || queue) {
  subscribe(["moderation"]);
  on("moderation.case", (event) => {
    if (queue && event.case) place(event.case);
    refreshCount();
  });
  on("reconnected", refreshCount);
}
