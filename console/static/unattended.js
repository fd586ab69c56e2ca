// "Gdy nikt nie był przy konsoli": on any logged-in page, once on load, the alarms whose escalation
// found no operator console connected (GET /api/escalations/unattended, last 24 h), with what was
// done meanwhile. Dismissed: this browser remembers up to which time its user has seen, and shows
// only what happened after that.
"use strict";

(() => {
  const { KINDS, STATUSES, api, el, clock, dateTime, residentName } = Opaska;
  const HANDLES_ALARMS = ["operator", "supervisor", "administrator"];
  const SEEN_KEY = `opaska.unattended.seen.${document.body.dataset.userId || "?"}`;

  function seenUpTo() {
    try { return Number(localStorage.getItem(SEEN_KEY)) || 0; } catch (error) { return 0; }
  }

  function remember(time) {
    try { localStorage.setItem(SEEN_KEY, String(Math.max(time, seenUpTo()))); } catch (error) { /* private mode: shown again next time */ }
  }

  // 1 alarm, 2–4 alarmy (but 12–14 alarmów), 5 alarmów.
  function alarms(n) {
    if (n === 1) return "alarm";
    return n % 10 >= 2 && n % 10 <= 4 && (n % 100 < 12 || n % 100 > 14) ? "alarmy" : "alarmów";
  }

  function item(entry) {
    const a = entry.alarm;
    const status = a.status === "claimed" && a.claimed_by_name ? `przyjęty: ${a.claimed_by_name}` : STATUSES[a.status] || a.status;
    return el("li", { className: `unattended-alarm ${a.status}` },
      el("div", { className: "unattended-head" },
        el("a", { href: `/alarms/${a.id}` }, `${KINDS[a.kind] || a.kind}: ${residentName(a)}`),
        el("span", { className: "muted" }, ` · zgłoszony ${dateTime(a.raised_at)} · `),
        el("strong", { className: `unattended-status ${a.status}` }, `teraz: ${status}`)),
      el("ol", { className: "unattended-actions" },
        ...entry.actions.map((action) => el("li", {}, el("time", { dateTime: action.at }, clock(action.at)), " ", action.text))));
  }

  function show(node, entries) {
    const newest = Math.max(...entries.map((e) => new Date(e.last_at).getTime()));
    const close = el("button", { type: "button", className: "quiet", id: "unattended-dismiss" }, "Zamknij");
    close.addEventListener("click", () => {
      remember(newest);
      node.hidden = true;
      node.replaceChildren();
    });
    const count = `${entries.length} ${alarms(entries.length)}`;
    node.replaceChildren(
      el("div", { className: "unattended-title" },
        el("strong", {}, "Gdy nikt nie był przy konsoli: "),
        el("span", {}, `${count} (ostatnie 24 h)`),
        el("span", { className: "spacer" }),
        close),
      el("ul", { className: "unattended-list" }, ...entries.map(item)));
    node.setAttribute("role", "region");
    node.setAttribute("aria-label", "Gdy nikt nie był przy konsoli");
    node.hidden = false;
  }

  async function load() {
    const node = document.getElementById("unattended");
    if (!node || !HANDLES_ALARMS.includes(document.body.dataset.role)) return;
    let report;
    try {
      report = await api("GET", "/api/escalations/unattended");
    } catch (error) {
      return; // the console's own pages say when it is unreachable; this panel is a courtesy
    }
    const seen = seenUpTo();
    const fresh = (report.alarms || []).filter((entry) => new Date(entry.last_at).getTime() > seen);
    if (fresh.length) show(node, fresh);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", load);
  else load();
})();
